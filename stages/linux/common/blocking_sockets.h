// stages/linux/common/blocking_sockets.h — how Ctrl+C reaches a call blocked in accept(),
// recv() or send().
#pragma once

#include "stages/linux/common/sockets.h"

#include <array>
#include <atomic>
#include <cstddef>

namespace net {

class AdoptedSocket;

// ANCHOR: blocking_sockets
// The twin of common/blocking_sockets.h, for a signal handler. On Windows, Ctrl+C runs a
// handler on a thread of its own, which may lock a mutex and wake the blocked threads with
// shutdown() and CancelIoEx. On Linux, SIGINT runs its handler on one of the program's own
// threads, in the middle of whatever that thread was doing — perhaps inside this very class,
// perhaps holding a lock that the handler would then wait for forever. So a handler may only
// call the functions POSIX lists as async-signal-safe (signal-safety(7)) and touch lock-free
// atomics. stop_all() keeps to that: an atomic flag, atomic slots, and shutdown(), which is on
// the list.
//
// Why shut the sockets down, and not only set the flag: the interrupted call returns EINTR
// (ctrl_c.h), but a signal that arrives just *before* the call — after the loop checked the
// flag, before accept() began to wait — interrupts nothing, and accept() would then wait for
// good. shutdown() leaves the socket in a state instead of sending a one-time event: every later
// recv() returns 0, send() fails with EPIPE, and on Linux accept() on a listener shut down for
// reading fails with EINVAL — at once, whenever the call comes.
//
// The limit of this design: the handler must run on the thread that adopts and releases the
// sockets, so that no socket is closed (and its number reused) while the handler is between
// reading a slot and shutting it down. A single-threaded program has nothing else; one with
// more threads blocks the signals in all the others (net::CtrlCBlocked, ctrl_c.h).
class BlockingSockets {
public:
    // Takes ownership. Returns an empty AdoptedSocket, having closed `s`, once stop_all() has
    // run: a server that is stopping takes no new sockets. Throws std::length_error when all
    // slots are taken (a program that adopts more has a bug).
    AdoptedSocket adopt(UniqueFd s);

    // Async-signal-safe (a signal handler calls it): from now on stopping() is true, and every
    // adopted socket is shut down, so that whatever waits on one returns, now or when it comes.
    void stop_all() noexcept;

    bool stopping() const noexcept { return stopping_.load(); }
    std::size_t open_count() const noexcept;  // adopted sockets not yet closed by their owners

    static constexpr std::size_t capacity = 8;

private:
    friend class AdoptedSocket;
    void release(int s) noexcept;  // the owner is done: forget s, then close it

    std::atomic<bool> stopping_{false};
    std::array<std::atomic<int>, capacity> open_{};  // -1: a free slot (see the constructor)

public:
    BlockingSockets() noexcept {
        for (std::atomic<int>& slot : open_) slot.store(-1);
    }
    BlockingSockets(const BlockingSockets&) = delete;
    BlockingSockets& operator=(const BlockingSockets&) = delete;
};

static_assert(std::atomic<int>::is_always_lock_free && std::atomic<bool>::is_always_lock_free,
              "a signal handler may touch only lock-free atomics");

// An adopted socket: use get() for the calls; when this object goes out of scope the socket is
// forgotten by its BlockingSockets and closed, exactly once.
class AdoptedSocket {
public:
    AdoptedSocket() noexcept = default;
    AdoptedSocket(AdoptedSocket&& other) noexcept;
    AdoptedSocket& operator=(AdoptedSocket&& other) noexcept;
    AdoptedSocket(const AdoptedSocket&) = delete;
    AdoptedSocket& operator=(const AdoptedSocket&) = delete;
    ~AdoptedSocket();

    int get() const noexcept { return socket_; }
    explicit operator bool() const noexcept { return socket_ >= 0; }

private:
    friend class BlockingSockets;
    AdoptedSocket(BlockingSockets* owner, int s) noexcept : owner_(owner), socket_(s) {}
    void close() noexcept;

    BlockingSockets* owner_ = nullptr;
    int socket_ = -1;
};
// ANCHOR_END: blocking_sockets

}  // namespace net

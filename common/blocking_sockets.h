// common/blocking_sockets.h — how Ctrl+C reaches a thread blocked in accept(), recv() or send().
#pragma once

#include "common/winsock.h"

#include <cstddef>
#include <mutex>
#include <vector>

namespace net {

class AdoptedSocket;

// ANCHOR: blocking_sockets
// A thread blocked in accept(), recv() or send() wakes up only when its call can finish, so
// stopping a server whose threads are blocked takes a deliberate wake-up. Closing their sockets
// from another thread is what many programs do, and it is not allowed: Microsoft's closesocket
// page says a program "must never issue closesocket on s concurrently with another Winsock
// function call", and that the handle value "may immediately be reused by the system" (a
// thread that wakes up would then be using somebody else's socket). So every socket that a
// thread may block on is adopted here, only its owner ever closes it, and stop_all() wakes
// the blocked threads with two calls that leave the handle open:
//
//   shutdown(SD_BOTH)  every later recv() or send() on the socket fails at once (WSAESHUTDOWN);
//   CancelIoEx         a call already blocked on it returns, with an error. CancelIoEx is
//                      documented to cancel the I/O requests on a handle made by any thread of
//                      the process, synchronous ones included; that a blocking Winsock call is
//                      such a request is not written down by Microsoft, but holds for sockets
//                      that are file handles (those of Windows' own TCP/IP provider) — and
//                      under Wine, where the unit tests show it.
//
// A listening socket cannot be shut down, so a thread that was just about to call accept()
// when the cancel came would block anyway. What makes any later accept() return at once is a
// connection waiting in the backlog, so stop_all() also connects to each adopted listener:
// the accept loop takes that connection, sees stopping(), and ends.
class BlockingSockets {
public:
    // Takes ownership. Returns an empty AdoptedSocket, having closed `s`, once stop_all() has
    // run: a server that is stopping takes no new sockets.
    AdoptedSocket adopt(UniqueSocket s);

    // Any thread (the Ctrl+C handler, or main leaving by an exception): from now on
    // stopping() is true, every thread blocked on an adopted socket wakes up, and every later
    // call on one fails or returns at once. Does not wait for the threads. A second call does
    // nothing: no socket is adopted after the first.
    void stop_all();

    bool stopping() const;
    std::size_t open_count() const;  // adopted sockets not yet closed by their owners

private:
    friend class AdoptedSocket;
    void release(SOCKET s);  // the owner is done: forget s, then close it

    mutable std::mutex mutex_;
    bool stopping_ = false;
    std::vector<SOCKET> open_;
};

// An adopted socket: use get() for the Winsock calls; when this object goes out of scope the
// socket is forgotten by its BlockingSockets and closed, by this thread, exactly once.
class AdoptedSocket {
public:
    AdoptedSocket() noexcept = default;
    AdoptedSocket(AdoptedSocket&& other) noexcept;
    AdoptedSocket& operator=(AdoptedSocket&& other) noexcept;
    AdoptedSocket(const AdoptedSocket&) = delete;
    AdoptedSocket& operator=(const AdoptedSocket&) = delete;
    ~AdoptedSocket();

    SOCKET get() const noexcept { return socket_; }
    explicit operator bool() const noexcept { return socket_ != INVALID_SOCKET; }

private:
    friend class BlockingSockets;
    AdoptedSocket(BlockingSockets* owner, SOCKET s) noexcept : owner_(owner), socket_(s) {}
    void close() noexcept;

    BlockingSockets* owner_ = nullptr;
    SOCKET socket_ = INVALID_SOCKET;
};
// ANCHOR_END: blocking_sockets

// ANCHOR: stop_all_on_exit
// For the way out of main by an exception: threads blocked on adopted sockets must be woken
// before anything joins them, or the join waits forever. Declared after what joins them (a
// ClientThreads, a WorkerPool), this is destroyed first, and its destructor wakes them. After
// Ctrl+C they are awake already, and the second stop_all() does nothing.
class StopAllOnExit {
public:
    explicit StopAllOnExit(BlockingSockets& blocking) : blocking_(blocking) {}
    ~StopAllOnExit() { blocking_.stop_all(); }
    StopAllOnExit(const StopAllOnExit&) = delete;
    StopAllOnExit& operator=(const StopAllOnExit&) = delete;

private:
    BlockingSockets& blocking_;
};
// ANCHOR_END: stop_all_on_exit

}  // namespace net

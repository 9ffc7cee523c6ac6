// common/blocking_sockets.h — how Ctrl+C reaches a thread blocked in accept() or recv().
#pragma once

#include "common/winsock.h"

#include <cstddef>
#include <mutex>
#include <vector>

namespace net {

class AdoptedSocket;

// ANCHOR: blocking_sockets
// A thread blocked in accept() or recv() wakes up only when something arrives or when its
// socket is closed: closesocket cancels "any pending blocking ... calls issued by any thread
// in this process" (Microsoft's closesocket documentation). So to stop a server whose threads
// are blocked, the Ctrl+C handler closes their sockets for them.
//
// A socket must never be closed twice: after the first closesocket, its handle value is free
// for the next socket that is created, and a second closesocket would close that one instead.
// So every socket a thread may block on is adopted here, and it is closed here, under the
// lock, exactly once: by its owner when done with it, or by stop_all(), whichever comes first.
class BlockingSockets {
public:
    // Takes ownership. Returns an empty AdoptedSocket, having closed `s`, once stop_all() has
    // run: a server that is stopping takes no new sockets.
    AdoptedSocket adopt(UniqueSocket s);

    // For the Ctrl+C handler: closes every adopted socket, which wakes every thread blocked on
    // one of them, and makes later adopt() calls fail.
    void stop_all();

    bool stopping() const;
    std::size_t open_count() const;  // adopted sockets not yet closed

private:
    friend class AdoptedSocket;
    void close(SOCKET s);  // closes s unless stop_all() already did

    mutable std::mutex mutex_;
    bool stopping_ = false;
    std::vector<SOCKET> open_;
};

// An adopted socket: use get() for the Winsock calls; the socket is closed through its
// BlockingSockets when this object goes out of scope. After stop_all() closed it, calls on
// get() fail (WSAENOTSOCK and the like) instead of blocking.
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

}  // namespace net

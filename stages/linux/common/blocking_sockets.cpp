#include "stages/linux/common/blocking_sockets.h"

#include <sys/socket.h>

#include <cerrno>
#include <stdexcept>
#include <utility>

namespace net {

namespace {

// SHUT_RDWR for every kind of socket: a connected one is shut down both ways; a listening one
// stops listening (Linux treats any shutdown that includes reading as "stop": a blocked
// accept() wakes, and every later one fails with EINVAL, as the backlog is dropped). One call,
// no need to ask first which kind the socket is: the less a handler does, the better.
void shut_down(int s) noexcept { ::shutdown(s, SHUT_RDWR); }

}  // namespace

AdoptedSocket BlockingSockets::adopt(UniqueFd s) {
    if (!s) return {};
    for (std::atomic<int>& slot : open_) {
        int free_slot = -1;
        if (!slot.compare_exchange_strong(free_slot, s.get())) continue;
        // In the slot first, then the flag: a stop that comes after this line shuts the socket
        // down; one that came before it is seen here, and the socket is not taken.
        if (stopping()) {
            slot.store(-1);
            return {};  // s goes out of scope here and closes
        }
        return AdoptedSocket(this, s.release());
    }
    throw std::length_error("BlockingSockets: no free slot");
}

void BlockingSockets::stop_all() noexcept {
    const int saved_errno = errno;  // see ctrl_c.cpp: the interrupted code may read errno next
    stopping_.store(true);
    for (const std::atomic<int>& slot : open_) {
        const int s = slot.load();
        if (s >= 0) shut_down(s);
    }
    errno = saved_errno;
}

std::size_t BlockingSockets::open_count() const noexcept {
    std::size_t count = 0;
    for (const std::atomic<int>& slot : open_)
        if (slot.load() >= 0) ++count;
    return count;
}

void BlockingSockets::release(int s) noexcept {
    // Out of the slot first, then closed: a handler that runs in between finds nothing to shut
    // down; one that ran before shut down a socket that was still ours.
    for (std::atomic<int>& slot : open_) {
        int expected = s;
        if (slot.compare_exchange_strong(expected, -1)) break;
    }
    ::close(s);
}

AdoptedSocket::AdoptedSocket(AdoptedSocket&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), socket_(std::exchange(other.socket_, -1)) {}

AdoptedSocket& AdoptedSocket::operator=(AdoptedSocket&& other) noexcept {
    if (this != &other) {
        close();
        owner_ = std::exchange(other.owner_, nullptr);
        socket_ = std::exchange(other.socket_, -1);
    }
    return *this;
}

AdoptedSocket::~AdoptedSocket() { close(); }

void AdoptedSocket::close() noexcept {
    if (owner_ && socket_ >= 0) owner_->release(socket_);
    owner_ = nullptr;
    socket_ = -1;
}

}  // namespace net

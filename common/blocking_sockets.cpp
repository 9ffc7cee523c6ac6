#include "common/blocking_sockets.h"

#include <algorithm>
#include <utility>

namespace net {

AdoptedSocket BlockingSockets::adopt(UniqueSocket s) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ || !s) return {};  // s goes out of scope here and closes
    open_.push_back(s.get());
    return AdoptedSocket(this, s.release());
}

void BlockingSockets::stop_all() {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    for (SOCKET s : open_) ::closesocket(s);
    open_.clear();
}

bool BlockingSockets::stopping() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stopping_;
}

std::size_t BlockingSockets::open_count() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return open_.size();
}

void BlockingSockets::close(SOCKET s) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto found = std::find(open_.begin(), open_.end(), s);
    if (found == open_.end()) return;  // stop_all() closed it already
    ::closesocket(s);
    open_.erase(found);
}

AdoptedSocket::AdoptedSocket(AdoptedSocket&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)),
      socket_(std::exchange(other.socket_, INVALID_SOCKET)) {}

AdoptedSocket& AdoptedSocket::operator=(AdoptedSocket&& other) noexcept {
    if (this != &other) {
        close();
        owner_ = std::exchange(other.owner_, nullptr);
        socket_ = std::exchange(other.socket_, INVALID_SOCKET);
    }
    return *this;
}

AdoptedSocket::~AdoptedSocket() { close(); }

void AdoptedSocket::close() noexcept {
    if (owner_ && socket_ != INVALID_SOCKET) owner_->close(socket_);
    owner_ = nullptr;
    socket_ = INVALID_SOCKET;
}

}  // namespace net

#include "common/blocking_sockets.h"

#include <algorithm>
#include <utility>

namespace net {

namespace {

bool is_listening(SOCKET s) {
    BOOL listening = FALSE;
    int length = sizeof listening;
    return ::getsockopt(s, SOL_SOCKET, SO_ACCEPTCONN, reinterpret_cast<char*>(&listening),
                        &length) == 0 &&
           listening;
}

// Where to connect to reach a listener: its own address, or loopback when it listens on every
// address (0.0.0.0 or ::, which cannot be connected to).
bool wake_up_address(SOCKET listener, sockaddr_storage& address, int& length) {
    length = sizeof address;
    if (::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0) return false;
    if (address.ss_family == AF_INET) {
        auto& v4 = reinterpret_cast<sockaddr_in&>(address);
        if (v4.sin_addr.s_addr == htonl(INADDR_ANY)) v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (address.ss_family == AF_INET6) {
        auto& v6 = reinterpret_cast<sockaddr_in6&>(address);
        if (IN6_IS_ADDR_UNSPECIFIED(&v6.sin6_addr)) v6.sin6_addr = in6addr_loopback;
    }
    return true;
}

// The wake-up connection: it waits in the listener's backlog until accept() takes it. A
// non-blocking connect, waited for at most a second: with a full backlog the system may not
// answer at all, and then the accept loop is not blocked anyway (it has connections to take).
void connect_to(const sockaddr_storage& address, int length) {
    const UniqueSocket s(::socket(address.ss_family, SOCK_STREAM, IPPROTO_TCP));
    if (!s) return;
    u_long non_blocking = 1;
    ::ioctlsocket(s.get(), static_cast<long>(FIONBIO), &non_blocking);
    if (::connect(s.get(), reinterpret_cast<const sockaddr*>(&address), length) == 0) return;
    if (::WSAGetLastError() != WSAEWOULDBLOCK) return;
    fd_set writable;
    FD_ZERO(&writable);
    FD_SET(s.get(), &writable);
    timeval one_second{1, 0};
    ::select(0, nullptr, &writable, nullptr, &one_second);
}  // closed: the accept loop gets the connection, then end of stream

}  // namespace

AdoptedSocket BlockingSockets::adopt(UniqueSocket s) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ || !s) return {};  // s goes out of scope here and closes
    open_.push_back(s.get());
    return AdoptedSocket(this, s.release());
}

void BlockingSockets::stop_all() {
    std::vector<std::pair<sockaddr_storage, int>> listeners;
    {
        // Under the lock, so that no owner closes a socket while it is being woken: a closed
        // handle value may already belong to another socket.
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_) return;
        stopping_ = true;
        for (SOCKET s : open_) {
            if (is_listening(s)) {
                sockaddr_storage address{};
                int length = 0;
                if (wake_up_address(s, address, length)) listeners.emplace_back(address, length);
            } else {
                ::shutdown(s, SD_BOTH);
            }
            ::CancelIoEx(reinterpret_cast<HANDLE>(s), nullptr);
        }
    }
    // Outside the lock: connecting takes a moment, and only needs the address.
    for (const auto& [address, length] : listeners) connect_to(address, length);
}

bool BlockingSockets::stopping() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stopping_;
}

std::size_t BlockingSockets::open_count() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return open_.size();
}

void BlockingSockets::release(SOCKET s) {
    std::lock_guard<std::mutex> lock(mutex_);
    open_.erase(std::remove(open_.begin(), open_.end(), s), open_.end());
    ::closesocket(s);
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
    if (owner_ && socket_ != INVALID_SOCKET) owner_->release(socket_);
    owner_ = nullptr;
    socket_ = INVALID_SOCKET;
}

}  // namespace net

// stages/linux/common/sockets.h — the owner of a file descriptor, and socket addresses as text.
//
// The twin of common/winsock.h, without its first half: on Linux the sockets API is part of the
// C library and the kernel, always there, so there is no WSAStartup/WSACleanup to pair. A socket
// is a file descriptor — a small int, the lowest number not in use — closed with close(), like
// any file. Nothing here is a lesson of its own.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <utility>

namespace net {

// ANCHOR: unique_fd
// Owns one file descriptor and closes it exactly once: when it goes out of scope, when it is
// reset, or never if release() handed it on. Moves transfer ownership; copies are banned. (The
// twin of net::UniqueSocket: a socket is a descriptor like any other, and -1 is "none".)
//
// close() is called once and its result not retried: on Linux the descriptor is released even
// when close() reports an error (close(2)), and closing it again could close a descriptor that
// another thread has opened under the same number meanwhile.
class UniqueFd {
public:
    UniqueFd() noexcept = default;
    explicit UniqueFd(int fd) noexcept : fd_(fd < 0 ? -1 : fd) {}
    UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept {
        reset(other.release());
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd() { reset(); }

    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }

    int release() noexcept { return std::exchange(fd_, -1); }
    void reset(int fd = -1) noexcept {
        const int old = std::exchange(fd_, fd < 0 ? -1 : fd);
        if (old >= 0) ::close(old);
    }

private:
    int fd_ = -1;
};
// ANCHOR_END: unique_fd

// "127.0.0.1:8080" or "[::1]:8080" for an IPv4 or IPv6 socket address.
std::string address_to_string(const sockaddr* address);

// The local or remote address of a connected or bound socket, as above; "?" if unknown.
std::string local_address(int s);
std::string peer_address(int s);

}  // namespace net

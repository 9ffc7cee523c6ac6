// Small helpers the Linux unit tests share: loopback sockets without a stage around them.
#pragma once

#include "stages/linux/common/sockets.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>

namespace test {

// The port a bound socket got.
inline std::uint16_t port_of(int s) {
    sockaddr_in address{};
    socklen_t length = sizeof address;
    ::getsockname(s, reinterpret_cast<sockaddr*>(&address), &length);
    return ntohs(address.sin_port);
}

inline sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    return address;
}

// A listening socket on 127.0.0.1 and a free port.
inline net::UniqueFd loopback_listener() {
    net::UniqueFd s(::socket(AF_INET, SOCK_STREAM, 0));
    const sockaddr_in address = loopback(0);
    if (::bind(s.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(s.get(), SOMAXCONN) != 0)
        return {};
    return s;
}

// A client connected to 127.0.0.1:port (empty on failure).
inline net::UniqueFd connect_to(std::uint16_t port) {
    net::UniqueFd s(::socket(AF_INET, SOCK_STREAM, 0));
    const sockaddr_in address = loopback(port);
    if (::connect(s.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
        return {};
    return s;
}

// Whether `fd` still names an open descriptor.
inline bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

}  // namespace test

// Small helpers the unit tests share: loopback sockets without a stage around them.
#pragma once

#include "common/winsock.h"

#include <cstdint>

namespace test {

// The port a bound socket got.
inline std::uint16_t port_of(SOCKET s) {
    sockaddr_in address{};
    int length = sizeof address;
    ::getsockname(s, reinterpret_cast<sockaddr*>(&address), &length);
    return ntohs(address.sin_port);
}

// A listening socket on 127.0.0.1 and a free port.
inline net::UniqueSocket loopback_listener() {
    net::UniqueSocket s(::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(s.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == SOCKET_ERROR ||
        ::listen(s.get(), SOMAXCONN) == SOCKET_ERROR)
        return {};
    return s;
}

// A client connected to 127.0.0.1:port (empty on failure).
inline net::UniqueSocket connect_to(std::uint16_t port) {
    net::UniqueSocket s(::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == SOCKET_ERROR)
        return {};
    return s;
}

// Whether `s` still names an open socket: any socket option query fails on a closed one.
inline bool is_open_socket(SOCKET s) {
    int type = 0;
    int length = sizeof type;
    return ::getsockopt(s, SOL_SOCKET, SO_TYPE, reinterpret_cast<char*>(&type), &length) == 0;
}

}  // namespace test

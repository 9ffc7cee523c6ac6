#include "common/winsock.h"

#include "common/error_text.h"

#include <stdexcept>

namespace net {

WinsockSession::WinsockSession() {
    WSADATA data{};
    // WSAStartup returns its error code; its documentation says that WSAGetLastError "is not
    // needed and should not be used" after it (Winsock may not be loaded at all).
    const int error = ::WSAStartup(MAKEWORD(2, 2), &data);
    if (error != 0) throw std::runtime_error("WSAStartup failed: " + error_text(error));
    if (LOBYTE(data.wVersion) != 2 || HIBYTE(data.wVersion) != 2) {
        ::WSACleanup();
        throw std::runtime_error("WSAStartup: Winsock 2.2 is not available");
    }
}

WinsockSession::~WinsockSession() { ::WSACleanup(); }

std::string address_to_string(const sockaddr* address) {
    char text[INET6_ADDRSTRLEN] = {};
    if (address->sa_family == AF_INET) {
        const auto* v4 = reinterpret_cast<const sockaddr_in*>(address);
        if (!::inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text)) return "?";
        return std::string(text) + ":" + std::to_string(ntohs(v4->sin_port));
    }
    if (address->sa_family == AF_INET6) {
        const auto* v6 = reinterpret_cast<const sockaddr_in6*>(address);
        if (!::inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text)) return "?";
        return "[" + std::string(text) + "]:" + std::to_string(ntohs(v6->sin6_port));
    }
    return "?";
}

namespace {
template <class GetName>
std::string name_of(SOCKET s, GetName get_name) {
    sockaddr_storage address{};
    int length = sizeof address;
    if (get_name(s, reinterpret_cast<sockaddr*>(&address), &length) == SOCKET_ERROR) return "?";
    return address_to_string(reinterpret_cast<const sockaddr*>(&address));
}
}  // namespace

std::string local_address(SOCKET s) { return name_of(s, ::getsockname); }
std::string peer_address(SOCKET s) { return name_of(s, ::getpeername); }

}  // namespace net

#include "stages/linux/common/sockets.h"

#include <arpa/inet.h>
#include <netinet/in.h>

namespace net {

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
std::string name_of(int s, GetName get_name) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    if (get_name(s, reinterpret_cast<sockaddr*>(&address), &length) != 0) return "?";
    return address_to_string(reinterpret_cast<const sockaddr*>(&address));
}
}  // namespace

std::string local_address(int s) { return name_of(s, ::getsockname); }
std::string peer_address(int s) { return name_of(s, ::getpeername); }

}  // namespace net

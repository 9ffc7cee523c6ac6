#include "common/listener.h"

#include "common/error_text.h"

#include <cstdio>
#include <memory>
#include <string>

namespace net {

// ANCHOR: make_listener
UniqueSocket make_listener(const ServerOptions& options) {
    auto fail = [&](const char* step, int error) {
        std::fprintf(stderr, "error: cannot listen on %s port %u: %s failed: %s\n",
                     options.host.c_str(), static_cast<unsigned>(options.port), step,
                     error_text(error).c_str());
        return UniqueSocket();
    };

    // getaddrinfo turns the text address into the sockaddr that bind() needs, IPv4 or IPv6
    // alike. AI_NUMERICHOST: --host is an address, never a name to look up.
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const std::string port = std::to_string(options.port);
    if (const int error = getaddrinfo(options.host.c_str(), port.c_str(), &hints, &found))
        return fail("getaddrinfo", error);
    const std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> address(found, freeaddrinfo);

    UniqueSocket listener(socket(address->ai_family, address->ai_socktype, address->ai_protocol));
    if (!listener) return fail("socket", WSAGetLastError());

    // On Windows, another program could bind the same port with SO_REUSEADDR and take over
    // our connections. SO_EXCLUSIVEADDRUSE forbids that: while we listen, bind() elsewhere on
    // this port fails. It must be set before bind() to count.
    const BOOL exclusive = TRUE;
    if (setsockopt(listener.get(), SOL_SOCKET, SO_EXCLUSIVEADDRUSE,
                   reinterpret_cast<const char*>(&exclusive), sizeof exclusive) == SOCKET_ERROR)
        return fail("setsockopt(SO_EXCLUSIVEADDRUSE)", WSAGetLastError());

    if (bind(listener.get(), address->ai_addr, static_cast<int>(address->ai_addrlen)) ==
        SOCKET_ERROR)
        return fail("bind", WSAGetLastError());  // WSAEADDRINUSE or WSAEACCES: port taken

    // SOMAXCONN lets Windows choose a large backlog for us.
    if (listen(listener.get(), SOMAXCONN) == SOCKET_ERROR) return fail("listen", WSAGetLastError());
    return listener;
}
// ANCHOR_END: make_listener

}  // namespace net

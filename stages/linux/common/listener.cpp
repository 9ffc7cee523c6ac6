#include "stages/linux/common/listener.h"

#include "stages/linux/common/error_text.h"

#include <netdb.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <string>

namespace net {

UniqueFd make_listener(const ServerOptions& options) {
    auto fail = [&](const char* step, const std::string& why) {
        std::fprintf(stderr, "error: cannot listen on %s port %u: %s failed: %s\n",
                     options.host.c_str(), static_cast<unsigned>(options.port), step, why.c_str());
        return UniqueFd();
    };

    // As on Windows: getaddrinfo turns the text address into the sockaddr that bind() needs.
    // Its errors are its own codes, not errno values: gai_strerror says what they mean.
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const std::string port = std::to_string(options.port);
    if (const int error = getaddrinfo(options.host.c_str(), port.c_str(), &hints, &found))
        return fail("getaddrinfo", gai_strerror(error));
    const std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> address(found, freeaddrinfo);

    UniqueFd listener(socket(address->ai_family, address->ai_socktype, address->ai_protocol));
    if (!listener) return fail("socket", error_text(errno));

    // ANCHOR: reuseaddr
    // SO_REUSEADDR means something else here than on Windows. On Linux it does not let another
    // program bind a port that a socket is listening on (that would take SO_REUSEPORT, and the
    // same user on both sockets): a taken port still fails bind() with EADDRINUSE. What it
    // allows is binding while connections of an earlier listener on this port are still in
    // TIME_WAIT — and after a server stops, every connection it closed first sits there for 60
    // seconds. Without it, a server restarted at once fails to bind its own port. So Windows
    // servers avoid the option (it is the port hijack that SO_EXCLUSIVEADDRUSE forbids), and
    // Linux servers always set it. Before bind() to count.
    const int reuse = 1;
    if (setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof reuse) != 0)
        return fail("setsockopt(SO_REUSEADDR)", error_text(errno));
    // ANCHOR_END: reuseaddr

    // An IPv6 socket on Linux also takes IPv4 connections unless told otherwise (the sysctl
    // net.ipv6.bindv6only is 0 by default); Windows' is IPv6 only. IPv6 only, as there.
    if (address->ai_family == AF_INET6) {
        const int v6_only = 1;
        if (setsockopt(listener.get(), IPPROTO_IPV6, IPV6_V6ONLY, &v6_only, sizeof v6_only) != 0)
            return fail("setsockopt(IPV6_V6ONLY)", error_text(errno));
    }

    if (bind(listener.get(), address->ai_addr, address->ai_addrlen) != 0)
        return fail("bind", error_text(errno));  // EADDRINUSE, or EACCES below port 1024

    // SOMAXCONN (4096 since Linux 5.4) is the most the system will give; net.core.somaxconn
    // caps it.
    if (listen(listener.get(), SOMAXCONN) != 0) return fail("listen", error_text(errno));
    return listener;
}

}  // namespace net

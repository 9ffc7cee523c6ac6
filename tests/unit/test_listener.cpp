// make_listener: the real port, clients can connect, and a taken port is refused.
#include "common/listener.h"

#include "catch.hpp"
#include "support.h"

#include <string>

TEST_CASE("port 0 gets a free port that clients can connect to", "[listener]") {
    net::WinsockSession winsock;
    net::ServerOptions options;
    options.port = 0;
    const net::UniqueSocket listener = net::make_listener(options);
    REQUIRE(listener);
    const std::uint16_t port = test::port_of(listener.get());
    CHECK(port != 0);
    CHECK(net::local_address(listener.get()) == "127.0.0.1:" + std::to_string(port));

    const net::UniqueSocket client = test::connect_to(port);
    CHECK(client);
}

TEST_CASE("a port in use is refused, also to SO_REUSEADDR", "[listener]") {
    net::WinsockSession winsock;
    net::ServerOptions options;
    options.port = 0;
    const net::UniqueSocket first = net::make_listener(options);
    REQUIRE(first);
    options.port = test::port_of(first.get());

    CHECK_FALSE(net::make_listener(options));  // prints its one line to stderr

    // SO_EXCLUSIVEADDRUSE is what makes this bind fail: without it, Windows would let this
    // socket share the port and take some of the first one's connections.
    net::UniqueSocket thief(::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP));
    const BOOL reuse = TRUE;
    ::setsockopt(thief.get(), SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const char*>(&reuse),
                 sizeof reuse);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(options.port);
    CHECK(::bind(thief.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) ==
          SOCKET_ERROR);
}

TEST_CASE("an IPv6 listener reports its address in brackets", "[listener]") {
    net::WinsockSession winsock;
    net::ServerOptions options;
    options.host = "::1";
    options.port = 0;
    const net::UniqueSocket listener = net::make_listener(options);
    if (!listener) {
        WARN("no IPv6 loopback on this machine; skipped");
        return;
    }
    CHECK(net::local_address(listener.get()).rfind("[::1]:", 0) == 0);
}

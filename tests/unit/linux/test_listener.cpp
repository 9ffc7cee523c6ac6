// net::make_listener, Linux (stages/linux/common/listener.h): listening on the address given,
// one line and an empty socket on a taken port, and SO_REUSEADDR's reason to be: a restart while
// the connections of the last run sit in TIME_WAIT.
#include "stages/linux/common/listener.h"

#include "support.h"

#include "catch.hpp"

#include <cerrno>
#include <cstdio>

namespace {

net::ServerOptions options_on(std::uint16_t port) {
    net::ServerOptions options;
    options.port = port;
    return options;
}

// A connection on `listener` that the server side closes first, as a server does at Ctrl+C:
// the server's end then waits in TIME_WAIT, for 60 seconds on Linux.
void leave_a_connection_in_time_wait(int listener) {
    net::UniqueFd client = test::connect_to(test::port_of(listener));
    REQUIRE(client);
    net::UniqueFd served(::accept(listener, nullptr, nullptr));
    REQUIRE(served);
    served.reset();  // our FIN first
    char byte;
    REQUIRE(::recv(client.get(), &byte, 1, 0) == 0);  // the client sees it...
    client.reset();                                   // ...and answers with its own
}

}  // namespace

TEST_CASE("make_listener listens on the port it is given, or on a free one for 0", "[listener]") {
    const net::UniqueFd listener = net::make_listener(options_on(0));
    REQUIRE(listener);
    CHECK(test::port_of(listener.get()) != 0);
    CHECK(test::connect_to(test::port_of(listener.get())));
}

TEST_CASE("a taken port gives an empty socket, whatever holds it", "[listener]") {
    const net::UniqueFd first = net::make_listener(options_on(0));
    REQUIRE(first);
    const std::uint16_t port = test::port_of(first.get());
    // SO_REUSEADDR on both does not let a second listener in on Linux.
    CHECK_FALSE(net::make_listener(options_on(port)));
    const net::UniqueFd plain = test::loopback_listener();
    REQUIRE(plain);
    CHECK_FALSE(net::make_listener(options_on(test::port_of(plain.get()))));
}

TEST_CASE(
    "a restart on the same port succeeds while the last run's connections are in "
    "TIME_WAIT",
    "[listener]") {
    std::uint16_t port = 0;
    {
        const net::UniqueFd first = net::make_listener(options_on(0));
        REQUIRE(first);
        port = test::port_of(first.get());
        leave_a_connection_in_time_wait(first.get());
    }
    // What SO_REUSEADDR is for: without it, the same bind fails now.
    net::UniqueFd without(::socket(AF_INET, SOCK_STREAM, 0));
    const sockaddr_in address = test::loopback(port);
    CHECK(::bind(without.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0);
    CHECK(errno == EADDRINUSE);
    without.reset();

    const net::UniqueFd again = net::make_listener(options_on(port));
    CHECK(again);
}

TEST_CASE("an IPv6 listener takes IPv6 only, as on Windows", "[listener]") {
    net::ServerOptions options = options_on(0);
    options.host = "::";
    const net::UniqueFd listener = net::make_listener(options);
    if (!listener) {
        WARN("no IPv6 here");
        return;
    }
    // An IPv4 listener on the same port is not in its way.
    net::UniqueFd v4(::socket(AF_INET, SOCK_STREAM, 0));
    sockaddr_in any{};
    any.sin_family = AF_INET;
    any.sin_port = htons(test::port_of(listener.get()));
    CHECK(::bind(v4.get(), reinterpret_cast<const sockaddr*>(&any), sizeof any) == 0);
}

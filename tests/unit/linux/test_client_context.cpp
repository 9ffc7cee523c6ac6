// The Linux twin of stage 07's ClientRegistry (stages/linux/07_epoll/client_context.h): it owns
// every live context, destroy() closes and frees one, cancel_all() ends every client without
// closing anything, and what is left at the end is closed, not fatal (no read is in flight).
#include "stages/linux/07_epoll/client_context.h"

#include "support.h"

#include "catch.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <vector>

using stage07_epoll::ClientContext;
using stage07_epoll::ClientRegistry;

namespace {

// A connected pair over loopback: what the server accepted, and the client's end.
struct Connection {
    net::UniqueFd client;
    int served = -1;  // owned by the registry once created there
};

Connection connect_through(int listener) {
    Connection connection;
    connection.client = test::connect_to(test::port_of(listener));
    connection.served = ::accept(listener, nullptr, nullptr);
    return connection;
}

}  // namespace

TEST_CASE("create and destroy: the count follows, the socket is closed", "[client_context]") {
    const net::UniqueFd listener = test::loopback_listener();
    ClientRegistry registry;
    Connection a = connect_through(listener.get());
    Connection b = connect_through(listener.get());
    ClientContext* first = registry.create(a.served, 1);
    ClientContext* second = registry.create(b.served, 2);
    CHECK(registry.size() == 2);
    CHECK(first->id == 1);
    CHECK(registry.destroy(first) == 1);
    CHECK_FALSE(test::is_open(a.served));
    char byte;
    CHECK(::recv(a.client.get(), &byte, 1, 0) == 0);  // a graceful close: FIN
    CHECK(registry.destroy(second) == 0);
    CHECK(registry.any() == nullptr);
}

TEST_CASE("an abortive destroy resets the connection", "[client_context]") {
    const net::UniqueFd listener = test::loopback_listener();
    ClientRegistry registry;
    Connection a = connect_through(listener.get());
    registry.destroy(registry.create(a.served, 1), true);
    char byte;
    CHECK(::recv(a.client.get(), &byte, 1, 0) == -1);
    CHECK(errno == ECONNRESET);
}

TEST_CASE("cancel_all ends every client and closes none", "[client_context]") {
    const net::UniqueFd listener = test::loopback_listener();
    ClientRegistry registry;
    std::vector<Connection> connections;
    for (int i = 0; i < 3; ++i) connections.push_back(connect_through(listener.get()));
    for (const Connection& c : connections)
        registry.create(c.served, static_cast<std::uint64_t>(c.served));
    registry.cancel_all();
    for (const Connection& c : connections) {
        CHECK(test::is_open(c.served));  // still ours: only whoever frees it closes it
        char byte;
        CHECK(::recv(c.served, &byte, 1, 0) == 0);            // reading: over
        CHECK(::send(c.served, "x", 1, MSG_NOSIGNAL) == -1);  // writing: over
        CHECK(errno == EPIPE);
        CHECK(::recv(c.client.get(), &byte, 1, 0) == 0);  // and the client is told: FIN
    }
    CHECK(registry.size() == 3);
    while (ClientContext* context = registry.any()) registry.destroy(context);
}

TEST_CASE("a registry destroyed with clients in it closes their sockets", "[client_context]") {
    const net::UniqueFd listener = test::loopback_listener();
    Connection a = connect_through(listener.get());
    {
        ClientRegistry registry;
        registry.create(a.served, 1);
    }
    CHECK_FALSE(test::is_open(a.served));
}

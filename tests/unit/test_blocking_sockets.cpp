// BlockingSockets: stop_all() wakes threads blocked in accept() and recv(), and every socket
// is closed exactly once, whoever gets there first.
#include "common/blocking_sockets.h"

#include "catch.hpp"
#include "support.h"

#include <thread>
#include <utility>

TEST_CASE("stop_all wakes a thread blocked in accept()", "[blocking_sockets]") {
    net::WinsockSession winsock;
    net::BlockingSockets blocking;
    const net::AdoptedSocket listener = blocking.adopt(test::loopback_listener());
    REQUIRE(listener);

    SOCKET accepted = 0;
    std::thread waiter([&] { accepted = ::accept(listener.get(), nullptr, nullptr); });
    blocking.stop_all();  // whether the thread is already blocked or not yet: accept() fails
    waiter.join();
    CHECK(accepted == INVALID_SOCKET);
    CHECK(blocking.stopping());
    CHECK(blocking.open_count() == 0);
}

TEST_CASE("stop_all wakes a thread blocked in recv()", "[blocking_sockets]") {
    net::WinsockSession winsock;
    net::BlockingSockets blocking;
    const net::UniqueSocket listener = test::loopback_listener();
    const net::UniqueSocket client = test::connect_to(test::port_of(listener.get()));
    const net::AdoptedSocket server_side =
        blocking.adopt(net::UniqueSocket(::accept(listener.get(), nullptr, nullptr)));
    REQUIRE(server_side);

    int received = 0;
    std::thread reader([&] {
        char byte = 0;
        received = ::recv(server_side.get(), &byte, 1, 0);  // the client never sends
    });
    blocking.stop_all();
    reader.join();
    CHECK(received == SOCKET_ERROR);
}

TEST_CASE("after stop_all, adopt refuses and closes the socket", "[blocking_sockets]") {
    net::WinsockSession winsock;
    net::BlockingSockets blocking;
    blocking.stop_all();
    net::UniqueSocket s(::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP));
    const SOCKET raw = s.get();
    const net::AdoptedSocket adopted = blocking.adopt(std::move(s));
    CHECK_FALSE(adopted);
    CHECK_FALSE(test::is_open_socket(raw));
}

TEST_CASE("the owner closes its socket once; stop_all skips what is closed", "[blocking_sockets]") {
    net::WinsockSession winsock;
    net::BlockingSockets blocking;
    SOCKET raw = INVALID_SOCKET;
    {
        net::AdoptedSocket first =
            blocking.adopt(net::UniqueSocket(::socket(AF_INET, SOCK_STREAM, 0)));
        raw = first.get();
        CHECK(blocking.open_count() == 1);
        net::AdoptedSocket moved = std::move(first);  // one owner at a time
        CHECK_FALSE(first);
        CHECK(blocking.open_count() == 1);
    }
    CHECK(blocking.open_count() == 0);
    CHECK_FALSE(test::is_open_socket(raw));

    // A socket that stop_all() closed is not closed again by its owner: its handle value may
    // already belong to a new socket, which must survive.
    net::AdoptedSocket owned = blocking.adopt(net::UniqueSocket(::socket(AF_INET, SOCK_STREAM, 0)));
    blocking.stop_all();
    net::UniqueSocket newcomer(::socket(AF_INET, SOCK_STREAM, 0));
    owned = net::AdoptedSocket();  // the owner lets go after stop_all
    CHECK(test::is_open_socket(newcomer.get()));
}

// BlockingSockets (common/blocking_sockets.h): stop_all() wakes threads blocked in accept(),
// recv() and send() — and threads that were just about to call them — without ever closing a
// socket that its owner is still using; the owner closes its socket, exactly once.
#include "common/blocking_sockets.h"

#include "catch.hpp"
#include "support.h"
#include "watchdog.h"

#include <chrono>
#include <string>
#include <thread>
#include <utility>

using namespace std::chrono_literals;

namespace {

void give_it_time_to_block() { std::this_thread::sleep_for(200ms); }

}  // namespace

TEST_CASE("an accept() that starts after stop_all returns at once: the wake-up connection",
          "[blocking_sockets]") {
    net::WinsockSession winsock;
    net::BlockingSockets blocking;
    const net::AdoptedSocket listener = blocking.adopt(test::loopback_listener());
    REQUIRE(listener);
    // The race a cancel alone loses: the thread was on its way to accept() when Ctrl+C came.
    blocking.stop_all();
    test::check_returns_within(
        "accept()", 10s,
        [&] { const net::UniqueSocket s(::accept(listener.get(), nullptr, nullptr)); },
        [&] { test::connect_to(test::port_of(listener.get())); });
}

TEST_CASE("stop_all wakes a thread blocked in recv(), and later calls fail at once",
          "[blocking_sockets]") {
    net::WinsockSession winsock;
    net::BlockingSockets blocking;
    const net::UniqueSocket listener = test::loopback_listener();
    const net::UniqueSocket client = test::connect_to(test::port_of(listener.get()));
    const net::AdoptedSocket server_side =
        blocking.adopt(net::UniqueSocket(::accept(listener.get(), nullptr, nullptr)));
    REQUIRE(server_side);

    int received = 0;
    std::thread stopper([&] {
        give_it_time_to_block();
        blocking.stop_all();
    });
    test::check_returns_within(
        "recv()", 10s,
        [&] {
            char byte = 0;
            received = ::recv(server_side.get(), &byte, 1, 0);  // the client never sends
        },
        [&] { ::send(client.get(), "x", 1, 0); });
    stopper.join();
    CHECK(received == SOCKET_ERROR);
    // A recv() that starts only now fails at once too: shutdown() made the stop stick.
    char byte = 0;
    CHECK(::recv(server_side.get(), &byte, 1, 0) == SOCKET_ERROR);
    CHECK(::WSAGetLastError() == WSAESHUTDOWN);
}

TEST_CASE("stop_all wakes a thread blocked in send() to a client that never reads",
          "[blocking_sockets]") {
    net::WinsockSession winsock;
    net::BlockingSockets blocking;
    const net::UniqueSocket listener = test::loopback_listener();
    const net::UniqueSocket client = test::connect_to(test::port_of(listener.get()));
    const net::AdoptedSocket server_side =
        blocking.adopt(net::UniqueSocket(::accept(listener.get(), nullptr, nullptr)));
    std::thread stopper([&] {
        std::this_thread::sleep_for(1s);  // long enough to fill both buffers
        blocking.stop_all();
    });
    test::check_returns_within(
        "send()", 10s,
        [&] {
            const std::string chunk(1 << 20, 'x');
            while (::send(server_side.get(), chunk.data(), static_cast<int>(chunk.size()), 0) !=
                   SOCKET_ERROR) {
            }
        },
        [&] { ::shutdown(client.get(), SD_BOTH); });
    stopper.join();
}

TEST_CASE("stop_all wakes a thread blocked in accept()", "[blocking_sockets]") {
    net::WinsockSession winsock;
    net::BlockingSockets blocking;
    const net::AdoptedSocket listener = blocking.adopt(test::loopback_listener());
    std::thread stopper([&] {
        give_it_time_to_block();
        blocking.stop_all();
    });
    test::check_returns_within(
        "accept()", 10s,
        [&] { const net::UniqueSocket s(::accept(listener.get(), nullptr, nullptr)); },
        [&] { test::connect_to(test::port_of(listener.get())); });
    stopper.join();
    CHECK(blocking.stopping());
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

TEST_CASE("stop_all never closes a socket; its owner closes it, once", "[blocking_sockets]") {
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
        blocking.stop_all();
        CHECK(test::is_open_socket(raw));  // still the owner's, to use and to close
    }
    CHECK(blocking.open_count() == 0);
    CHECK_FALSE(test::is_open_socket(raw));
}

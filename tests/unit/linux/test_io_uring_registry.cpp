// The registry of the Linux twin of stage 08 (stages/linux/08_io_uring/client_context.h): it
// owns every live context up to its capacity, destroy() closes and frees one, wait_until_empty()
// returns once the last is gone, and — as stage 08's — a registry destroyed with contexts still
// in it ends the process rather than free what the kernel may still be using.
#include "stages/linux/08_io_uring/client_context.h"

#include "support.h"

#include "catch.hpp"

#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <future>
#include <thread>

using stage08_io_uring::ClientContext;
using stage08_io_uring::ClientRegistry;

namespace {

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

TEST_CASE("io_uring registry: create and destroy, the count follows, the socket is closed", "[io_uring_registry]") {
    const net::UniqueFd listener = test::loopback_listener();
    ClientRegistry registry(10);
    Connection a = connect_through(listener.get());
    Connection b = connect_through(listener.get());
    ClientContext* first = registry.create(a.served, 1);
    ClientContext* second = registry.create(b.served, 2);
    REQUIRE(first != nullptr);
    REQUIRE(second != nullptr);
    CHECK(registry.size() == 2);
    CHECK(first->id == 1);
    CHECK_FALSE(first->sending);
    CHECK(registry.destroy(first) == 1);
    CHECK_FALSE(test::is_open(a.served));
    char byte;
    CHECK(::recv(a.client.get(), &byte, 1, 0) == 0);  // a graceful close: FIN
    CHECK(registry.destroy(second) == 0);
}

TEST_CASE("io_uring registry: at its capacity the registry refuses, and leaves the socket to the caller",
          "[io_uring_registry]") {
    const net::UniqueFd listener = test::loopback_listener();
    ClientRegistry registry(1);
    Connection a = connect_through(listener.get());
    Connection b = connect_through(listener.get());
    ClientContext* first = registry.create(a.served, 1);
    REQUIRE(first != nullptr);
    CHECK(registry.create(b.served, 2) == nullptr);
    CHECK(test::is_open(b.served));  // the caller refuses it and closes it
    ::close(b.served);
    registry.destroy(first);
    Connection c = connect_through(listener.get());
    ClientContext* third = registry.create(c.served, 3);  // room again
    REQUIRE(third != nullptr);
    registry.destroy(third);
}

TEST_CASE("io_uring registry: an abortive destroy resets the connection", "[io_uring_registry]") {
    const net::UniqueFd listener = test::loopback_listener();
    ClientRegistry registry(10);
    Connection a = connect_through(listener.get());
    registry.destroy(registry.create(a.served, 1), true);
    char byte;
    CHECK(::recv(a.client.get(), &byte, 1, 0) == -1);
    CHECK(errno == ECONNRESET);
}

TEST_CASE("io_uring registry: wait_until_empty returns once another thread has destroyed the last context",
          "[io_uring_registry]") {
    const net::UniqueFd listener = test::loopback_listener();
    ClientRegistry registry(10);
    Connection a = connect_through(listener.get());
    Connection b = connect_through(listener.get());
    ClientContext* first = registry.create(a.served, 1);
    ClientContext* second = registry.create(b.served, 2);
    std::future<void> waiting =
        std::async(std::launch::async, [&registry] { registry.wait_until_empty(); });
    registry.destroy(first);
    CHECK(waiting.wait_for(std::chrono::milliseconds(200)) == std::future_status::timeout);
    registry.destroy(second);
    CHECK(waiting.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
}

TEST_CASE("io_uring registry: destroyed with a context in it ends the process", "[io_uring_registry]") {
    const net::UniqueFd listener = test::loopback_listener();
    Connection a = connect_through(listener.get());
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        // The child is a copy of this test program: without this, Catch's own handler would
        // report the abort as a failed test case, from the child, before it ends.
        std::signal(SIGABRT, SIG_DFL);
        {
            ClientRegistry registry(10);
            registry.create(a.served, 1);
        }
        std::_Exit(0);  // not reached if the destructor keeps its rule
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGABRT);
}

TEST_CASE("io_uring registry: after close() no client is created", "[io_uring_registry]") {
    const net::UniqueFd listener = test::loopback_listener();
    ClientRegistry registry(10);
    Connection a = connect_through(listener.get());
    Connection b = connect_through(listener.get());
    ClientContext* first = registry.create(a.served, 1);
    REQUIRE(first != nullptr);
    registry.close();
    CHECK(registry.create(b.served, 2) == nullptr);  // a hand-off that came too late
    CHECK(test::is_open(b.served));                  // left to the caller, who closes it
    ::close(b.served);
    CHECK(registry.size() == 1);  // the one created before is still there, to be cancelled
    registry.destroy(first);
}

// net::BlockingSockets and net::CtrlCHandler, Linux (stages/linux/common/blocking_sockets.h,
// ctrl_c.h): a stop reaches a thread blocked in accept() or recv(), and — the case a flag alone
// would miss — a call that begins only after the signal; the real SIGINT handler does it,
// interrupting a blocked call with EINTR, once.
#include "stages/linux/common/blocking_sockets.h"
#include "stages/linux/common/ctrl_c.h"

#include "support.h"

#include "catch.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <future>
#include <thread>

namespace {

using namespace std::chrono_literals;

// Runs `call` on a thread of its own and says whether it returned within `limit`. If it did not,
// a connection to `unblock_port` (or the caller's own clean-up) ends it, and the test fails
// instead of hanging.
template <class Call>
bool returns_within(std::chrono::milliseconds limit, Call call, std::uint16_t unblock_port) {
    auto done = std::async(std::launch::async, call);
    if (done.wait_for(limit) == std::future_status::ready) return true;
    const net::UniqueFd unblock = test::connect_to(unblock_port);
    done.wait();
    return false;
}

}  // namespace

TEST_CASE("adopted sockets are counted, and closed by their owners", "[blocking_sockets]") {
    net::BlockingSockets blocking;
    int fd = -1;
    {
        const net::AdoptedSocket listener = blocking.adopt(test::loopback_listener());
        REQUIRE(listener);
        fd = listener.get();
        CHECK(blocking.open_count() == 1);
    }
    CHECK(blocking.open_count() == 0);
    CHECK_FALSE(test::is_open(fd));
}

TEST_CASE("a stop that comes before accept() is called still ends it at once",
          "[blocking_sockets]") {
    // The gap a handler that only set a flag would leave: the loop has checked the flag, the
    // signal comes, and only then does accept() begin to wait.
    net::BlockingSockets blocking;
    const net::AdoptedSocket listener = blocking.adopt(test::loopback_listener());
    REQUIRE(listener);
    const std::uint16_t port = test::port_of(listener.get());
    blocking.stop_all();
    int result = 0, error = 0;
    CHECK(returns_within(
        2000ms,
        [&] {
            result = ::accept(listener.get(), nullptr, nullptr);
            error = errno;
        },
        port));
    CHECK(result == -1);
    CHECK(error == EINVAL);
}

TEST_CASE("stop_all wakes a thread blocked in accept() and one blocked in recv()",
          "[blocking_sockets]") {
    net::BlockingSockets blocking;
    const net::AdoptedSocket listener = blocking.adopt(test::loopback_listener());
    const std::uint16_t port = test::port_of(listener.get());
    const net::UniqueFd peer = test::connect_to(port);
    const net::AdoptedSocket served = blocking.adopt(net::UniqueFd(::accept(listener.get(), 0, 0)));
    REQUIRE(served);

    auto accepting =
        std::async(std::launch::async, [&] { return ::accept(listener.get(), nullptr, nullptr); });
    auto receiving = std::async(std::launch::async, [&] {
        char byte;
        return ::recv(served.get(), &byte, 1, 0);
    });
    std::this_thread::sleep_for(100ms);  // both are waiting now (or will be: it makes no odds)
    blocking.stop_all();
    const bool accept_woke = accepting.wait_for(2s) == std::future_status::ready;
    const bool recv_woke = receiving.wait_for(2s) == std::future_status::ready;
    // Whatever did not wake is ended by hand, so that the test fails instead of hanging.
    const net::UniqueFd unblock = accept_woke ? net::UniqueFd() : test::connect_to(port);
    if (!recv_woke) ::send(peer.get(), "x", 1, MSG_NOSIGNAL);
    CHECK(accept_woke);
    CHECK(recv_woke);
    CHECK(accepting.get() == -1);
    CHECK(receiving.get() == 0);  // shut down for reading: end of stream
    CHECK(blocking.stopping());
}

TEST_CASE("after a stop, adopt() takes nothing: the socket is closed, not kept",
          "[blocking_sockets]") {
    net::BlockingSockets blocking;
    blocking.stop_all();
    net::UniqueFd s(::socket(AF_INET, SOCK_STREAM, 0));
    const int fd = s.get();
    CHECK_FALSE(blocking.adopt(std::move(s)));
    CHECK_FALSE(test::is_open(fd));
    CHECK(blocking.open_count() == 0);
}

TEST_CASE("stop_all leaves errno as it found it", "[blocking_sockets]") {
    net::BlockingSockets blocking;
    const net::AdoptedSocket listener = blocking.adopt(test::loopback_listener());
    errno = EINTR;
    blocking.stop_all();
    CHECK(errno == EINTR);
}

TEST_CASE("SIGINT runs stop_all once; a second one gets the default action", "[ctrl_c]") {
    net::BlockingSockets blocking;
    const net::AdoptedSocket listener = blocking.adopt(test::loopback_listener());
    const std::uint16_t port = test::port_of(listener.get());
    {
        const net::CtrlCHandler ctrl_c(blocking);
        ::raise(SIGINT);  // the handler runs before raise() returns, on this thread
        CHECK(blocking.stopping());
        // The signal came before accept(): accept() must not wait.
        CHECK(returns_within(
            2000ms, [&] { ::accept(listener.get(), nullptr, nullptr); }, port));
        struct sigaction now {};
        ::sigaction(SIGINT, nullptr, &now);
        CHECK(now.sa_handler == SIG_DFL);  // SA_RESETHAND
    }
}

TEST_CASE(
    "SIGINT interrupts a blocked recv() with EINTR: the handler is installed without "
    "SA_RESTART",
    "[ctrl_c]") {
    // The socket is not adopted, so nothing but the interruption itself can end this recv().
    net::BlockingSockets blocking;
    const net::CtrlCHandler ctrl_c(blocking);
    const net::UniqueFd listener = test::loopback_listener();
    const net::UniqueFd client = test::connect_to(test::port_of(listener.get()));
    const net::UniqueFd served(::accept(listener.get(), nullptr, nullptr));
    REQUIRE(served);

    std::atomic<pthread_t> receiver{};
    std::atomic<bool> started{false};
    auto receiving = std::async(std::launch::async, [&] {
        receiver = ::pthread_self();
        started = true;
        char byte;
        const ssize_t result = ::recv(served.get(), &byte, 1, 0);
        return result < 0 ? errno : 0;
    });
    while (!started) std::this_thread::yield();
    std::this_thread::sleep_for(100ms);  // blocked in recv() by now
    ::pthread_kill(receiver.load(), SIGINT);
    if (receiving.wait_for(2s) != std::future_status::ready) {
        ::send(client.get(), "x", 1, 0);  // end it, so the test fails rather than hangs
        FAIL("recv() went on waiting after SIGINT: the handler was installed with SA_RESTART");
    }
    CHECK(receiving.get() == EINTR);
    CHECK(blocking.stopping());
}

TEST_CASE("only one CtrlCHandler at a time, and the previous handlers come back after it",
          "[ctrl_c]") {
    net::BlockingSockets blocking;
    struct sigaction before {};
    ::sigaction(SIGTERM, nullptr, &before);
    {
        const net::CtrlCHandler ctrl_c(blocking);
        CHECK_THROWS(net::CtrlCHandler(blocking));
    }
    struct sigaction after {};
    ::sigaction(SIGTERM, nullptr, &after);
    CHECK(after.sa_handler == before.sa_handler);
}

TEST_CASE(
    "CtrlCBlocked blocks the signals in this thread and in threads started meanwhile, "
    "and gives ppoll() a mask without them",
    "[ctrl_c]") {
    sigset_t in_thread;
    {
        const net::CtrlCBlocked blocked;
        std::thread([&] { ::pthread_sigmask(SIG_SETMASK, nullptr, &in_thread); }).join();
        CHECK(::sigismember(&blocked.wait_mask(), SIGINT) == 0);
        CHECK(::sigismember(&blocked.wait_mask(), SIGTERM) == 0);
    }
    CHECK(::sigismember(&in_thread, SIGINT) == 1);
    CHECK(::sigismember(&in_thread, SIGTERM) == 1);
    sigset_t now;
    ::pthread_sigmask(SIG_SETMASK, nullptr, &now);
    CHECK(::sigismember(&now, SIGINT) == 0);  // restored
}

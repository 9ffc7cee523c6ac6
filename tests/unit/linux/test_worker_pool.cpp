// net::WorkerPool, Linux (stages/linux/common/worker_pool.h): every worker waiting on the epoll
// set ends when stop() writes the stop event, however many there are, and none of them runs with
// Ctrl+C's signals open.
#include "stages/linux/common/worker_pool.h"

#include "catch.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>

#include <atomic>
#include <chrono>
#include <future>

TEST_CASE("stop() ends every worker waiting in epoll_wait, one event or a hundred waiters",
          "[worker_pool]") {
    for (unsigned count : {1u, 4u, 100u}) {
        const net::UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
        std::atomic<unsigned> stopped{0};
        std::atomic<unsigned> waiting{0};
        auto run = std::async(std::launch::async, [&] {
            net::WorkerPool pool(epoll.get(), count, [&] {
                for (;;) {
                    ++waiting;
                    epoll_event event{};
                    if (::epoll_wait(epoll.get(), &event, 1, -1) == 1 && event.data.ptr == nullptr)
                        break;
                }
                ++stopped;
            });
            while (waiting < count) std::this_thread::yield();
            pool.stop();
        });
        REQUIRE(run.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
        CHECK(stopped == count);
    }
}

TEST_CASE("the workers run with SIGINT and SIGTERM blocked, the starting thread without",
          "[worker_pool]") {
    const net::UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
    std::atomic<int> int_blocked{-1}, term_blocked{-1};
    {
        net::WorkerPool pool(epoll.get(), 1, [&] {
            sigset_t mask;
            ::pthread_sigmask(SIG_SETMASK, nullptr, &mask);
            int_blocked = ::sigismember(&mask, SIGINT);
            term_blocked = ::sigismember(&mask, SIGTERM);
            epoll_event event{};
            ::epoll_wait(epoll.get(), &event, 1, -1);
        });
    }
    CHECK(int_blocked == 1);
    CHECK(term_blocked == 1);
    sigset_t mine;
    ::pthread_sigmask(SIG_SETMASK, nullptr, &mine);
    CHECK(::sigismember(&mine, SIGINT) == 0);
}

TEST_CASE("processor_count is at least 1 and at most what the machine has", "[worker_pool]") {
    CHECK(net::processor_count() >= 1);
    const unsigned hinted = std::thread::hardware_concurrency();
    if (hinted > 0) CHECK(net::processor_count() <= hinted);
}

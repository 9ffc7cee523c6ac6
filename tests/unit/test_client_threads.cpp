// ClientThreads: every thread started is joined, finished ones without waiting for the rest.
#include "common/client_threads.h"

#include "catch.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>

TEST_CASE("finished threads are joined while others still run", "[client_threads]") {
    net::ClientThreads threads;
    std::mutex mutex;
    std::condition_variable changed;
    bool release = false;
    int finished = 0;

    // One thread that waits to be released, and three that finish at once.
    threads.start([&] {
        std::unique_lock<std::mutex> lock(mutex);
        changed.wait(lock, [&] { return release; });
    });
    for (int i = 0; i < 3; ++i) {
        threads.start([&] {
            std::lock_guard<std::mutex> lock(mutex);
            ++finished;
            changed.notify_all();
        });
    }
    {
        std::unique_lock<std::mutex> lock(mutex);
        changed.wait(lock, [&] { return finished == 3; });
    }
    CHECK(threads.unjoined() == 4);
    // The three quick ones report themselves finished just after their work returns.
    while (threads.unjoined() > 1) threads.join_finished();
    CHECK(threads.unjoined() == 1);  // the waiting one is not joined (that would block)

    {
        std::lock_guard<std::mutex> lock(mutex);
        release = true;
    }
    changed.notify_all();
    threads.join_all();
    CHECK(threads.unjoined() == 0);
}

TEST_CASE("a thousand short threads leave nothing unjoined", "[client_threads]") {
    net::ClientThreads threads;
    std::atomic<int> ran{0};
    for (int i = 0; i < 1000; ++i) {
        threads.start([&] { ++ran; });
        threads.join_finished();
    }
    threads.join_all();
    CHECK(ran == 1000);
    CHECK(threads.unjoined() == 0);
}

// net::WorkerPool (common/worker_pool.h): one exit packet per worker ends them all; a pool
// that cannot start all its threads stops the ones it started and reports the failure.
#include "common/worker_pool.h"

#include "catch.hpp"
#include "watchdog.h"

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

using namespace std::chrono_literals;

namespace {

// Runs until it takes an exit packet (key 0, no OVERLAPPED), counting what it took before.
struct Worker {
    HANDLE port;
    std::atomic<int>* packets;
    void operator()() const {
        for (;;) {
            DWORD bytes = 0;
            ULONG_PTR key = 0;
            OVERLAPPED* overlapped = nullptr;
            if (!::GetQueuedCompletionStatus(port, &bytes, &key, &overlapped, INFINITE)) return;
            if (key == 0 && overlapped == nullptr) return;
            ++*packets;
        }
    }
};

// A work function that counts its copies, and throws on the copy numbered `fail_at` (0: never):
// starting a std::thread copies its function, so this makes one thread of a pool fail to start.
struct CountedWork {
    Worker worker;
    std::atomic<int>* copies;
    int fail_at = 0;
    CountedWork(Worker w, std::atomic<int>* c) : worker(w), copies(c) {}
    CountedWork(const CountedWork& other)
        : worker(other.worker), copies(other.copies), fail_at(other.fail_at) {
        if (++*copies == fail_at) throw std::runtime_error("this thread cannot start");
    }
    void operator()() const { worker(); }
};

// What frees workers that a stop() too stingy with exit packets left waiting on the port.
void post_exit_packets(HANDLE port, int count) {
    for (int i = 0; i < count; ++i) ::PostQueuedCompletionStatus(port, 0, 0, nullptr);
}

}  // namespace

TEST_CASE("stop() ends every worker, after the packets queued before its exit packets",
          "[worker_pool]") {
    const net::UniqueHandle port(::CreateIoCompletionPort(INVALID_HANDLE_VALUE, nullptr, 0, 0));
    std::atomic<int> packets{0};
    net::WorkerPool pool(port.get(), 4, Worker{port.get(), &packets});
    for (int i = 0; i < 100; ++i) ::PostQueuedCompletionStatus(port.get(), 0, 1, nullptr);
    // Returns once all four took an exit packet and were joined; a worker left without one
    // would keep join() waiting forever, so the watchdog names the call instead.
    test::check_returns_within("WorkerPool::stop()", 10s, [&] { pool.stop(); },
                               [&] { post_exit_packets(port.get(), 4); });
    CHECK(packets == 100);
    pool.stop();  // a second stop has nothing to do
}

TEST_CASE("a pool whose third thread cannot start stops the two that did, then throws",
          "[worker_pool]") {
    const net::UniqueHandle port(::CreateIoCompletionPort(INVALID_HANDLE_VALUE, nullptr, 0, 0));
    std::atomic<int> packets{0};
    std::atomic<int> copies{0};
    CountedWork work(Worker{port.get(), &packets}, &copies);
    {
        // How many copies does starting one thread make? (It depends on the library.)
        std::thread probe(work);
        ::PostQueuedCompletionStatus(port.get(), 0, 0, nullptr);
        probe.join();
    }
    const int per_thread = copies.exchange(0);
    REQUIRE(per_thread >= 1);
    // One copy into WorkerPool's by-value parameter, then per_thread for each thread started:
    work.fail_at = 1 + 2 * per_thread + 1;  // the first copy for the third thread
    // Without the constructor's catch, the two running std::threads would be destroyed
    // unjoined, and std::terminate would end this test program. The catch stops the two, so
    // the constructor waits on their exit packets: the watchdog names it if it never returns.
    bool threw = false;
    test::check_returns_within(
        "WorkerPool's constructor, stopping the threads it started", 10s,
        [&] {
            try {
                net::WorkerPool pool(port.get(), 5, work);
            } catch (const std::runtime_error&) {
                threw = true;
            }
        },
        [&] { post_exit_packets(port.get(), 2); });
    CHECK(threw);
    // Both exit packets were taken: nothing is left in the port.
    DWORD bytes = 0;
    ULONG_PTR key = 0;
    OVERLAPPED* overlapped = nullptr;
    CHECK_FALSE(::GetQueuedCompletionStatus(port.get(), &bytes, &key, &overlapped, 0));
}

TEST_CASE("processor_count counts at least one processor", "[worker_pool]") {
    CHECK(net::processor_count() >= 1);
}

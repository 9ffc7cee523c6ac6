// A watchdog for a test that waits on a blocking call: when the call does not return in time,
// the test fails with a line naming it, rather than hanging silently until CTest's timeout ends
// the program. Catch2 v2 and v3 alike (FAIL_CHECK is in both).
#pragma once

#include "catch.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <string>

namespace test {

// Runs `call`, the blocking call named by `what` ("recv()"), on a thread of its own and waits at
// most `limit` for it. When it has not returned by then, the test fails with "recv() never
// returned after 10 s" and `unblock` frees the thread (a byte sent, a connection made), so that
// the other tests still run. When even that leaves it blocked for 5 s more, the thread can never
// be joined and the program cannot end: it is ended here, with the same line on stderr and exit
// code 1.
template <class Call, class Unblock>
void check_returns_within(const char* what, std::chrono::seconds limit, Call call,
                          Unblock unblock) {
    auto done = std::async(std::launch::async, call);
    if (done.wait_for(limit) == std::future_status::ready) return;
    const std::string line =
        std::string(what) + " never returned after " + std::to_string(limit.count()) + " s";
    FAIL_CHECK(line);
    unblock();
    if (done.wait_for(std::chrono::seconds(5)) == std::future_status::ready) return;
    std::fflush(stdout);  // what Catch2 has reported so far, before the line that ends it
    std::fprintf(stderr, "%s, nor 5 s after the test tried to free it: ending the test program\n",
                 line.c_str());
    std::fflush(stderr);
    std::_Exit(1);  // not exit(): the destructor of `done` would wait for the blocked thread
}

}  // namespace test

// net::CtrlCHandler (common/ctrl_c.h): which console events stop the server, that each stops it
// once, and that the events which end the process anyway (a closed window, a shutdown)
// wait for main's orderly shutdown. The events are delivered by calling the function Windows
// calls, net::handle_console_event, since a test cannot close its own console window.
#include "common/ctrl_c.h"

#include "common/winsock.h"

#include "catch.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

using namespace std::chrono_literals;

TEST_CASE("Ctrl+C calls on_stop once; a second Ctrl+C is left to Windows", "[ctrl_c]") {
    std::atomic<int> stops{0};
    const net::CtrlCHandler handler([&] { ++stops; });
    CHECK(net::handle_console_event(CTRL_C_EVENT) == TRUE);
    CHECK(stops == 1);
    CHECK(net::handle_console_event(CTRL_C_EVENT) == FALSE);  // default handling: ends it
    CHECK(net::handle_console_event(CTRL_BREAK_EVENT) == FALSE);
    CHECK(stops == 1);
}

TEST_CASE("Ctrl+Break stops it like Ctrl+C; unknown events are declined", "[ctrl_c]") {
    std::atomic<int> stops{0};
    const net::CtrlCHandler handler([&] { ++stops; });
    CHECK(net::handle_console_event(12345) == FALSE);
    CHECK(stops == 0);
    CHECK(net::handle_console_event(CTRL_BREAK_EVENT) == TRUE);
    CHECK(stops == 1);
}

TEST_CASE("with no handler object alive, every event is declined", "[ctrl_c]") {
    {
        const net::CtrlCHandler gone([] {});
    }
    CHECK(net::handle_console_event(CTRL_C_EVENT) == FALSE);
    CHECK(net::handle_console_event(CTRL_CLOSE_EVENT) == FALSE);
}

TEST_CASE("only one handler object at a time", "[ctrl_c]") {
    const net::CtrlCHandler first([] {});
    CHECK_THROWS_AS(net::CtrlCHandler([] {}), std::logic_error);
}

TEST_CASE(
    "closing the console window and a system shutdown stop the server, and the handler returns "
    "only after main's shutdown is over",
    "[ctrl_c]") {
    for (DWORD event : {DWORD{CTRL_CLOSE_EVENT}, DWORD{CTRL_SHUTDOWN_EVENT}}) {
        std::promise<void> stopped;
        auto handler = std::make_unique<net::CtrlCHandler>([&] { stopped.set_value(); });
        // Windows runs the handler on a thread of its own, and ends the process when it returns.
        auto returned =
            std::async(std::launch::async, [event] { return net::handle_console_event(event); });
        REQUIRE(stopped.get_future().wait_for(10s) == std::future_status::ready);
        // main is still shutting down: returning now would let Windows end the process early.
        CHECK(returned.wait_for(200ms) == std::future_status::timeout);
        handler.reset();  // main's shutdown is over (no deadlock with the waiting handler)
        REQUIRE(returned.wait_for(10s) == std::future_status::ready);
        CHECK(returned.get() == TRUE);
    }
}

TEST_CASE("a logoff is declined: it reaches only services, and says not whose", "[ctrl_c]") {
    std::atomic<int> stops{0};
    const net::CtrlCHandler handler([&] { ++stops; });
    CHECK(net::handle_console_event(CTRL_LOGOFF_EVENT) == FALSE);
    CHECK(stops == 0);
    CHECK(net::handle_console_event(CTRL_C_EVENT) == TRUE);  // still armed
}

TEST_CASE("the destructor waits for a running on_stop", "[ctrl_c]") {
    std::mutex mutex;
    std::condition_variable changed;
    bool in_on_stop = false, release = false;
    auto handler = std::make_unique<net::CtrlCHandler>([&] {
        std::unique_lock<std::mutex> lock(mutex);
        in_on_stop = true;
        changed.notify_all();
        changed.wait(lock, [&] { return release; });
    });
    std::thread windows([] { net::handle_console_event(CTRL_C_EVENT); });
    {
        std::unique_lock<std::mutex> lock(mutex);
        changed.wait(lock, [&] { return in_on_stop; });
    }
    auto destroyed = std::async(std::launch::async, [&] { handler.reset(); });
    // on_stop may still use what main owns: the destructor must not return before it does.
    CHECK(destroyed.wait_for(200ms) == std::future_status::timeout);
    {
        std::lock_guard<std::mutex> lock(mutex);
        release = true;
        changed.notify_all();
    }
    CHECK(destroyed.wait_for(10s) == std::future_status::ready);
    windows.join();
}

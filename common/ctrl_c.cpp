#include "common/ctrl_c.h"

#include "common/winsock.h"

#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <utility>

namespace net {

namespace {

// The repository's one global state, and why it must be global: SetConsoleCtrlHandler takes a
// plain function pointer with no "user data" argument, so the function it calls can reach
// what to do only through a static.
struct HandlerState {
    std::mutex mutex;
    std::condition_variable changed;
    std::function<void()> on_stop;  // empty when no object is alive or it already ran
    bool alive = false;             // a CtrlCHandler object exists
    int running = 0;                // calls of on_stop in progress
};
HandlerState g_state;

BOOL WINAPI console_handler(DWORD event) { return handle_console_event(event); }

// CTRL_SHUTDOWN_EVENT, like CTRL_LOGOFF_EVENT, reaches only services: "interactive applications
// are not present by the time the system sends this signal" (HandlerRoutine's page), so for a
// stage started from a console this branch never runs. It stays, at no cost, because a program
// that does get the event must answer it as it answers a closed window.
bool ends_the_process(unsigned long event) {
    return event == CTRL_CLOSE_EVENT || event == CTRL_SHUTDOWN_EVENT;
}

// Registered once, never removed: with no object alive the function declines every event
// (returns FALSE), which hands it to Windows' default handling exactly as if it were not
// registered. Never calling SetConsoleCtrlHandler from the destructor matters: Windows may
// hold its own lock while it runs a handler, and a destructor that called
// SetConsoleCtrlHandler while the handler waited for the destructor would wait forever.
void register_once() {
    static const bool registered = ::SetConsoleCtrlHandler(console_handler, TRUE) != FALSE;
    if (!registered) throw std::runtime_error("SetConsoleCtrlHandler failed");
}

}  // namespace

int handle_console_event(unsigned long event) {
    // Not ours: anything else, and CTRL_LOGOFF_EVENT, which says neither which user logs off
    // nor that this process will end: only services get it, and a service must not stop when
    // some user logs off (HandlerRoutine's page).
    if (event != CTRL_C_EVENT && event != CTRL_BREAK_EVENT && !ends_the_process(event))
        return FALSE;
    std::function<void()> on_stop;
    {
        std::lock_guard<std::mutex> lock(g_state.mutex);
        if (!g_state.on_stop) return FALSE;  // a second event: Windows' default ends the process
        on_stop = std::exchange(g_state.on_stop, nullptr);
        ++g_state.running;
    }
    on_stop();  // not under the lock: it may take a moment, and a second Ctrl+C must get through
    std::unique_lock<std::mutex> lock(g_state.mutex);
    --g_state.running;
    g_state.changed.notify_all();
    // Returning from these events ends the process: first let main finish its shutdown.
    if (ends_the_process(event)) g_state.changed.wait(lock, [] { return !g_state.alive; });
    return TRUE;  // handled: the process goes on (for Ctrl+C and Ctrl+Break)
}

CtrlCHandler::CtrlCHandler(std::function<void()> on_stop) {
    register_once();
    std::lock_guard<std::mutex> lock(g_state.mutex);
    if (g_state.alive) throw std::logic_error("only one CtrlCHandler may exist at a time");
    g_state.on_stop = std::move(on_stop);
    g_state.alive = true;
}

CtrlCHandler::~CtrlCHandler() {
    std::unique_lock<std::mutex> lock(g_state.mutex);
    g_state.on_stop = nullptr;  // later events: Windows' default handling
    g_state.changed.wait(lock, [] { return g_state.running == 0; });  // on_stop uses main's locals
    g_state.alive = false;
    g_state.changed.notify_all();  // the handler of a closed window may return now
}

}  // namespace net

#include "common/ctrl_c.h"

#include "common/winsock.h"

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
    std::function<void()> on_stop;  // empty when no handler is installed or it already ran
    bool installed = false;
};
HandlerState g_state;

BOOL WINAPI console_handler(DWORD event) {
    if (event != CTRL_C_EVENT && event != CTRL_BREAK_EVENT) return FALSE;  // not ours
    // Holding the lock while on_stop runs is what lets ~CtrlCHandler wait for it.
    std::lock_guard<std::mutex> lock(g_state.mutex);
    if (!g_state.on_stop) return FALSE;  // second press: let Windows end the process
    const std::function<void()> on_stop = std::exchange(g_state.on_stop, nullptr);
    on_stop();
    return TRUE;  // handled: the process goes on
}

}  // namespace

CtrlCHandler::CtrlCHandler(std::function<void()> on_stop) {
    std::lock_guard<std::mutex> lock(g_state.mutex);
    if (g_state.installed) throw std::logic_error("only one CtrlCHandler may exist at a time");
    if (!::SetConsoleCtrlHandler(console_handler, TRUE))
        throw std::runtime_error("SetConsoleCtrlHandler failed");
    g_state.on_stop = std::move(on_stop);
    g_state.installed = true;
}

CtrlCHandler::~CtrlCHandler() {
    std::lock_guard<std::mutex> lock(g_state.mutex);  // waits for a running on_stop
    ::SetConsoleCtrlHandler(console_handler, FALSE);
    g_state.on_stop = nullptr;
    g_state.installed = false;
}

}  // namespace net

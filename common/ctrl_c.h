// common/ctrl_c.h — run a function when the user presses Ctrl+C (or closes the console window).
#pragma once

#include <functional>

namespace net {

// ANCHOR: ctrl_c_handler
// While this object lives, the first console event that asks the program to end calls
// `on_stop` once, on a thread that Windows creates for the event (SetConsoleCtrlHandler), and
// the program goes on so that main can shut down in order and return 0. The events are
// Ctrl+C and Ctrl+Break, and two that end the process whatever the handler does: closing the
// console window (CTRL_CLOSE_EVENT) and system shutdown (CTRL_SHUTDOWN_EVENT, which like a
// logoff reaches only services: a stage started from a console never gets it). For those, the
// handler thread waits after `on_stop` until main has finished the shutdown (this object is
// destroyed): Windows ends the process as soon as the handler returns, or when its time is up
// (about 5 seconds for a closed window). A logoff is declined: it reaches only services, and says not whose. A second
// Ctrl+C gets Windows' default handling, which ends the process at once: the escape hatch for a
// shutdown that hangs.
//
// `on_stop` runs concurrently with main, so it may only touch what is safe from another
// thread. The destructor waits for a running `on_stop` to return, so `on_stop` may capture
// main's locals by reference as long as this object is declared after them.
class CtrlCHandler {
public:
    explicit CtrlCHandler(std::function<void()> on_stop);
    ~CtrlCHandler();
    CtrlCHandler(const CtrlCHandler&) = delete;
    CtrlCHandler& operator=(const CtrlCHandler&) = delete;
};
// ANCHOR_END: ctrl_c_handler

// The function Windows calls for a console event (a CTRL_*_EVENT code): TRUE when it was
// handled. Public so that the unit tests can deliver the events that only Windows can send
// (a closed window, a logoff, a shutdown).
int handle_console_event(unsigned long event);

}  // namespace net

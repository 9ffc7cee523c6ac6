// common/ctrl_c.h — run a function when the user presses Ctrl+C.
#pragma once

#include <functional>

namespace net {

// ANCHOR: ctrl_c_handler
// While this object lives, Ctrl+C (or Ctrl+Break) calls `on_stop` once, on a thread that
// Windows creates for the console event (SetConsoleCtrlHandler), and the process keeps
// running so that main can shut down in order and return 0. A second Ctrl+C gets Windows'
// default handling, which ends the process at once: the escape hatch for a shutdown that hangs.
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

}  // namespace net

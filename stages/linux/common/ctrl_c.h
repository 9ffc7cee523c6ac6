// stages/linux/common/ctrl_c.h — Ctrl+C (SIGINT) and kill (SIGTERM) stop the server.
#pragma once

#include "stages/linux/common/blocking_sockets.h"

#include <signal.h>

namespace net {

// ANCHOR: ctrl_c_handler
// The twin of common/ctrl_c.h. Ctrl+C in a terminal sends SIGINT to the program; `kill PID`
// and service managers send SIGTERM. While this object lives, the first of either calls
// blocking.stop_all() from a signal handler: on a thread of the program that has the signals
// unblocked, interrupting whatever it was doing (blocking_sockets.h says what that allows).
//
// Two flags of sigaction() matter:
//   - no SA_RESTART: a call blocked in the interrupted thread — accept(), recv(), send(),
//     poll() — returns -1 with errno EINTR once the handler is done, instead of being resumed
//     as if nothing happened. That is how a blocked call learns that it was interrupted.
//   - SA_RESETHAND: the handler runs once; a second Ctrl+C gets the default action, which ends
//     the process at once — the escape hatch for a shutdown that hangs, as on Windows.
// The destructor puts the previous handlers back.
class CtrlCHandler {
public:
    explicit CtrlCHandler(BlockingSockets& blocking);
    ~CtrlCHandler();
    CtrlCHandler(const CtrlCHandler&) = delete;
    CtrlCHandler& operator=(const CtrlCHandler&) = delete;

private:
    using Action = struct sigaction;  // the struct shares its name with the function
    Action previous_int_{}, previous_term_{};
};
// ANCHOR_END: ctrl_c_handler

// ANCHOR: ctrl_c_blocked
// While this object lives, SIGINT and SIGTERM are blocked in the calling thread: a signal that
// arrives waits, pending, instead of running the handler. Threads started meanwhile inherit the
// blocked signals, which is how a program makes sure that the handler never runs on them.
// wait_mask() is the thread's mask as it was, with the two signals open: the mask to hand to
// ppoll() or epoll_pwait(), which install it only for as long as they wait, atomically — so a
// signal can interrupt the wait, and nothing else.
class CtrlCBlocked {
public:
    CtrlCBlocked();
    ~CtrlCBlocked();
    CtrlCBlocked(const CtrlCBlocked&) = delete;
    CtrlCBlocked& operator=(const CtrlCBlocked&) = delete;

    const sigset_t& wait_mask() const noexcept { return wait_mask_; }

private:
    sigset_t previous_{};
    sigset_t wait_mask_{};
};
// ANCHOR_END: ctrl_c_blocked

}  // namespace net

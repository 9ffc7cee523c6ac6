// stages/linux/common/accept_errors.h — what an accept loop does when accept() fails.
#pragma once

#include <chrono>

namespace net {

// ANCHOR: accept_errors
// The twin of common/accept_errors.h: the same three answers, to Linux's errors (accept(2)):
//   - a connection that failed before we took it: accept again now. ECONNABORTED is Linux's
//     word for a client that reset while it waited in the backlog (Windows says
//     WSAECONNRESET), and accept(2) asks servers to treat the network errors that "Linux
//     accept() passes already-pending" (ENETDOWN, EPROTO, ENOPROTOOPT, EHOSTDOWN, ENONET,
//     EHOSTUNREACH, EOPNOTSUPP, ENETUNREACH) "like EAGAIN by retrying". EINTR too: a signal
//     whose handler did not ask us to stop.
//   - the process or the system is out of descriptors or memory (EMFILE: this process's limit,
//     ulimit -n; ENFILE: the system's; ENOBUFS, ENOMEM): accept again later, after a pause that
//     doubles with each failure in a row (10 ms up to 1 s). The connection stays in the backlog
//     meanwhile, so a readiness loop must not wait for the listener during the pause: it is
//     readable all the time.
//   - anything else (EBADF, EINVAL, ENOTSOCK, ...): the listener is gone or was never one. The
//     server stops, with a line on stderr, exit 1.
// errno must be taken right after the failed call, before any other call — a log line
// included — can replace it.
class AcceptErrors {
public:
    enum class Next { accept_now, accept_later, stop };

    // Says what to do after accept() failed with `error`, and writes the line that says so:
    // to stdout when the server goes on, to stderr when it must stop.
    Next on_error(int error);
    // An accept() succeeded: the next shortage starts with the shortest pause again.
    void on_success() { short_in_a_row_ = false; }
    // How long to wait after Next::accept_later.
    std::chrono::milliseconds pause() const { return pause_; }

    // For a blocking accept loop: on_error(), then sleep through the pause it asks for. False
    // when the server must stop.
    bool survive(int error);

    static constexpr std::chrono::milliseconds first_pause{10};
    static constexpr std::chrono::milliseconds longest_pause{1000};

private:
    std::chrono::milliseconds pause_ = first_pause;  // the pause on_error() asked for last
    bool short_in_a_row_ = false;                    // the last failure was a shortage too
};
// ANCHOR_END: accept_errors

}  // namespace net

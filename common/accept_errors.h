// common/accept_errors.h — what an accept loop does when accept() fails.
#pragma once

#include <chrono>

namespace net {

// ANCHOR: accept_errors
// A failed accept() is usually not the end of a server, but neither is every failure worth
// retrying. Three kinds, from the errors Microsoft documents for accept():
//   - a client that reset its connection before we took it (WSAECONNRESET, and the codes an
//     AcceptEx completion uses for the same event): accept again now;
//   - the system is short of sockets or buffers (WSAEMFILE, WSAENOBUFS): accept again later,
//     after a pause that doubles with each failure in a row (10 ms up to 1 s), so that a
//     lasting shortage costs neither a busy loop nor a flood of log lines;
//   - anything else (WSAENETDOWN, WSAEINVAL, WSAENOTSOCK, ...): the listener or the network is
//     gone, and retrying would loop forever. The server stops, with a line on stderr, exit 1.
// The error code must be taken right after the failed call (WSAGetLastError), before any other
// call — a log line included — can replace it.
class AcceptErrors {
public:
    enum class Next { accept_now, accept_later, stop };

    // Says what to do after accept() failed with `error`, and writes the line that says so:
    // to stdout when the server goes on, to stderr when it must stop. Never throws.
    Next on_error(int error) noexcept;
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

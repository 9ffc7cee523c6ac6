#include "stages/linux/common/refuse.h"

#include "common/log.h"
#include "stages/linux/common/sockets.h"

#include <poll.h>
#include <sys/socket.h>

#include <chrono>

namespace net {

namespace {

// Reads and discards until the peer's FIN (or an error), for at most drain_ms and 64 KiB.
// poll() first, so that this works on blocking and non-blocking sockets alike.
void drain(int s) {
    using Clock = std::chrono::steady_clock;
    const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(drain_ms);
    char buffer[4096];
    for (long total = 0; total < 64 * 1024;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) return;
        pollfd readable{s, POLLIN, 0};
        if (::poll(&readable, 1, static_cast<int>(left.count())) != 1) return;
        const ssize_t received = ::recv(s, buffer, sizeof buffer, MSG_DONTWAIT);
        if (received <= 0) return;  // its FIN (or a reset): nothing more will arrive
        total += received;
    }
}

}  // namespace

void refuse(int s, const std::string& why) {
    log("refused a client from ", peer_address(s), ": ", why);
    const std::string line = "error: " + why + "; try again later\n";
    // A fresh socket has room for one line: this send does not wait (best effort: the client
    // may be gone already — hence MSG_NOSIGNAL, see send_all.h).
    ::send(s, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::shutdown(s, SHUT_WR);
    drain(s);
}

}  // namespace net

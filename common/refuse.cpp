#include "common/refuse.h"

#include "common/log.h"

#include <chrono>

namespace net {

namespace {

// Reads and discards until the peer's FIN (or an error), for at most drain_ms and 64 KiB.
// select() first, so that this works on blocking and non-blocking sockets alike.
void drain(SOCKET s) {
    using Clock = std::chrono::steady_clock;
    const Clock::time_point deadline = Clock::now() + std::chrono::milliseconds(drain_ms);
    char buffer[4096];
    for (int total = 0; total < 64 * 1024;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::microseconds>(deadline - Clock::now());
        if (left.count() <= 0) return;
        fd_set readable;
        FD_ZERO(&readable);
        FD_SET(s, &readable);
        timeval wait{static_cast<long>(left.count() / 1000000),
                     static_cast<long>(left.count() % 1000000)};
        if (::select(0, &readable, nullptr, nullptr, &wait) != 1) return;
        const int received = ::recv(s, buffer, sizeof buffer, 0);
        if (received <= 0) return;  // its FIN (or a reset): nothing more will arrive
        total += received;
    }
}

}  // namespace

void refuse(SOCKET s, const std::string& why) {
    log("refused a client from ", peer_address(s), ": ", why);
    const std::string line = "error: " + why + "; try again later\n";
    // A fresh socket has room for one line: this send does not wait (best effort: the client
    // may be gone already).
    ::send(s, line.data(), static_cast<int>(line.size()), 0);
    ::shutdown(s, SD_SEND);
    drain(s);
}

}  // namespace net

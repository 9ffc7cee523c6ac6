// stages/linux/common/refuse.h — turn a client away with a line it can read.
#pragma once

#include <string>

namespace net {

// ANCHOR: refuse
// The twin of common/refuse.h, and the same reasoning: a refused client is told why — "error:
// server full (62 clients); try again later" — and the line must reach it. Closing a socket
// whose received bytes were never read makes Linux send a reset (RST) instead of FIN, and a
// reset can destroy the line before the client reads it. So after the line and our FIN
// (shutdown(SHUT_WR)), read and discard what the client sends until its own FIN, for at most
// drain_ms and a few KiB; only then may the caller close the socket. The wait is poll(), not
// select(): a refused client's descriptor may well be numbered past 1023, which select() cannot
// take on Linux (stages/linux/04_poll shows why).
constexpr int drain_ms = 200;
void refuse(int s, const std::string& why);
// ANCHOR_END: refuse

}  // namespace net

// common/refuse.h — turn a client away with a line it can read.
#pragma once

#include "common/winsock.h"

#include <string>

namespace net {

// ANCHOR: refuse
// A client the server will not serve is told why — "error: server full (62 clients); try
// again later" — rather than left waiting for nothing, and the line must reach it. Closing a
// socket whose received bytes we never read is not a graceful close: the system sends a reset
// (RST) instead of FIN, and on Windows a reset makes the client's system throw away what it
// had received and not yet read — our line with it. So after the line and our FIN
// (shutdown(SD_SEND)), read and discard what the client sends until its own FIN, for at most
// a short while (drain_ms) and a few KiB; only then may the caller close the socket. The
// caller's thread waits those milliseconds at most: in a single-threaded server, everybody
// does, which the notes of those stages declare.
constexpr int drain_ms = 200;
void refuse(SOCKET s, const std::string& why);
// ANCHOR_END: refuse

}  // namespace net

// common/listener.h — the listening socket every stage after 01 starts from.
//
// Stage 01 writes these steps out in full, as its lesson; from stage 02 on they are plumbing,
// so they live here, unchanged. See notes/01_blocking_echo.md for the walk through them.
#pragma once

#include "common/options.h"
#include "common/winsock.h"

namespace net {

// A TCP socket bound to options.host:options.port (SO_EXCLUSIVEADDRUSE, so no other program
// can bind the same port while it lives) and listening. On failure it prints one line to
// stderr that names the address and the reason, and returns an empty UniqueSocket.
UniqueSocket make_listener(const ServerOptions& options);

}  // namespace net

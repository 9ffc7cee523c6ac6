// stages/linux/common/listener.h — the listening socket every Linux twin starts from.
#pragma once

#include "common/options.h"
#include "stages/linux/common/sockets.h"

namespace net {

// The twin of common/listener.h: a TCP socket bound to options.host:options.port and listening,
// with SO_REUSEADDR (see listener.cpp for why Linux wants the option Windows avoids). On failure
// it prints one line to stderr that names the address and the reason, and returns an empty
// UniqueFd.
UniqueFd make_listener(const ServerOptions& options);

}  // namespace net

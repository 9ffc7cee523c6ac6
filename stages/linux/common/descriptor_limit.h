// stages/linux/common/descriptor_limit.h — how many descriptors this process may have open.
#pragma once

namespace net {

// ANCHOR: descriptor_limit
// On Linux every connection costs the server one file descriptor, and a process may have at
// most RLIMIT_NOFILE of them open (`ulimit -n`): a soft limit, which is what counts, and a hard
// limit, up to which the process may raise the soft one itself. Terminals usually start
// programs with a soft limit of 1024 (for the sake of old programs that use select(): see
// stages/linux/04_poll) and a hard one far higher. A server of thousands of connections raises
// its soft limit to the hard one at start; past that, accept() fails with EMFILE. Windows has no
// such per-process count of sockets.
//
// Raises the soft limit to the hard one (as far as the system lets it) and returns the soft
// limit now in force.
unsigned long raise_descriptor_limit();

// How many clients fit in `descriptors`, one each, after what a server needs besides them:
// stdin, stdout, stderr, the listener, one spare (so that accept() can still take a client to
// refuse it politely) and `extra` of its own. At least 1; at most 1,000,000.
unsigned clients_within(unsigned long descriptors, unsigned long extra = 0);
// ANCHOR_END: descriptor_limit

}  // namespace net

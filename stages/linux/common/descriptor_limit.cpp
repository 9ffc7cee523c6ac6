#include "stages/linux/common/descriptor_limit.h"

#include <sys/resource.h>

#include <algorithm>

namespace net {

unsigned long raise_descriptor_limit() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
    if (limit.rlim_cur < limit.rlim_max) {
        rlimit raised = limit;
        raised.rlim_cur = limit.rlim_max;
        // A hard limit of "unlimited" is more than the kernel allows any process
        // (/proc/sys/fs/nr_open): then ask for that much, which is 1,048,576 by default.
        if (raised.rlim_cur == RLIM_INFINITY) raised.rlim_cur = 1048576;
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
    }
    // A soft limit that is already "unlimited" counts as the kernel's most, as above.
    return limit.rlim_cur == RLIM_INFINITY ? 1048576UL : static_cast<unsigned long>(limit.rlim_cur);
}

unsigned clients_within(unsigned long descriptors, unsigned long extra) {
    const unsigned long besides = 5 + extra;
    const unsigned long clients = descriptors > besides ? descriptors - besides : 1;
    return static_cast<unsigned>(std::clamp(clients, 1UL, 1000000UL));
}

}  // namespace net

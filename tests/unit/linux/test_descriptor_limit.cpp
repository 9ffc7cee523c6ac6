// net::raise_descriptor_limit and net::clients_within (stages/linux/common/descriptor_limit.h).
#include "stages/linux/common/descriptor_limit.h"

#include "catch.hpp"

#include <sys/resource.h>

TEST_CASE("the soft descriptor limit is raised to the hard one", "[descriptor_limit]") {
    rlimit before{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &before) == 0);
    if (before.rlim_max <= 256) {
        WARN("hard limit too low to test a raise");
        return;
    }
    rlimit low = before;
    low.rlim_cur = 256;  // as if started from a shell with `ulimit -Sn 256`
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);

    const unsigned long raised = net::raise_descriptor_limit();
    rlimit now{};
    ::getrlimit(RLIMIT_NOFILE, &now);
    CHECK(now.rlim_cur == now.rlim_max);
    CHECK(raised == now.rlim_cur);
    ::setrlimit(RLIMIT_NOFILE, &before);
}

TEST_CASE("clients fit in the descriptors left after the server's own", "[descriptor_limit]") {
    CHECK(net::clients_within(1024) == 1019);  // 0, 1, 2, the listener, a spare to refuse
    CHECK(net::clients_within(1024, 2) == 1017);
    CHECK(net::clients_within(3) == 1);  // never 0, never negative
    CHECK(net::clients_within(1UL << 40) == 1000000);
}

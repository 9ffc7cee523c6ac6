// The test runner's main(), written out so that the same file works with Catch2 v2 and v3.
//
// `unit_tests --death NAME` runs one scenario that must end the process instead (CTest checks
// its exit code and its stderr line): Catch2 has no death tests of its own.
#if __has_include(<catch2/catch_session.hpp>)
#include <catch2/catch_session.hpp>  // Catch2 v3
#else
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>  // Catch2 v2
#endif

#include "stages/07_iocp_server/client_context.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

// Stage 07's registry destroyed while a context is still live: it must not free the context
// (its read might still be in flight), and says so on stderr as it ends the process.
int registry_destroyed_with_a_live_context() {
#ifdef _MSC_VER
    // The registry ends the process with std::abort(). Microsoft's C runtime then reports the
    // fault to Windows Error Reporting, and a Debug build first shows an "abort() has been
    // called" message box, which would hold CTest until its timeout: neither, for this test.
    // https://learn.microsoft.com/en-us/cpp/c-runtime-library/reference/set-abort-behavior
    _set_abort_behavior(0, _WRITE_ABORT_MSG | _CALL_REPORTFAULT);
#endif
    net::WinsockSession winsock;
    {
        stage07::ClientRegistry registry(10);
        registry.create(::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP), 1);
    }  // ~ClientRegistry: must not return
    std::puts("the process went on");
    return 0;
}

}  // namespace

int main(int argc, char* argv[]) {
    if (argc == 3 && std::strcmp(argv[1], "--death") == 0) {
        if (std::strcmp(argv[2], "registry_not_empty") == 0)
            return registry_destroyed_with_a_live_context();
        std::fprintf(stderr, "unknown death test %s\n", argv[2]);
        return 2;
    }
    return Catch::Session().run(argc, argv);
}

// net::AcceptErrors, Linux (stages/linux/common/accept_errors.h): which accept() failures a
// server survives, and how it waits through a shortage of descriptors without a busy loop.
#include "stages/linux/common/accept_errors.h"

#include "catch.hpp"

#include <cerrno>
#include <chrono>

using Next = net::AcceptErrors::Next;
using std::chrono::milliseconds;

TEST_CASE("a connection that failed in the backlog: accept the next one at once",
          "[accept_errors]") {
    net::AcceptErrors errors;
    for (int error : {ECONNABORTED, EPROTO, ENETDOWN, EHOSTUNREACH, ENETUNREACH, EINTR})
        CHECK(errors.on_error(error) == Next::accept_now);
    CHECK(errors.survive(ECONNABORTED));
}

TEST_CASE("out of descriptors or memory: pause, longer each time in a row, up to a second",
          "[accept_errors]") {
    net::AcceptErrors errors;
    CHECK(errors.on_error(EMFILE) == Next::accept_later);
    CHECK(errors.pause() == milliseconds(10));
    CHECK(errors.on_error(ENFILE) == Next::accept_later);
    CHECK(errors.pause() == milliseconds(20));
    CHECK(errors.on_error(ENOBUFS) == Next::accept_later);
    CHECK(errors.on_error(ENOMEM) == Next::accept_later);
    for (int i = 0; i < 20; ++i) errors.on_error(EMFILE);
    CHECK(errors.pause() == net::AcceptErrors::longest_pause);

    errors.on_success();  // the shortage is over: the next one starts small again
    CHECK(errors.on_error(EMFILE) == Next::accept_later);
    CHECK(errors.pause() == net::AcceptErrors::first_pause);
}

TEST_CASE("survive() sleeps through the pause", "[accept_errors]") {
    net::AcceptErrors errors;
    const auto started = std::chrono::steady_clock::now();
    CHECK(errors.survive(EMFILE));
    CHECK(std::chrono::steady_clock::now() - started >= net::AcceptErrors::first_pause);
}

TEST_CASE("a listener that is gone or never was one: stop", "[accept_errors]") {
    net::AcceptErrors errors;
    for (int error : {EBADF, EINVAL, ENOTSOCK, EFAULT}) CHECK(errors.on_error(error) == Next::stop);
    CHECK_FALSE(errors.survive(EBADF));
}

// net::AcceptErrors (common/accept_errors.h): which accept() failures a server survives, and
// how it waits through a shortage of sockets without a busy loop.
#include "common/accept_errors.h"

#include "common/winsock.h"

#include "catch.hpp"

#include <chrono>

using Next = net::AcceptErrors::Next;
using std::chrono::milliseconds;

TEST_CASE("a client that reset before it was taken: accept the next one at once",
          "[accept_errors]") {
    net::AcceptErrors errors;
    for (int error : {WSAECONNRESET, WSAECONNABORTED, WSAENETRESET, WSAENOTCONN})
        CHECK(errors.on_error(error) == Next::accept_now);
    CHECK(errors.survive(WSAECONNRESET));
}

TEST_CASE("a shortage of sockets or buffers: pause, longer each time in a row, up to a second",
          "[accept_errors]") {
    net::AcceptErrors errors;
    CHECK(errors.on_error(WSAEMFILE) == Next::accept_later);
    CHECK(errors.pause() == milliseconds(10));
    CHECK(errors.on_error(WSAENOBUFS) == Next::accept_later);
    CHECK(errors.pause() == milliseconds(20));
    for (int i = 0; i < 20; ++i) errors.on_error(WSAEMFILE);
    CHECK(errors.pause() == net::AcceptErrors::longest_pause);

    errors.on_success();  // the shortage is over: the next one starts small again
    CHECK(errors.on_error(WSAEMFILE) == Next::accept_later);
    CHECK(errors.pause() == net::AcceptErrors::first_pause);
}

TEST_CASE("survive() sleeps through the pause", "[accept_errors]") {
    net::AcceptErrors errors;
    const auto started = std::chrono::steady_clock::now();
    CHECK(errors.survive(WSAENOBUFS));
    CHECK(std::chrono::steady_clock::now() - started >= net::AcceptErrors::first_pause);
}

TEST_CASE("a lasting failure stops the server instead of looping forever", "[accept_errors]") {
    for (int error : {WSAENETDOWN, WSAEINVAL, WSAENOTSOCK, WSAEFAULT, WSAEOPNOTSUPP, 12345}) {
        net::AcceptErrors errors;
        CHECK(errors.on_error(error) == Next::stop);
        CHECK_FALSE(errors.survive(error));
    }
}

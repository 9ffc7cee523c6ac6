// net::send_all, Linux (stages/linux/common/send_all.h): every byte handed over, however few each
// send() takes; the first failure stops it, with errno to report; and a peer that is gone costs
// an error, not the process (MSG_NOSIGNAL).
#include "stages/linux/common/send_all.h"

#include "stages/linux/common/sockets.h"

#include "catch.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <string>

namespace {

// A fake send(): takes at most `per_call` bytes a call, and after `capacity` bytes returns
// `when_full` (-1 with `error`, or a count send() may not return). Records the flags.
struct FakeSend {
    std::size_t per_call = 1;
    std::size_t capacity = 1 << 20;
    ssize_t when_full = -1;
    int error = ECONNRESET;
    std::string taken;
    int calls = 0;
    int flags_seen = 0;

    ssize_t operator()(int, const void* data, std::size_t length, int flags) {
        ++calls;
        flags_seen |= flags;
        if (taken.size() >= capacity) {
            if (when_full < 0) errno = error;
            return when_full;
        }
        const std::size_t n = std::min({length, per_call, capacity - taken.size()});
        taken.append(static_cast<const char*>(data), n);
        return static_cast<ssize_t>(n);
    }
};

bool send_with(FakeSend& fake, const std::string& data) {
    return net::send_all(
        -1, data.data(), data.size(),
        [&](int s, const void* p, std::size_t n, int flags) { return fake(s, p, n, flags); });
}

}  // namespace

TEST_CASE("send_all hands over every byte when send() takes one byte a call", "[send_all]") {
    const std::string data = "0123456789abcdefghijklmnopqrstuvwxyz";
    FakeSend one_byte;
    CHECK(send_with(one_byte, data));
    CHECK(one_byte.taken == data);
    CHECK(one_byte.calls == static_cast<int>(data.size()));
}

TEST_CASE("send_all hands over every byte, however many each send() takes", "[send_all]") {
    const std::string data(1000, 'x');
    for (int n : {3, 7, 999, 1000, 5000}) {
        const auto per_call = static_cast<std::size_t>(n);
        FakeSend fake;
        fake.per_call = per_call;
        CHECK(send_with(fake, data));
        CHECK(fake.taken == data);
        CHECK(fake.calls == static_cast<int>((1000 + per_call - 1) / per_call));
    }
}

TEST_CASE("send_all stops at the first failure, with send()'s own errno", "[send_all]") {
    FakeSend failing;
    failing.per_call = 30;
    failing.capacity = 50;  // takes 30, then 20, then fails
    failing.error = EPIPE;
    CHECK_FALSE(send_with(failing, std::string(100, 'x')));
    CHECK(errno == EPIPE);
    CHECK(failing.taken.size() == 50);
    CHECK(failing.calls == 3);
}

TEST_CASE("send_all gives up on a count send() may not return, with an error of its own",
          "[send_all]") {
    for (ssize_t impossible : {0, 101}) {
        FakeSend broken;
        broken.per_call = 30;
        broken.capacity = 30;
        broken.when_full = impossible;
        errno = EAGAIN;  // stale: must not be what is reported
        CHECK_FALSE(send_with(broken, std::string(100, 'x')));
        CHECK(errno == ECONNABORTED);
        CHECK(broken.calls == 2);  // no spinning on it
    }
}

TEST_CASE("send_all asks send() not to raise SIGPIPE", "[send_all]") {
    FakeSend fake;
    CHECK(send_with(fake, "x"));
    CHECK((fake.flags_seen & MSG_NOSIGNAL) != 0);
}

TEST_CASE("send_all to a peer that has gone fails with EPIPE, and the process goes on",
          "[send_all]") {
    // Without MSG_NOSIGNAL this send would raise SIGPIPE, and its default action would end the
    // test runner right here.
    int pair[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
    const net::UniqueFd ours(pair[0]);
    ::close(pair[1]);
    CHECK_FALSE(net::send_all(ours.get(), "hello", 5));
    CHECK(errno == EPIPE);
}

TEST_CASE("send_all of nothing sends nothing", "[send_all]") {
    FakeSend unused;
    CHECK(send_with(unused, ""));
    CHECK(unused.calls == 0);
}

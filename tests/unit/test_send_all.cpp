// net::send_all (common/send_all.h): every byte handed over, however few each send() takes;
// the first failure stops it, with an error to report, never a stale one.
#include "common/send_all.h"

#include "catch.hpp"

#include <algorithm>
#include <string>

namespace {

// A fake send(): takes at most `per_call` bytes a call, and after `capacity` bytes returns
// `when_full` (SOCKET_ERROR with `error`, or a count send() may not return).
struct FakeSend {
    int per_call = 1;
    int capacity = 1 << 20;
    int when_full = SOCKET_ERROR;
    int error = WSAECONNRESET;
    std::string taken;
    int calls = 0;

    int operator()(SOCKET, const char* data, int length, int) {
        ++calls;
        if (static_cast<int>(taken.size()) >= capacity) {
            if (when_full == SOCKET_ERROR) ::WSASetLastError(error);
            return when_full;
        }
        const int n = std::min({length, per_call, capacity - static_cast<int>(taken.size())});
        taken.append(data, static_cast<std::size_t>(n));
        return n;
    }
};

bool send_with(FakeSend& fake, const std::string& data) {
    return net::send_all(
        INVALID_SOCKET, data.data(), static_cast<int>(data.size()),
        [&](SOCKET s, const char* p, int n, int flags) { return fake(s, p, n, flags); });
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
    for (int per_call : {3, 7, 999, 1000, 5000}) {
        FakeSend fake;
        fake.per_call = per_call;
        CHECK(send_with(fake, data));
        CHECK(fake.taken == data);
        CHECK(fake.calls == (1000 + per_call - 1) / per_call);
    }
}

TEST_CASE("send_all stops at the first failure, with send()'s own error", "[send_all]") {
    FakeSend failing;
    failing.per_call = 30;
    failing.capacity = 50;  // takes 30, then 20, then fails
    failing.error = WSAECONNRESET;
    CHECK_FALSE(send_with(failing, std::string(100, 'x')));
    CHECK(::WSAGetLastError() == WSAECONNRESET);
    CHECK(failing.taken.size() == 50);
    CHECK(failing.calls == 3);
}

TEST_CASE("send_all gives up on a count send() may not return, with an error of its own",
          "[send_all]") {
    for (int impossible : {0, 101, -5}) {
        FakeSend broken;
        broken.per_call = 30;
        broken.capacity = 30;
        broken.when_full = impossible;
        ::WSASetLastError(WSAEWOULDBLOCK);  // stale: must not be what is reported
        CHECK_FALSE(send_with(broken, std::string(100, 'x')));
        CHECK(::WSAGetLastError() == WSAECONNABORTED);
        CHECK(broken.calls == 2);  // no spinning on it
    }
}

TEST_CASE("send_all of nothing sends nothing", "[send_all]") {
    FakeSend unused;
    CHECK(send_with(unused, ""));
    CHECK(unused.calls == 0);
}

// Stage 07's per-client context: who owns it, when its socket is closed (exactly once), when
// it is freed; and the synchronous send loop of the echo, over a fake socket.
#include "stages/07_iocp_server/client_context.h"

#include "catch.hpp"
#include "support.h"

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

using stage07::ClientContext;
using stage07::ClientRegistry;

namespace {
SOCKET new_socket() { return ::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP); }
}  // namespace

TEST_CASE("the OVERLAPPED is the first member, so its address is the context's",
          "[client_context]") {
    net::WinsockSession winsock;
    ClientRegistry registry(1);
    ClientContext* context = registry.create(new_socket(), 1);
    REQUIRE(context);
    CHECK(reinterpret_cast<void*>(&context->overlapped) == reinterpret_cast<void*>(context));
    registry.destroy(context);
}

TEST_CASE("the registry refuses beyond its capacity and takes clients again after one leaves",
          "[client_context]") {
    net::WinsockSession winsock;
    ClientRegistry registry(2);
    ClientContext* first = registry.create(new_socket(), 1);
    ClientContext* second = registry.create(new_socket(), 2);
    REQUIRE(first);
    REQUIRE(second);
    const SOCKET spare = new_socket();
    CHECK(registry.create(spare, 3) == nullptr);  // the caller still owns `spare`
    CHECK(test::is_open_socket(spare));
    CHECK(registry.destroy(first) == 1);
    ClientContext* third = registry.create(spare, 3);
    CHECK(third);
    CHECK(registry.size() == 2);
    registry.destroy(second);
    registry.destroy(third);
    CHECK(registry.size() == 0);
}

TEST_CASE("a context's socket is closed once, by whoever comes first", "[client_context]") {
    net::WinsockSession winsock;
    ClientRegistry registry(4);
    ClientContext* context = registry.create(new_socket(), 1);
    const SOCKET s = context->socket;
    REQUIRE(test::is_open_socket(s));

    registry.close_all();  // shutdown closes it: pending I/O would now complete
    CHECK_FALSE(test::is_open_socket(s));
    CHECK(registry.size() == 1);  // but the context lives until its completion is seen

    // A socket created now may get the closed handle's value; closing the context again
    // (close_socket, then destroy) must not close it.
    const net::UniqueSocket newcomer(new_socket());
    registry.close_socket(*context);
    registry.destroy(context);
    CHECK(test::is_open_socket(newcomer.get()));
    CHECK(registry.size() == 0);
}

TEST_CASE("wait_until_empty returns once the last context is destroyed", "[client_context]") {
    net::WinsockSession winsock;
    ClientRegistry registry(100);
    std::vector<ClientContext*> contexts;
    for (std::uint64_t id = 1; id <= 50; ++id)
        contexts.push_back(registry.create(new_socket(), id));
    registry.close_all();
    // The "workers": each destroys a share of the contexts, as completions come in.
    std::thread first([&] {
        for (std::size_t i = 0; i < 25; ++i) registry.destroy(contexts[i]);
    });
    std::thread second([&] {
        for (std::size_t i = 25; i < 50; ++i) registry.destroy(contexts[i]);
    });
    registry.wait_until_empty();
    CHECK(registry.size() == 0);
    first.join();
    second.join();
}

namespace {
// A fake socket: takes at most `per_call` bytes a call, fails (or says 0) after `capacity`.
struct FakeSocket {
    FakeSocket(int per_call_, int capacity_, int result_when_full_ = SOCKET_ERROR)
        : per_call(per_call_), capacity(capacity_), result_when_full(result_when_full_) {}

    int per_call;
    int capacity;
    int result_when_full;
    std::string received;
    int calls = 0;

    int operator()(const char* data, int length) {
        ++calls;
        if (static_cast<int>(received.size()) >= capacity) return result_when_full;
        const int taken =
            std::min({length, per_call, capacity - static_cast<int>(received.size())});
        received.append(data, static_cast<std::size_t>(taken));
        return taken;
    }
};
}  // namespace

TEST_CASE("send_all hands over every byte, however few each send takes", "[client_context]") {
    const std::string data = "0123456789abcdefghijklmnopqrstuvwxyz";
    for (int per_call : {1, 3, 7, 36, 1000}) {
        FakeSocket fake{per_call, 1 << 20};
        CHECK(stage07::send_all(data.data(), static_cast<int>(data.size()),
                                [&](const char* p, int n) { return fake(p, n); }));
        CHECK(fake.received == data);
        CHECK(fake.calls == (static_cast<int>(data.size()) + per_call - 1) / per_call);
    }
}

TEST_CASE("send_all stops at the first failure, and never spins on a send of 0",
          "[client_context]") {
    const std::string data(100, 'x');
    FakeSocket failing{30, 50};  // takes 30, then 20, then fails
    CHECK_FALSE(
        stage07::send_all(data.data(), 100, [&](const char* p, int n) { return failing(p, n); }));
    CHECK(failing.received.size() == 50);
    CHECK(failing.calls == 3);

    FakeSocket stuck{30, 50, 0};  // says "0 bytes" instead of failing
    CHECK_FALSE(
        stage07::send_all(data.data(), 100, [&](const char* p, int n) { return stuck(p, n); }));
    CHECK(stuck.calls == 3);

    FakeSocket unused{30, 50};
    CHECK(stage07::send_all(data.data(), 0, [&](const char* p, int n) { return unused(p, n); }));
    CHECK(unused.calls == 0);
}

// The per-client contexts of stages 07 to 10: who owns one, when its socket is closed (exactly
// once, by destroy()), when it is freed, and what shutdown (and 09's idle timeout) does to the
// clients still live.
#include "stages/07_iocp_server/client_context.h"
#include "stages/08_async_echo/client_context.h"
#include "stages/09_http_server/client_context.h"
#include "stages/10_fast_path/client_context.h"

#include "catch.hpp"
#include "support.h"

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
    ClientRegistry registry(100);
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

TEST_CASE("destroy closes the socket and frees the context, and counts the rest",
          "[client_context]") {
    net::WinsockSession winsock;
    ClientRegistry registry(100);
    ClientContext* first = registry.create(new_socket(), 1);
    ClientContext* second = registry.create(new_socket(), 2);
    const SOCKET s = first->socket;
    CHECK(registry.size() == 2);
    CHECK(registry.destroy(first) == 1);
    CHECK_FALSE(test::is_open_socket(s));
    CHECK(registry.destroy(second) == 0);
}

TEST_CASE("cancel_all ends a pending read without closing the socket", "[client_context]") {
    net::WinsockSession winsock;
    const net::UniqueSocket listener = test::loopback_listener();
    const net::UniqueSocket client = test::connect_to(test::port_of(listener.get()));
    ClientRegistry registry(100);
    ClientContext* context = registry.create(::accept(listener.get(), nullptr, nullptr), 1);
    const net::UniqueHandle event(::WSACreateEvent());
    context->overlapped.hEvent = event.get();
    context->wsabuf = {stage07::buffer_size, context->buffer};
    DWORD flags = 0;
    const int posted = ::WSARecv(context->socket, &context->wsabuf, 1, nullptr, &flags,
                                 &context->overlapped, nullptr);
    REQUIRE((posted == 0 || ::WSAGetLastError() == WSA_IO_PENDING));

    registry.cancel_all();
    // The read completes (the kernel is done with the buffer) and the socket is still ours.
    CHECK(::WaitForSingleObject(event.get(), 10000) == WAIT_OBJECT_0);
    DWORD bytes = 0;
    CHECK_FALSE(
        ::WSAGetOverlappedResult(context->socket, &context->overlapped, &bytes, FALSE, &flags));
    CHECK(test::is_open_socket(context->socket));
    // And every later read fails at once: a worker re-posting it finds out immediately.
    char byte = 0;
    CHECK(::recv(context->socket, &byte, 1, 0) == SOCKET_ERROR);
    CHECK(::WSAGetLastError() == WSAESHUTDOWN);
    registry.destroy(context);
}

TEST_CASE("wait_until_empty returns once the last context is destroyed", "[client_context]") {
    net::WinsockSession winsock;
    ClientRegistry registry(100);
    std::vector<ClientContext*> contexts;
    for (std::uint64_t id = 1; id <= 50; ++id)
        contexts.push_back(registry.create(new_socket(), id));
    registry.cancel_all();
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

// --- stage 08: the workers create the contexts, so the registry must know when to stop ------


TEST_CASE("stage 08's registry takes no client once cancel_all has run", "[client_context]") {
    net::WinsockSession winsock;
    stage08::ClientRegistry registry(10);
    stage08::ClientContext* before = registry.create(new_socket(), 1);
    REQUIRE(before);
    registry.cancel_all();
    // A worker that accepted a client just as shutdown began: the context is refused (and the
    // socket stays the caller's), since cancel_all() would never reach it.
    const SOCKET late = new_socket();
    CHECK(registry.create(late, 2) == nullptr);
    CHECK(test::is_open_socket(late));
    ::closesocket(late);
    CHECK(registry.destroy(before) == 0);
}

TEST_CASE("stage 08's send timeout ends only the clients whose send is older than the deadline, "
          "with its reason, once",
          "[client_context]") {
    net::WinsockSession winsock;
    const net::UniqueSocket listener = test::loopback_listener();
    const net::UniqueSocket reading_peer = test::connect_to(test::port_of(listener.get()));
    const net::UniqueSocket stalled_peer = test::connect_to(test::port_of(listener.get()));
    const net::UniqueSocket sending_peer = test::connect_to(test::port_of(listener.get()));
    stage08::ClientRegistry registry(10);
    stage08::ClientContext* reading = registry.create(::accept(listener.get(), nullptr, nullptr), 1);
    stage08::ClientContext* stalled = registry.create(::accept(listener.get(), nullptr, nullptr), 2);
    stage08::ClientContext* sending = registry.create(::accept(listener.get(), nullptr, nullptr), 3);
    reading->send_posted_ms = 0;  // a read in flight: however old, not a send that stalls
    stalled->send_posted_ms = 1000;
    sending->send_posted_ms = 5000;

    CHECK(registry.cancel_stalled_sends(3000) == 1);
    CHECK(stalled->cancelled.load() == std::string("send timed out"));
    CHECK(reading->cancelled.load() == nullptr);
    CHECK(sending->cancelled.load() == nullptr);
    char byte = 0;
    CHECK(::send(stalled->socket, &byte, 1, 0) == SOCKET_ERROR);  // shut down: every call fails
    CHECK(::WSAGetLastError() == WSAESHUTDOWN);
    CHECK(registry.cancel_stalled_sends(3000) == 0);  // ended already: not twice

    registry.cancel_all();  // shutdown keeps the first reason, and ends the others
    CHECK(stalled->cancelled.load() == std::string("send timed out"));
    CHECK(reading->cancelled.load() == std::string("server stopping"));
    for (auto* context : {reading, stalled, sending}) registry.destroy(context);
}

// --- stage 09: refusals beyond the cap, and the idle timeout -------------------------------


TEST_CASE("stage 09's registry takes clients beyond the cap only to refuse them, and a bounded "
          "number of those",
          "[client_context]") {
    net::WinsockSession winsock;
    stage09::ClientRegistry registry(2, 1);  // two served, one more refused gracefully
    stage09::ClientContext* first = registry.create(new_socket(), 1);
    stage09::ClientContext* second = registry.create(new_socket(), 2);
    stage09::ClientContext* third = registry.create(new_socket(), 3);
    REQUIRE(first);
    REQUIRE(second);
    REQUIRE(third);
    CHECK_FALSE(first->refused);
    CHECK_FALSE(second->refused);
    CHECK(third->refused);
    const SOCKET fourth = new_socket();
    CHECK(registry.create(fourth, 4) == nullptr);  // beyond the refusals too: refused at once
    ::closesocket(fourth);
    registry.destroy(third);  // a refusal is over: room for the next one
    stage09::ClientContext* fifth = registry.create(new_socket(), 5);
    REQUIRE(fifth);
    CHECK(fifth->refused);
    registry.destroy(first);  // a served client left: the next one is served
    stage09::ClientContext* sixth = registry.create(new_socket(), 6);
    REQUIRE(sixth);
    CHECK_FALSE(sixth->refused);
    for (auto* context : {second, fifth, sixth}) registry.destroy(context);
}

TEST_CASE("stage 09's idle timeout ends only the clients with no progress since the deadline, "
          "with its reason, once",
          "[client_context]") {
    net::WinsockSession winsock;
    const net::UniqueSocket listener = test::loopback_listener();
    const net::UniqueSocket idle_peer = test::connect_to(test::port_of(listener.get()));
    const net::UniqueSocket busy_peer = test::connect_to(test::port_of(listener.get()));
    stage09::ClientRegistry registry(10, 0);
    stage09::ClientContext* idle = registry.create(::accept(listener.get(), nullptr, nullptr), 1);
    stage09::ClientContext* busy = registry.create(::accept(listener.get(), nullptr, nullptr), 2);
    idle->last_progress_ms = 1000;
    busy->last_progress_ms = 5000;

    CHECK(registry.cancel_idle(3000) == 1);
    CHECK(idle->cancelled.load() == std::string("idle timeout"));
    CHECK(busy->cancelled.load() == nullptr);
    char byte = 0;
    CHECK(::recv(idle->socket, &byte, 1, 0) == SOCKET_ERROR);  // shut down: every call fails
    CHECK(::WSAGetLastError() == WSAESHUTDOWN);
    CHECK(registry.cancel_idle(3000) == 0);  // ended already: not twice

    registry.cancel_all();  // shutdown keeps the first reason, and ends the other
    CHECK(idle->cancelled.load() == std::string("idle timeout"));
    CHECK(busy->cancelled.load() == std::string("server stopping"));
    registry.destroy(idle);
    registry.destroy(busy);
}

// --- stage 10: the skip mode its contexts follow --------------------------------------------

namespace {
// Wait until `s` has bytes to read, so that the next receive finds them and succeeds at once.
bool readable_soon(SOCKET s) {
    fd_set set;
    FD_ZERO(&set);
    FD_SET(s, &set);
    timeval wait{10, 0};
    return ::select(0, &set, nullptr, nullptr, &wait) == 1;
}
}  // namespace

TEST_CASE("stage 10: a receive that finds its bytes queues a packet, until the socket has "
          "FILE_SKIP_COMPLETION_PORT_ON_SUCCESS; then none, and the count is in the OVERLAPPED",
          "[client_context]") {
    net::WinsockSession winsock;
    const net::UniqueSocket listener = test::loopback_listener();
    const net::UniqueSocket peer = test::connect_to(test::port_of(listener.get()));
    stage10::ClientRegistry registry(1);
    stage10::ClientContext* context =
        registry.create(::accept(listener.get(), nullptr, nullptr), 1);
    REQUIRE(context);
    CHECK_FALSE(context->skips_port_on_success);  // stage 08's rule until the mode is set
    const net::UniqueHandle port(CreateIoCompletionPort(INVALID_HANDLE_VALUE, nullptr, 0, 1));
    REQUIRE(CreateIoCompletionPort(reinterpret_cast<HANDLE>(context->socket), port.get(), 1, 0));

    // One receive that finds its bytes; returns what GetQueuedCompletionStatus then finds in
    // the port without waiting: the context's OVERLAPPED, or nothing.
    auto receive_at_once = [&](DWORD& bytes) -> OVERLAPPED* {
        REQUIRE(::send(peer.get(), "hello", 5, 0) == 5);
        REQUIRE(readable_soon(context->socket));
        context->overlapped = OVERLAPPED{};
        context->wsabuf = {stage10::buffer_size, context->buffer};
        DWORD flags = 0;
        bytes = 0;
        REQUIRE(WSARecv(context->socket, &context->wsabuf, 1, &bytes, &flags,
                        &context->overlapped, nullptr) == 0);
        DWORD packet_bytes = 0;
        ULONG_PTR key = 0;
        OVERLAPPED* overlapped = nullptr;
        GetQueuedCompletionStatus(port.get(), &packet_bytes, &key, &overlapped, 0);
        return overlapped;
    };

    DWORD bytes = 0;
    CHECK(receive_at_once(bytes) == &context->overlapped);  // a packet, though it returned 0
    REQUIRE(SetFileCompletionNotificationModes(reinterpret_cast<HANDLE>(context->socket),
                                               FILE_SKIP_COMPLETION_PORT_ON_SUCCESS));
    CHECK(receive_at_once(bytes) == nullptr);  // no packet: the caller must handle it
    CHECK(bytes == 5);
    // Stage 10 passes NULL for that count, as the WSARecv page advises with an OVERLAPPED, and
    // reads it from the OVERLAPPED instead, without waiting: the same 5.
    DWORD from_overlapped = 0, flags = 0;
    CHECK(::WSAGetOverlappedResult(context->socket, &context->overlapped, &from_overlapped,
                                   FALSE, &flags));
    CHECK(from_overlapped == 5);
    registry.destroy(context);
}

// Stage 07 — the asynchronous IOCP echo server: the design of "Stage 2 Final".
//
// New since stage 06: the overlapped reads of stage 06, with their completions delivered to an
// I/O completion port (stage 05) instead of event objects. Each client socket is associated
// with the port, so when its WSARecv completes the kernel itself queues a completion packet,
// and whichever worker of the pool is free dequeues it. Nothing waits per client any more: a
// client costs a context of about 4 KiB, not a thread, and there is no 64-handle limit.
//
//   main thread:  accept -> associate the socket with the port -> allocate its context ->
//                 post the first WSARecv -> back to accept
//   each worker:  GetQueuedCompletionStatus -> echo what arrived (synchronous send) ->
//                 post the next WSARecv; on 0 bytes or a failed completion, free the client
//   shutdown:     close the listener -> close every client socket -> wait until the workers
//                 have dequeued every last completion -> one exit packet per worker -> join
//
// What it still leaves out, on purpose (stage 08 adds each): the echo is a synchronous send(),
// so a client that does not read holds a worker until SO_SNDTIMEO gives up on it; accept() is
// a blocking call on the main thread, not AcceptEx; and the bytes are echoed as they come,
// without any framing or protocol.
//
// Build without CMake, from the repository root:
//   g++ -std=c++17 -O2 -I. stages/07_iocp_server/main.cpp common/*.cpp -o stage07_iocp_server.exe -lws2_32 -static
//   cl /std:c++17 /EHsc /W4 /I. stages\07_iocp_server\main.cpp common\*.cpp ws2_32.lib
#include "stages/07_iocp_server/client_context.h"

#include "common/blocking_sockets.h"
#include "common/ctrl_c.h"
#include "common/error_text.h"
#include "common/listener.h"
#include "common/log.h"
#include "common/options.h"
#include "common/winsock.h"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace {

using stage07::ClientContext;
using stage07::ClientRegistry;

static_assert(std::is_standard_layout_v<ClientContext> && offsetof(ClientContext, overlapped) == 0,
              "the OVERLAPPED must be the context's first member");

// ANCHOR: packet_keys
// The completion key of a packet: set when a socket is associated with the port, or given to
// PostQueuedCompletionStatus. Exit packets carry no OVERLAPPED, as in the original design:
// PostQueuedCompletionStatus(port, 0, 0, nullptr).
enum PacketKey : ULONG_PTR {
    exit_key = 0,
    client_key = 1,  // a completed read on a client socket: the OVERLAPPED is its context's
};
// ANCHOR_END: packet_keys

struct Counters {
    std::atomic<std::uint64_t> bytes_echoed{0};
    std::atomic<bool> stopping{false};  // set before shutdown closes the client sockets
};

// ANCHOR: post_recv
// As in stage 06: SOCKET_ERROR with WSA_IO_PENDING means "started", not "failed".
bool io_failed(int result) { return result == SOCKET_ERROR && WSAGetLastError() != WSA_IO_PENDING; }

// Start the client's next read. A return of 0 (the data was already there) and a pending read
// both mean that a completion packet will be queued. A failure means no packet will ever come
// for this read, so the caller must clean up now — and only the caller, and only once.
bool post_recv(ClientContext& context) {
    context.overlapped = OVERLAPPED{};
    context.wsabuf.buf = context.buffer;
    context.wsabuf.len = stage07::buffer_size;
    DWORD flags = 0;
    const int result =
        WSARecv(context.socket, &context.wsabuf, 1, nullptr, &flags, &context.overlapped, nullptr);
    return !io_failed(result);
}
// ANCHOR_END: post_recv

// ANCHOR: finish
// The client is done and nothing of it is in flight: say why, then free it. (At shutdown the
// reason is our own closesocket, whatever the completion looked like: a cancelled read may
// come back as an error, or as a success of 0 bytes.)
void finish(ClientRegistry& registry, const Counters& counters, ClientContext* context,
            const std::string& why) {
    const std::uint64_t id = context->id;
    const std::size_t live = registry.destroy(context);  // closes the socket if still open
    net::log("client ", id, " disconnected: ", counters.stopping ? "server stopping" : why, " (",
             live, " live)");
}
// ANCHOR_END: finish

// ANCHOR: worker_loop
// One worker. GetQueuedCompletionStatus has four outcomes, each handled:
//   1. TRUE,  lpOverlapped set:  a read completed; `bytes` is how much arrived, 0 = the FIN;
//   2. FALSE, lpOverlapped set:  a read completed with an error — a reset, or our own
//                                closesocket cancelling it. Which error does not matter: that
//                                client is done, the worker goes on;
//   3. FALSE, lpOverlapped null, WAIT_TIMEOUT: no packet within the timeout (INFINITE here);
//   4. FALSE, lpOverlapped null, another error: the wait failed (the port is gone): stop.
// TRUE with lpOverlapped null is our exit packet.
void worker_loop(HANDLE port, ClientRegistry& registry, Counters& counters) {
    for (;;) {
        DWORD bytes = 0;
        ULONG_PTR key = 0;
        OVERLAPPED* overlapped = nullptr;
        const BOOL ok = GetQueuedCompletionStatus(port, &bytes, &key, &overlapped, INFINITE);
        if (overlapped == nullptr) {
            if (ok && key == exit_key) return;  // our exit packet
            if (!ok) {                          // outcomes 3 and 4
                net::log("worker stops: GetQueuedCompletionStatus failed: ",
                         net::error_text(static_cast<int>(GetLastError())));
                return;
            }
            continue;  // a packet of a kind this server never posts
        }
        auto* context = reinterpret_cast<ClientContext*>(overlapped);  // OVERLAPPED is first
        if (!ok) {                                                     // outcome 2
            finish(registry, counters, context,
                   "read failed: " + net::error_text(static_cast<int>(GetLastError())));
            continue;
        }
        if (bytes == 0) {  // outcome 1, the FIN: all it sent has been echoed already
            finish(registry, counters, context, "closed by the client");
            continue;
        }
        // Outcome 1 with bytes: echo them, then post the next read. Until that read is
        // posted, this worker is the only thread that may touch the context.
        const auto send_some = [context](const char* data, int length) {
            return send(context->socket, data, length, 0);
        };
        if (!stage07::send_all(context->buffer, static_cast<int>(bytes), send_some)) {
            finish(registry, counters, context,
                   "send failed: " + net::error_text(WSAGetLastError()));
            continue;
        }
        counters.bytes_echoed += bytes;
        if (!post_recv(*context))
            finish(registry, counters, context,
                   "WSARecv failed: " + net::error_text(WSAGetLastError()));
        // After a successful post, another worker may already be handling the next
        // completion — and may free the context. Do not touch it here again.
    }
}
// ANCHOR_END: worker_loop

// ANCHOR: worker_pool
// As in stage 05: one exit packet per worker, then join; also on the way out of an exception.
class WorkerPool {
public:
    template <class Work>
    WorkerPool(HANDLE port, unsigned count, Work work) : port_(port) {
        for (unsigned i = 0; i < count; ++i) threads_.emplace_back(work);
    }
    ~WorkerPool() { stop(); }

    void stop() {
        for (std::size_t i = 0; i < threads_.size(); ++i)
            PostQueuedCompletionStatus(port_, 0, exit_key, nullptr);
        for (std::thread& thread : threads_) thread.join();
        threads_.clear();
    }

private:
    HANDLE port_;
    std::vector<std::thread> threads_;
};
// ANCHOR_END: worker_pool

// Over the cap: say so and close, rather than accept a client we will not serve.
void refuse(SOCKET s, unsigned max_clients) {
    const std::string line =
        "error: server full (" + std::to_string(max_clients) + " clients); try again later\n";
    send(s, line.data(), static_cast<int>(line.size()), 0);  // a fresh socket: this does not wait
    shutdown(s, SD_SEND);
    net::log("refused a client from ", net::peer_address(s), ": ", max_clients, " clients already");
}

unsigned processor_count() {
    SYSTEM_INFO info{};
    GetSystemInfo(&info);
    return info.dwNumberOfProcessors > 0 ? info.dwNumberOfProcessors : 1;
}

}  // namespace

int main(int argc, char* argv[]) {
    net::ServerOptions options;
    // Twice the processors: a worker blocked in a synchronous send() does not count against
    // the port's concurrency value, so the port wakes another worker meanwhile — if there is one.
    unsigned workers = 2 * processor_count();
    unsigned max_clients = 10000;
    unsigned send_timeout_ms = 5000;
    net::CommandLine command_line(
        "stage07_iocp_server",
        "An asynchronous TCP echo server: overlapped WSARecv, an I/O completion port and a pool "
        "of worker threads.",
        options);
    command_line.add_option("--workers", "N", "worker threads", workers, 1, 256);
    command_line.add_option("--max-clients", "N", "clients served at once; more are refused",
                            max_clients, 1, 1000000);
    command_line.add_option("--send-timeout-ms", "MS",
                            "a client that reads nothing for this long while a worker echoes to "
                            "it is disconnected",
                            send_timeout_ms, 1, 3600000);
    if (const auto exit_code = command_line.parse_or_exit_code(argc, argv)) return *exit_code;

    try {
        net::WinsockSession winsock;

        // ANCHOR: ctrl_c
        // Ctrl+C closes the listener, which ends the accept loop; main does the rest of the
        // shutdown itself, in order (see "shutdown" below).
        net::BlockingSockets blocking;
        net::CtrlCHandler ctrl_c([&blocking] { blocking.stop_all(); });
        // ANCHOR_END: ctrl_c

        const net::AdoptedSocket listener = blocking.adopt(net::make_listener(options));
        if (!listener) return blocking.stopping() ? 0 : 1;

        // ANCHOR: create_port
        // Concurrency value 0: the port lets as many workers run at once as there are
        // processors; the extra workers stand by for those blocked in send().
        const net::UniqueHandle port(CreateIoCompletionPort(INVALID_HANDLE_VALUE, nullptr, 0, 0));
        if (!port) {
            std::fprintf(stderr, "error: CreateIoCompletionPort: %s\n",
                         net::error_text(static_cast<int>(GetLastError())).c_str());
            return 1;
        }
        ClientRegistry registry(max_clients);
        Counters counters;
        WorkerPool pool(port.get(), workers, [&] { worker_loop(port.get(), registry, counters); });
        // ANCHOR_END: create_port
        net::log(workers, " workers waiting on the completion port");
        net::log("listening on ", net::local_address(listener.get()));

        // ANCHOR: accept_loop
        std::uint64_t clients_served = 0;
        for (;;) {
            net::UniqueSocket accepted(accept(listener.get(), nullptr, nullptr));
            if (!accepted) {
                if (blocking.stopping()) break;  // Ctrl+C closed the listener
                net::log("accept failed: ", net::error_text(WSAGetLastError()));
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
                continue;
            }
            ClientContext* context = registry.create(accepted.get(), clients_served + 1);
            if (!context) {
                refuse(accepted.get(), max_clients);
                continue;
            }
            accepted.release();  // the registry owns the socket now
            ++clients_served;
            net::log("client ", context->id, " connected from ", net::peer_address(context->socket),
                     " (", registry.size(), " live)");

            // A send() that cannot hand its bytes to the socket for this long fails: a client
            // that never reads then costs a worker this long, not forever.
            const DWORD timeout = send_timeout_ms;
            setsockopt(context->socket, SOL_SOCKET, SO_SNDTIMEO,
                       reinterpret_cast<const char*>(&timeout), sizeof timeout);
            // From now on, completions of this socket's I/O are queued to our port, with
            // client_key.
            if (!CreateIoCompletionPort(reinterpret_cast<HANDLE>(context->socket), port.get(),
                                        client_key, 0)) {
                finish(registry, counters, context,
                       "CreateIoCompletionPort failed: " +
                           net::error_text(static_cast<int>(GetLastError())));
                continue;
            }
            // The first read. Once it is posted, a worker may finish and free the context at
            // any moment: main does not touch it again. If it cannot even start, no packet
            // will come for it, so main frees the context itself, here and only here.
            if (!post_recv(*context))
                finish(registry, counters, context,
                       "WSARecv failed: " + net::error_text(WSAGetLastError()));
        }
        // ANCHOR_END: accept_loop

        // ANCHOR: shutdown
        // The listener is closed: no new clients, and only this thread ever created sockets,
        // so no handle value can be reused while the workers finish. Now, in order:
        counters.stopping = true;
        registry.close_all();         // each pending read completes, with an error...
        registry.wait_until_empty();  // ...and a worker frees each context as it dequeues it.
        pool.stop();                  // Nothing is outstanding: one exit packet each, join.
        // ANCHOR_END: shutdown
        // On the way out, in reverse order of creation: the port is closed, then WSACleanup.

        net::log("stopped: ", clients_served, " clients served, ", counters.bytes_echoed.load(),
                 " bytes echoed");
        return 0;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "error: %s\n", error.what());
        return 1;
    }
}

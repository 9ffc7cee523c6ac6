// Stage 07 — the asynchronous IOCP echo server: the final server of the original design
// (notes/00_the_design.md).
//
// Base: stage 05 (its completion port and worker pool), with the overlapped reads of stage 06.
// New since stage 05: each client socket is associated with the port, so when its WSARecv
// completes the kernel itself queues a completion packet, and whichever worker of the pool is
// free dequeues it. Nothing waits per client any more: a client costs a context of about
// 4 KiB, not a thread, and there is no 64-handle limit.
//
//   main thread:  accept -> allocate the client's context -> associate the socket with the
//                 port -> post the first WSARecv -> back to accept
//   each worker:  GetQueuedCompletionStatus -> echo what arrived (synchronous send) ->
//                 post the next WSARecv; on 0 bytes or a failed completion, free the client
//   shutdown:     wake accept() -> cancel every client's read -> wait until the workers have
//                 dequeued every last completion -> one exit packet per worker -> join
//
// What it still leaves out, on purpose (stage 08 adds each): the echo is a synchronous send(),
// so a client that does not read holds a worker until SO_SNDTIMEO gives up on it; and accept()
// is a blocking call on the main thread, not AcceptEx. Stage 09 then adds a protocol, HTTP.
//
// Build without CMake, from the repository root:
//   g++ -std=c++17 -O2 -I. stages/07_iocp_server/main.cpp common/*.cpp -o stage07_iocp_server.exe -lws2_32 -static
//   cl /std:c++17 /EHsc /W4 /I. stages\07_iocp_server\main.cpp common\*.cpp ws2_32.lib
#include "stages/07_iocp_server/client_context.h"

#include "common/accept_errors.h"
#include "common/blocking_sockets.h"
#include "common/ctrl_c.h"
#include "common/error_text.h"
#include "common/listener.h"
#include "common/log.h"
#include "common/options.h"
#include "common/refuse.h"
#include "common/send_all.h"
#include "common/winsock.h"
#include "common/worker_pool.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <type_traits>

namespace {

using stage07::ClientContext;
using stage07::ClientRegistry;

static_assert(std::is_standard_layout_v<ClientContext> && offsetof(ClientContext, overlapped) == 0,
              "the OVERLAPPED must be the context's first member");

// ANCHOR: packet_keys
// The completion key of a packet: set when a socket is associated with the port, or given to
// PostQueuedCompletionStatus. Exit packets carry no OVERLAPPED, as in the original design
// (notes/00_the_design.md): PostQueuedCompletionStatus(port, 0, 0, nullptr).
enum PacketKey : ULONG_PTR {
    exit_key = 0,    // "this worker is done": lpOverlapped is null (net::WorkerPool)
    client_key = 1,  // a completed read on a client socket: the OVERLAPPED is its context's
};
// ANCHOR_END: packet_keys

// Shared by the workers, so atomic.
struct Counters {
    std::atomic<std::uint64_t> bytes_echoed{0};
    std::atomic<bool> stopping{false};  // set before shutdown cancels the clients' reads
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
// The client is done and nothing of it is in flight: free it, then say why — `what` ended it,
// and `error` (when not 0) is the Winsock or Windows error code that says why. The context goes
// first, before anything that allocates: whatever happens next, it must be gone. At shutdown
// the reason is ours, whatever the completion looked like. `abortive`: see destroy().
void finish(ClientRegistry& registry, const Counters& counters, ClientContext* context,
            const char* what, int error = 0, bool abortive = false) {
    const std::uint64_t id = context->id;
    const std::size_t live = registry.destroy(context, abortive);
    if (counters.stopping) {
        net::log("client ", id, " disconnected: server stopping (", live, " live)");
    } else if (error != 0) {
        net::log("client ", id, " disconnected: ", what, ": ", net::error_text(error), " (", live,
                 " live)");
    } else {
        net::log("client ", id, " disconnected: ", what, " (", live, " live)");
    }
}
// ANCHOR_END: finish

// ANCHOR: worker_loop
// Each worker: take a packet, act on it, come back for the next. GetQueuedCompletionStatus
// has four outcomes, and all four are told apart here:
//   1. TRUE, lpOverlapped set:    a read completed; `bytes` is how much arrived, 0 = the FIN;
//   2. FALSE, lpOverlapped set:   a read completed with an error — a reset, or our own
//                                 cancellation at shutdown. Which error does not matter: that
//                                 client is done, the worker goes on;
//   3. FALSE, lpOverlapped null, GetLastError() == WAIT_TIMEOUT: nothing within the timeout
//                                 (we wait INFINITE, so it does not happen);
//   4. FALSE, lpOverlapped null, another error: the wait itself failed, for instance because
//                                 the port was closed. The worker cannot go on.
// And a packet with lpOverlapped null and TRUE is our exit packet.
void worker_loop(HANDLE port, ClientRegistry& registry, Counters& counters) {
    for (;;) {
        DWORD bytes = 0;
        ULONG_PTR key = 0;
        OVERLAPPED* overlapped = nullptr;
        const BOOL ok = GetQueuedCompletionStatus(port, &bytes, &key, &overlapped, INFINITE);
        const int error = ok ? 0 : static_cast<int>(GetLastError());  // before any other call
        if (!ok && overlapped == nullptr) {                           // outcomes 3 and 4
            net::log("worker: GetQueuedCompletionStatus failed: ", net::error_text(error));
            return;
        }
        if (key == exit_key) return;
        if (overlapped == nullptr) continue;  // a packet of a kind this server never posts
        auto* context = reinterpret_cast<ClientContext*>(overlapped);  // OVERLAPPED is first
        if (!ok) {                                                     // outcome 2
            finish(registry, counters, context, "read failed", error);
            continue;
        }
        if (bytes == 0) {  // outcome 1, the FIN: all it sent has been echoed already
            finish(registry, counters, context, "closed by the client");
            continue;
        }
        // Outcome 1 with bytes: echo them, then post the next read. Until that read is
        // posted, this worker is the only thread that may touch the context.
        if (!net::send_all(context->socket, context->buffer, static_cast<int>(bytes))) {
            // Closed with a reset: the bytes it never read are dropped with the connection.
            finish(registry, counters, context, "send failed", WSAGetLastError(), true);
            continue;
        }
        counters.bytes_echoed += bytes;
        if (!post_recv(*context))
            finish(registry, counters, context, "WSARecv failed", WSAGetLastError());
        // After a successful post, another worker may already be handling the next
        // completion — and may free the context. Do not touch it here again.
    }
}
// ANCHOR_END: worker_loop

// ANCHOR: orderly_shutdown
// How the server stops, in order:
//   1. End every client (ClientRegistry::cancel_all): each pending read completes with an
//      error, a send() blocked on a client that does not read fails, and every later call
//      on a client socket fails at once.
//   2. Wait until the workers have freed every context: only then is no read in flight, and
//      no OVERLAPPED or buffer of ours the kernel's any more. The workers must still be
//      running for this, since they are the ones who dequeue those completions.
//   3. One exit packet per worker, and join them all (net::WorkerPool::stop). Any earlier,
//      and a worker could take its exit packet while completions were still queued.
// main runs it after the accept loop; the destructor runs it if main leaves by an exception,
// before ~WorkerPool, ~ClientRegistry and the port's CloseHandle.
class OrderlyShutdown {
public:
    OrderlyShutdown(ClientRegistry& registry, net::WorkerPool& pool, Counters& counters)
        : registry_(registry), pool_(pool), counters_(counters) {}
    ~OrderlyShutdown() { run(); }
    OrderlyShutdown(const OrderlyShutdown&) = delete;
    OrderlyShutdown& operator=(const OrderlyShutdown&) = delete;

    void run() {
        if (done_) return;
        done_ = true;
        counters_.stopping = true;
        registry_.cancel_all();
        registry_.wait_until_empty();
        pool_.stop();
    }

private:
    ClientRegistry& registry_;
    net::WorkerPool& pool_;
    Counters& counters_;
    bool done_ = false;
};
// ANCHOR_END: orderly_shutdown

}  // namespace

int main(int argc, char* argv[]) {
    net::ServerOptions options;
    // Twice the processors: a worker blocked in a synchronous send() does not count against
    // the port's concurrency value, so the port wakes another worker meanwhile — if there is one.
    unsigned workers = 2 * net::processor_count();
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
        // Ctrl+C arrives on a thread of its own, while our threads may be blocked in accept(),
        // recv() or send(): blocking.stop_all() wakes them all (common/blocking_sockets.h).
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
        net::WorkerPool pool(port.get(), workers,
                             [&] { worker_loop(port.get(), registry, counters); });
        OrderlyShutdown orderly_shutdown(registry, pool, counters);
        // ANCHOR_END: create_port
        net::log(workers, " workers waiting on the completion port");
        net::log("listening on ", net::local_address(listener.get()));

        // ANCHOR: accept_loop
        net::AcceptErrors accept_errors;
        std::uint64_t clients_served = 0;
        for (;;) {
            net::UniqueSocket accepted(accept(listener.get(), nullptr, nullptr));
            const int error = accepted ? 0 : WSAGetLastError();  // before any other call
            if (blocking.stopping()) break;                      // Ctrl+C woke accept() up
            if (!accepted) {
                if (!accept_errors.survive(error)) return 1;
                continue;
            }
            accept_errors.on_success();
            const std::string peer = net::peer_address(accepted.get());
            ClientContext* context = registry.create(accepted.get(), clients_served + 1);
            if (!context) {
                net::refuse(accepted.get(),
                            "server full (" + std::to_string(max_clients) + " clients)");
                continue;
            }
            accepted.release();  // the registry owns the socket now
            // From here until the first read is posted, nothing may throw (net::log does not):
            // a context must have a read in flight, or the shutdown would wait for it forever.
            ++clients_served;
            net::log("client ", context->id, " connected from ", peer, " (", registry.size(),
                     " live)");

            // A send() that cannot hand its bytes to the socket for this long fails: a client
            // that never reads then costs a worker this long, not forever.
            const DWORD timeout = send_timeout_ms;
            setsockopt(context->socket, SOL_SOCKET, SO_SNDTIMEO,
                       reinterpret_cast<const char*>(&timeout), sizeof timeout);
            // From now on, completions of this socket's I/O are queued to our port, with
            // client_key.
            if (!CreateIoCompletionPort(reinterpret_cast<HANDLE>(context->socket), port.get(),
                                        client_key, 0)) {
                finish(registry, counters, context, "CreateIoCompletionPort failed",
                       static_cast<int>(GetLastError()));
                continue;
            }
            // The first read. Once it is posted, a worker may finish and free the context at
            // any moment: main does not touch it again. If it cannot even start, no packet
            // will come for it, so main frees the context itself, here and only here.
            if (!post_recv(*context))
                finish(registry, counters, context, "WSARecv failed", WSAGetLastError());
        }
        // ANCHOR_END: accept_loop

        // ANCHOR: shutdown
        orderly_shutdown.run();
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

// Stage 07, Linux twin — the epoll echo server: readiness instead of completion.
//
// Twin of: stage 07 (stages/07_iocp_server/main.cpp). `scripts/diff.sh linux/07` shows the two
// side by side; notes/linux_07_epoll.md walks through what differs and why.
//
// The same design: main accepts, a pool of workers serves every client, a client costs a small
// context and no thread, and each echo is a synchronous send() with a timeout.
//
//   main thread:  accept -> allocate the client's context -> add the socket to the epoll set,
//                 armed for one read (EPOLLIN | EPOLLONESHOT) -> back to accept
//   each worker:  epoll_wait for up to 16 events -> for each: recv what is there (it will not
//                 wait) -> echo it (synchronous send) -> re-arm; on 0 bytes or an error, free
//                 the client
//   shutdown:     wake accept() -> shut every client down -> stop the workers (an eventfd in
//                 the set) -> join -> free the clients that are left
//
// What differs is what the kernel tells the workers. A completion port says "your read is done:
// here are the bytes, in your buffer"; epoll says "a read now will not wait", and the worker
// reads, into a buffer of its own. So no buffer is lent to the kernel per idle client, and
// nothing of ours is in flight when the server stops. All workers share one epoll set, as
// stage 07's share one port; EPOLLONESHOT gives each event to one worker and keeps the socket
// disarmed until that worker re-arms it, the twin of one WSARecv in flight per client.
//
// What it still leaves out: the same as its twin. The echo is a synchronous send(), so a client
// that does not read holds a worker until SO_SNDTIMEO gives up on it; and accept() is a blocking
// call on the main thread. The twin of stage 08 (stages/linux/08_io_uring, with stage 08) goes
// back to completions, with io_uring.
//
// Build without CMake, from the repository root:
//   g++ -std=c++17 -O2 -Istages/linux/stand_in -I. stages/linux/07_epoll/main.cpp stages/linux/common/*.cpp common/options.cpp common/log.cpp -o stage07_epoll -pthread
#include "stages/linux/07_epoll/client_context.h"

#include "common/log.h"
#include "common/options.h"
#include "stages/linux/common/accept_errors.h"
#include "stages/linux/common/blocking_sockets.h"
#include "stages/linux/common/ctrl_c.h"
#include "stages/linux/common/descriptor_limit.h"
#include "stages/linux/common/error_text.h"
#include "stages/linux/common/listener.h"
#include "stages/linux/common/refuse.h"
#include "stages/linux/common/send_all.h"
#include "stages/linux/common/sockets.h"
#include "stages/linux/common/worker_pool.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <mutex>
#include <string>

namespace {

using stage07_epoll::ClientContext;
using stage07_epoll::ClientRegistry;

// The most events a worker takes from the set at once (worker_loop).
constexpr int events_per_wait = 16;

// Shared by the workers, so atomic — or locked.
struct Counters {
    std::atomic<std::uint64_t> bytes_echoed{0};
    std::atomic<bool> stopping{false};  // set before shutdown shuts the clients down
    // Held while a client is added or freed *and* its line, with the new count of live clients,
    // is written: without it, a worker that freed a client could be held up between the two
    // while others free and log theirs, and its line, with an older and higher count, would come
    // last. The lines must come in the order of the changes for "(K live)" on the last line to be
    // the count (the tests wait for "(0 live)").
    std::mutex lines;
};

// ANCHOR: arm_read
// The twin of post_recv. There, a read is started and the kernel completes it later; here the
// server asks to be told when a read would not wait: EPOLLIN, once (EPOLLONESHOT). After its
// event the socket stays in the set, disarmed — no other worker hears of it — until the worker
// that has the client arms it again (EPOLL_CTL_MOD). main puts the socket in the set and arms it
// the first time (EPOLL_CTL_ADD). data.ptr comes back with each event: the twin of the completion
// key and the OVERLAPPED pointer together.
//
// Level-triggered (no EPOLLET), though with EPOLLONESHOT the difference hardly shows: every
// arming asks the socket afresh and reports it at once if bytes are already waiting, so a worker
// may read one buffer's worth and re-arm, as stage 07 posts one 4 KiB read at a time — and a
// client that sends a lot takes its turn with the others. (notes/linux_07_epoll.md: why not
// edge-triggered without EPOLLONESHOT.)
//
// A failure means no event will ever come for this client, so the caller must clean up now —
// and only the caller, and only once.
bool arm_read(int epoll, ClientContext& context, int operation) {
    epoll_event event{};
    event.events = EPOLLIN | EPOLLONESHOT;
    event.data.ptr = &context;
    return epoll_ctl(epoll, operation, context.socket, &event) == 0;
}
// ANCHOR_END: arm_read

// ANCHOR: finish
// The client is done and no worker will hear of it again: free it, then say why — `what` ended
// it, and `error` (when not 0) is the errno value that says why. The context goes first, before
// anything that allocates: whatever happens next, it must be gone. At shutdown the reason is
// ours, whatever the call returned. `abortive`: see destroy().
void finish(ClientRegistry& registry, Counters& counters, ClientContext* context, const char* what,
            int error = 0, bool abortive = false) {
    const std::lock_guard<std::mutex> in_order(counters.lines);
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
// One worker. epoll_wait() for up to events_per_wait events at a time, as
// GetQueuedCompletionStatusEx takes several packets: one system call, not one per event, where
// the loop's others are a recv(), a send() and the re-arming epoll_ctl() per message. The price:
// the rest of a batch waits behind each client of it, and a client that does not read holds its
// batch-mates as long as it holds the worker (each is disarmed, so no other worker takes them).
// data.ptr null is the stop event (net::WorkerPool). Any other event says only that a recv()
// now will not wait — bytes, a FIN or an error are there — and the recv() says which:
//   1. n > 0:            bytes; echo them, then re-arm;
//   2. 0:                the client's FIN: all it sent has been echoed already;
//   3. -1 with EAGAIN:   nothing after all (readiness is a hint, and MSG_DONTWAIT makes a wrong
//                        one cost nothing): re-arm;
//   4. -1, other errno:  a reset, or our own shutdown. That client is done, the worker goes on.
// The bytes go into the worker's own buffer: nothing of the client's is lent to the kernel.
void worker_loop(int epoll, ClientRegistry& registry, Counters& counters) {
    char buffer[stage07_epoll::buffer_size];
    epoll_event events[events_per_wait];
    int ready = 0, next = 0;  // the events of the last epoll_wait(), and the next one to handle
    for (;;) {
        if (next == ready) {
            ready = epoll_wait(epoll, events, events_per_wait, -1);
            next = 0;
            if (ready < 0) {  // not EINTR: the signals are blocked here (net::WorkerPool)
                net::log("worker stops: epoll_wait failed: ", net::error_text(errno));
                return;
            }
        }
        const epoll_event event = events[next++];
        if (event.data.ptr == nullptr) return;  // the stop event
        auto* context = static_cast<ClientContext*>(event.data.ptr);
        const ssize_t received = recv(context->socket, buffer, sizeof buffer, MSG_DONTWAIT);
        if (received == 0) {  // outcome 2, the FIN
            finish(registry, counters, context, "closed by the client");
            continue;
        }
        if (received < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {  // outcome 4
            finish(registry, counters, context, "recv failed", errno);
            continue;
        }
        // Outcomes 1 and 3. Until the socket is re-armed, this worker is the only thread that
        // may touch the context.
        if (received > 0) {
            const auto bytes = static_cast<std::size_t>(received);
            if (!net::send_all(context->socket, buffer, bytes)) {
                // Closed with a reset: the bytes it never read are dropped with the connection.
                finish(registry, counters, context, "send failed", errno, true);
                continue;
            }
            counters.bytes_echoed += bytes;
        }
        if (!arm_read(epoll, *context, EPOLL_CTL_MOD))
            finish(registry, counters, context, "epoll_ctl failed", errno);
        // After a successful re-arm, another worker may already have the next event — and may
        // free the context. Do not touch it here again.
    }
}
// ANCHOR_END: worker_loop

// ANCHOR: orderly_shutdown
// How the server stops, in order:
//   1. End every client (ClientRegistry::cancel_all): a send() blocked on a client that does
//      not read fails, and every later call on a client socket fails or returns 0 at once.
//   2. Stop the workers and join them (net::WorkerPool::stop): the stop event reaches each one
//      now, or as soon as it is back from the client it was serving.
//   3. Free every context that is left: clients still armed whose events no worker took before
//      the stop. Nothing of theirs is in the kernel's hands — readiness not yet reported is not
//      a read in flight — so once no worker runs, main may free them itself. Its twin cannot:
//      a completion port owns every pending read's OVERLAPPED and buffer until its completion
//      is dequeued, so stage 07 waits for that before it stops the workers.
// main runs it after the accept loop; the destructor runs it if main leaves by an exception,
// before ~WorkerPool, ~ClientRegistry and the epoll set's close.
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
        pool_.stop();
        while (ClientContext* context = registry_.any())
            finish(registry_, counters_, context, "server stopping");
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
    // One per processor, and at least two, where stage 07 has twice the processors: its port
    // lets only one worker per processor run (the concurrency value) and keeps the others
    // standing by for those blocked in send(). An epoll set has no such limit: every waiting
    // worker takes events, so extra workers only split the batches and take turns on the
    // processors. Two at least, so that a worker blocked in a synchronous send() leaves another
    // to serve everyone else.
    unsigned workers = std::max(2u, net::processor_count());
    unsigned max_clients = 10000;
    unsigned send_timeout_ms = 5000;
    net::CommandLine command_line(
        "stage07_epoll",
        "An epoll TCP echo server: one epoll set, EPOLLONESHOT and a pool of worker threads.",
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
        // ANCHOR: ctrl_c
        // Ctrl+C is the signal SIGINT; its handler calls blocking.stop_all(), which shuts the
        // adopted listener down: main's accept() returns (EINTR), and so does every later one
        // (EINVAL), even one that begins just after the signal. The handler runs on main only:
        // the workers start with the signals blocked (net::WorkerPool), and learn of the stop
        // through the epoll set they wait on (orderly_shutdown).
        net::BlockingSockets blocking;
        net::CtrlCHandler ctrl_c(blocking);
        // ANCHOR_END: ctrl_c

        // ANCHOR: descriptor_limit
        // One descriptor per client (Windows counts no such thing): raise the limit as far as
        // allowed, and refuse clients before accept() would run out of descriptors. The epoll
        // set and the workers' stop event take one each.
        const unsigned fit = net::clients_within(net::raise_descriptor_limit(), 2);
        if (max_clients > fit) {
            net::log("at most ", fit, " clients at once: the descriptor limit (ulimit -n)");
            max_clients = fit;
        }
        // ANCHOR_END: descriptor_limit

        const net::AdoptedSocket listener = blocking.adopt(net::make_listener(options));
        if (!listener) return blocking.stopping() ? 0 : 1;

        // ANCHOR: create_epoll
        // The twin of the completion port: one epoll set, which every worker waits on. The kernel
        // keeps in it the interest list (which sockets, for what) and a ready list, updated as
        // readiness changes, so epoll_wait() costs what is ready, not how many clients there are
        // — the cost that stage 04's twin pays on every poll().
        const net::UniqueFd epoll(epoll_create1(EPOLL_CLOEXEC));
        if (!epoll) {
            std::fprintf(stderr, "error: epoll_create1: %s\n", net::error_text(errno).c_str());
            return 1;
        }
        ClientRegistry registry;
        Counters counters;
        net::WorkerPool pool(epoll.get(), workers,
                             [&] { worker_loop(epoll.get(), registry, counters); });
        OrderlyShutdown orderly_shutdown(registry, pool, counters);
        // ANCHOR_END: create_epoll
        net::log(workers, " workers waiting on the epoll set");
        net::log("listening on ", net::local_address(listener.get()));

        // ANCHOR: accept_loop
        net::AcceptErrors accept_errors;
        std::uint64_t clients_served = 0;
        for (;;) {
            net::UniqueFd accepted(accept(listener.get(), nullptr, nullptr));
            const int error = accepted ? 0 : errno;  // before any other call
            if (blocking.stopping()) break;          // Ctrl+C woke accept() up
            if (!accepted) {
                if (!accept_errors.survive(error)) return 1;
                continue;
            }
            accept_errors.on_success();
            if (registry.size() >= max_clients) {  // only main adds clients: the count holds
                net::refuse(accepted.get(),
                            "server full (" + std::to_string(max_clients) + " clients)");
                continue;
            }
            // A send() that cannot hand its bytes to the socket for this long fails: a client
            // that never reads then costs a worker this long, not forever.
            const timeval timeout{static_cast<time_t>(send_timeout_ms / 1000),
                                  static_cast<suseconds_t>(send_timeout_ms % 1000 * 1000)};
            setsockopt(accepted.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
            const std::string peer = net::peer_address(accepted.get());
            ClientContext* context = nullptr;
            {
                const std::lock_guard<std::mutex> in_order(counters.lines);
                context = registry.create(accepted.get(), ++clients_served);
                accepted.release();  // the registry owns the socket now
                net::log("client ", context->id, " connected from ", peer, " (", registry.size(),
                         " live)");
            }

            // Into the set, armed for its first read. From then on a worker may finish and free
            // the context at any moment: main does not touch it again. If it cannot be armed, no
            // event will come for it, so main frees the context itself, here and only here.
            if (!arm_read(epoll.get(), *context, EPOLL_CTL_ADD))
                finish(registry, counters, context, "epoll_ctl failed", errno);
        }
        // ANCHOR_END: accept_loop

        // ANCHOR: shutdown
        orderly_shutdown.run();
        // ANCHOR_END: shutdown
        // On the way out, in reverse order of creation: the epoll set is closed last.

        net::log("stopped: ", clients_served, " clients served, ", counters.bytes_echoed.load(),
                 " bytes echoed");
        return 0;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "error: %s\n", error.what());
        return 1;
    }
}

// Stage 05 — IOCP basics: the completion port as a queue that feeds a pool of threads.
//
// Base: stage 02. New since then: an I/O completion port (CreateIoCompletionPort), met here on
// its own, before any asynchronous I/O. A port is a kernel queue of "completion packets".
// Worker threads wait on it in GetQueuedCompletionStatus; each packet wakes one of them. Here
// every packet is one of our own, posted with PostQueuedCompletionStatus: the accept loop
// posts a "new client" packet for each connection, and whichever worker takes it serves that
// client with stage 02's blocking serve_client(). At shutdown one "exit" packet per worker
// ends the pool (net::WorkerPool, common/worker_pool.h). The completion key of each packet
// says what kind of packet it is.
//
// What it still leaves out: the workers block in recv(), so each one serves one client at a
// time, and the pool size is the number of clients served at once; the others wait in the
// port's queue, in order. That is thread-per-client with a cap, not yet scalable. Stage 06
// learns asynchronous (overlapped) I/O; stage 07 lets the kernel post the packets when I/O
// completes, so a worker is busy only while there is work.
//
// Build without CMake, from the repository root:
//   g++ -std=c++17 -O2 -I. stages/05_iocp_basics/main.cpp common/*.cpp -o stage05_iocp_basics.exe -lws2_32 -static
//   cl /std:c++17 /EHsc /W4 /I. stages\05_iocp_basics\main.cpp common\*.cpp ws2_32.lib
#include "common/accept_errors.h"
#include "common/blocking_sockets.h"
#include "common/ctrl_c.h"
#include "common/error_text.h"
#include "common/listener.h"
#include "common/log.h"
#include "common/options.h"
#include "common/send_all.h"
#include "common/winsock.h"
#include "common/worker_pool.h"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <utility>

namespace {

constexpr int buffer_size = 4096;

// ANCHOR: serve_client
// Echo until the client is done; returns why it ended. recv() returning 0 is the client's FIN:
// it will send nothing more, and we have already echoed all it sent, so we are done too.
// recv() never promises "a message": it returns whatever bytes have arrived, 1 to
// buffer_size of them, and the echo does not care where one send of the client ended.
// Several threads add to bytes_echoed at once, so it is atomic; nothing else is shared: each
// thread's buffer is on its own stack.
std::string serve_client(SOCKET client, std::atomic<std::uint64_t>& bytes_echoed) {
    char buffer[buffer_size];
    for (;;) {
        const int received = recv(client, buffer, buffer_size, 0);
        if (received == 0) return "closed by the client";
        if (received == SOCKET_ERROR) return "recv failed: " + net::error_text(WSAGetLastError());
        if (!net::send_all(client, buffer, received))
            return "send failed: " + net::error_text(WSAGetLastError());
        bytes_echoed += static_cast<std::uint64_t>(received);
    }
}
// ANCHOR_END: serve_client

// ANCHOR: packet_keys
// The completion key travels with each packet and says what it is. With our own packets the
// OVERLAPPED pointer is ours to use too: the system hands it back untouched, never reads it.
enum PacketKey : ULONG_PTR {
    exit_key = 0,        // "this worker is done": lpOverlapped is null (net::WorkerPool)
    new_client_key = 1,  // lpOverlapped points to a NewClient the worker now owns
};

struct NewClient {
    std::uint64_t id = 0;
    net::AdoptedSocket socket;
};
// ANCHOR_END: packet_keys

// Shared by the workers, so atomic.
struct Counters {
    std::atomic<std::uint64_t> bytes_echoed{0};
    std::atomic<int> live_clients{0};
};

// ANCHOR: worker_loop
// Each worker: take a packet, act on it, come back for the next. GetQueuedCompletionStatus
// has four outcomes, and all four are told apart here:
//   1. TRUE, lpOverlapped set:    a packet (ours, or later a completed I/O);
//   2. FALSE, lpOverlapped set:   a completed I/O that failed (not possible with our own
//                                 packets; stage 07 meets it);
//   3. FALSE, lpOverlapped null, GetLastError() == WAIT_TIMEOUT: nothing within the timeout
//                                 (we wait INFINITE, so it does not happen);
//   4. FALSE, lpOverlapped null, another error: the wait itself failed, for instance because
//                                 the port was closed. The worker cannot go on.
// And a packet with lpOverlapped null and TRUE is our exit packet.
void worker_loop(HANDLE port, const net::BlockingSockets& blocking, Counters& counters) {
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
        // Outcome 2 needs real I/O on a socket tied to the port; this stage has none.
        if (key != new_client_key || !ok) continue;

        // Ours now: the socket is closed when `client` goes out of scope.
        const std::unique_ptr<NewClient> client(reinterpret_cast<NewClient*>(overlapped));
        std::string why = serve_client(client->socket.get(), counters.bytes_echoed);
        if (blocking.stopping()) why = "server stopping";  // the error was our wake-up
        net::log("client ", client->id, " disconnected: ", why, " (", --counters.live_clients,
                 " live)");
    }
}
// ANCHOR_END: worker_loop

// ANCHOR: orderly_shutdown
// How the server stops, in order:
//   1. Wake every worker blocked on a client (Ctrl+C did already; an exception did not), and
//      every client still queued: their recv() fails at once now.
//   2. One exit packet per worker, and join them all (net::WorkerPool::stop).
//   3. Packets are queued in order but "may be dequeued in a different order" (Microsoft's I/O
//      Completion Ports page), so a "new client" packet may still be in the port after the
//      last worker has gone: take those out here, so that none is leaked.
// main runs it after the accept loop; the destructor runs it if main leaves by an exception.
class OrderlyShutdown {
public:
    OrderlyShutdown(net::BlockingSockets& blocking, net::WorkerPool& pool, HANDLE port,
                    Counters& counters)
        : blocking_(blocking), pool_(pool), port_(port), counters_(counters) {}
    ~OrderlyShutdown() { run(); }
    OrderlyShutdown(const OrderlyShutdown&) = delete;
    OrderlyShutdown& operator=(const OrderlyShutdown&) = delete;

    void run() {
        if (done_) return;
        done_ = true;
        blocking_.stop_all();
        pool_.stop();
        DWORD bytes = 0;
        ULONG_PTR key = 0;
        OVERLAPPED* overlapped = nullptr;
        while (GetQueuedCompletionStatus(port_, &bytes, &key, &overlapped, 0)) {
            if (key != new_client_key) continue;
            const std::unique_ptr<NewClient> client(reinterpret_cast<NewClient*>(overlapped));
            net::log("client ", client->id, " disconnected: server stopping (",
                     --counters_.live_clients, " live)");
        }
    }

private:
    net::BlockingSockets& blocking_;
    net::WorkerPool& pool_;
    const HANDLE port_;
    Counters& counters_;
    bool done_ = false;
};
// ANCHOR_END: orderly_shutdown

}  // namespace

int main(int argc, char* argv[]) {
    net::ServerOptions options;
    unsigned workers = net::processor_count();
    net::CommandLine command_line(
        "stage05_iocp_basics",
        "A TCP echo server whose accept loop hands clients to a thread pool through a "
        "completion port.",
        options);
    command_line.add_option("--workers", "N", "worker threads, so clients served at once", workers,
                            1, 256);
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
        // A port of our own, tied to no file or socket: INVALID_HANDLE_VALUE, no existing port.
        // The last argument is the concurrency value: how many threads the port lets run at
        // once; 0 means one per processor. A worker blocked in recv() does not count as
        // running, so the port releases the next waiting worker meanwhile.
        const net::UniqueHandle port(CreateIoCompletionPort(INVALID_HANDLE_VALUE, nullptr, 0, 0));
        if (!port) {
            std::fprintf(stderr, "error: CreateIoCompletionPort: %s\n",
                         net::error_text(static_cast<int>(GetLastError())).c_str());
            return 1;
        }
        Counters counters;
        net::WorkerPool pool(port.get(), workers,
                             [&] { worker_loop(port.get(), blocking, counters); });
        OrderlyShutdown orderly_shutdown(blocking, pool, port.get(), counters);
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
            net::AdoptedSocket client = blocking.adopt(std::move(accepted));
            if (!client) break;  // Ctrl+C came between accept() and here
            const std::uint64_t id = ++clients_served;
            net::log("client ", id, " connected from ", net::peer_address(client.get()), " (",
                     ++counters.live_clients, " live)");

            // Into the queue. From here the packet owns the client until a worker takes it.
            auto packet = std::make_unique<NewClient>(NewClient{id, std::move(client)});
            if (PostQueuedCompletionStatus(port.get(), 0, new_client_key,
                                           reinterpret_cast<OVERLAPPED*>(packet.get()))) {
                packet.release();
            } else {
                net::log("client ", id, " dropped: PostQueuedCompletionStatus failed: ",
                         net::error_text(static_cast<int>(GetLastError())), " (",
                         --counters.live_clients, " live)");
            }
        }
        // ANCHOR_END: accept_loop

        // ANCHOR: shutdown
        orderly_shutdown.run();
        // ANCHOR_END: shutdown

        net::log("stopped: ", clients_served, " clients served, ", counters.bytes_echoed.load(),
                 " bytes echoed");
        return 0;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "error: %s\n", error.what());
        return 1;
    }
}

// Stage 05 — IOCP basics: the completion port as a queue that feeds a pool of threads.
//
// New since stage 04: an I/O completion port (CreateIoCompletionPort), met here on its own,
// before any asynchronous I/O. A port is a kernel queue of "completion packets". Worker
// threads wait on it in GetQueuedCompletionStatus; each packet wakes one of them. Here every
// packet is one of our own, posted with PostQueuedCompletionStatus: the accept loop posts a
// "new client" packet for each connection, and whichever worker takes it serves that client
// with the blocking recv/send of stage 01. At shutdown the main thread posts one "exit" packet
// per worker. The completion key of each packet says what kind of packet it is.
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
#include "common/blocking_sockets.h"
#include "common/ctrl_c.h"
#include "common/error_text.h"
#include "common/listener.h"
#include "common/log.h"
#include "common/options.h"
#include "common/winsock.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

constexpr int buffer_size = 4096;

// ANCHOR: packet_keys
// The completion key travels with each packet and says what it is. With our own packets the
// OVERLAPPED pointer is ours to use too: the system hands it back untouched, never reads it.
enum PacketKey : ULONG_PTR {
    exit_key = 0,        // "this worker is done": lpOverlapped is null
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

bool send_all(SOCKET s, const char* data, int length) {
    while (length > 0) {
        const int sent = send(s, data, length, 0);
        if (sent == SOCKET_ERROR) return false;
        data += sent;
        length -= sent;
    }
    return true;
}

// Stage 01's serve_client: a worker spends the whole life of a connection in here.
std::string serve_client(SOCKET client, std::atomic<std::uint64_t>& bytes_echoed) {
    char buffer[buffer_size];
    for (;;) {
        const int received = recv(client, buffer, buffer_size, 0);
        if (received == 0) return "closed by the client";
        if (received == SOCKET_ERROR) return "recv failed: " + net::error_text(WSAGetLastError());
        if (!send_all(client, buffer, received))
            return "send failed: " + net::error_text(WSAGetLastError());
        bytes_echoed += static_cast<std::uint64_t>(received);
    }
}

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
        if (!ok && overlapped == nullptr) {  // outcomes 3 and 4
            net::log("worker: GetQueuedCompletionStatus failed: ",
                     net::error_text(static_cast<int>(GetLastError())));
            return;
        }
        if (key == exit_key) return;
        // Outcome 2 needs real I/O on a socket tied to the port; this stage has none.
        if (key != new_client_key || !ok) continue;

        // Ours now: the socket is closed when `client` goes out of scope.
        const std::unique_ptr<NewClient> client(reinterpret_cast<NewClient*>(overlapped));
        std::string why = serve_client(client->socket.get(), counters.bytes_echoed);
        if (blocking.stopping()) why = "server stopping";
        net::log("client ", client->id, " disconnected: ", why, " (", --counters.live_clients,
                 " live)");
    }
}
// ANCHOR_END: worker_loop

// ANCHOR: worker_pool
// The workers, and how they end: one exit packet per worker, then join. Each exit packet
// stops exactly one worker, whichever takes it, so N packets stop N workers. Being a
// destructor, this also runs if main leaves by an exception: no std::thread is ever destroyed
// unjoined (which would call std::terminate).
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

}  // namespace

int main(int argc, char* argv[]) {
    net::ServerOptions options;
    unsigned workers = std::max(1u, std::thread::hardware_concurrency());
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

        net::BlockingSockets blocking;
        net::CtrlCHandler ctrl_c([&blocking] { blocking.stop_all(); });

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
        WorkerPool pool(port.get(), workers, [&] { worker_loop(port.get(), blocking, counters); });
        // ANCHOR_END: create_port
        net::log(workers, " workers waiting on the completion port");
        net::log("listening on ", net::local_address(listener.get()));

        // ANCHOR: accept_loop
        std::uint64_t clients_served = 0;
        for (;;) {
            net::UniqueSocket accepted(accept(listener.get(), nullptr, nullptr));
            if (!accepted) {
                if (blocking.stopping()) break;
                net::log("accept failed: ", net::error_text(WSAGetLastError()));
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
                continue;
            }
            auto client = std::make_unique<NewClient>();
            client->socket = blocking.adopt(std::move(accepted));
            if (!client->socket) break;
            client->id = ++clients_served;
            net::log("client ", client->id, " connected from ",
                     net::peer_address(client->socket.get()), " (", ++counters.live_clients,
                     " live)");
            // Into the queue. From here the packet owns the client until a worker takes it.
            if (PostQueuedCompletionStatus(port.get(), 0, new_client_key,
                                           reinterpret_cast<OVERLAPPED*>(client.get()))) {
                client.release();
            } else {
                net::log("client ", client->id, " dropped: PostQueuedCompletionStatus failed: ",
                         net::error_text(static_cast<int>(GetLastError())), " (",
                         --counters.live_clients, " live)");
            }
        }
        // ANCHOR_END: accept_loop

        // ANCHOR: shutdown
        // Ctrl+C closed the listener and every client socket, so busy workers return from
        // recv() and take the next packet. One exit packet per worker ends the pool. Packets
        // are queued in order but "may be dequeued in a different order" (Microsoft's I/O
        // Completion Ports page), so a "new client" packet may still be in the port after the
        // last worker has gone: take those out here, so that none is leaked.
        pool.stop();
        DWORD bytes = 0;
        ULONG_PTR key = 0;
        OVERLAPPED* overlapped = nullptr;
        while (GetQueuedCompletionStatus(port.get(), &bytes, &key, &overlapped, 0)) {
            if (key != new_client_key) continue;
            const std::unique_ptr<NewClient> client(reinterpret_cast<NewClient*>(overlapped));
            net::log("client ", client->id, " disconnected: server stopping (",
                     --counters.live_clients, " live)");
        }
        // ANCHOR_END: shutdown

        net::log("stopped: ", clients_served, " clients served, ", counters.bytes_echoed.load(),
                 " bytes echoed");
        return 0;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "error: %s\n", error.what());
        return 1;
    }
}

// Stage 02 — a thread per client.
//
// New since stage 01: each accepted client gets a std::thread of its own that runs the same
// blocking serve_client() as before, so the main thread goes straight back to accept() and
// clients are served at the same time. net::ClientThreads (common/client_threads.h) keeps every
// thread so that each one is joined: finished ones as main gets to them, the rest at shutdown.
// (make_listener() moved to common/listener.cpp, unchanged: it is no longer the lesson.)
//
// What it still leaves out: a thread is a costly way to wait. Each one reserves a stack (2 MiB
// with MinGW's linker, 1 MiB with MSVC's), holds a kernel object and a scheduler slot, and
// mostly sleeps in recv(). Thousands of clients mean thousands of threads. Clients also cannot
// talk to each other: stage 03 adds a shared list of clients; stage 04 serves them all from
// one thread with select().
//
// Build without CMake, from the repository root:
//   g++ -std=c++17 -O2 -I. stages/02_thread_per_client/main.cpp common/*.cpp -o stage02_thread_per_client.exe -lws2_32 -static
//   cl /std:c++17 /EHsc /W4 /I. stages\02_thread_per_client\main.cpp common\*.cpp ws2_32.lib
#include "common/blocking_sockets.h"
#include "common/client_threads.h"
#include "common/ctrl_c.h"
#include "common/error_text.h"
#include "common/listener.h"
#include "common/log.h"
#include "common/options.h"
#include "common/winsock.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <system_error>
#include <thread>

namespace {

constexpr int buffer_size = 4096;

// ANCHOR: send_all
// send() may take fewer bytes than it was given ("can be less than the number requested",
// says its documentation), even on a blocking socket. Looping until all are taken is the
// sender's job.
bool send_all(SOCKET s, const char* data, int length) {
    while (length > 0) {
        const int sent = send(s, data, length, 0);
        if (sent == SOCKET_ERROR) return false;
        data += sent;
        length -= sent;
    }
    return true;
}
// ANCHOR_END: send_all

// ANCHOR: serve_client
// Unchanged since stage 01, except that several threads now add to bytes_echoed at once, so it
// is atomic. Each thread has its own buffer on its own stack: nothing else is shared.
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
// ANCHOR_END: serve_client

}  // namespace

int main(int argc, char* argv[]) {
    net::ServerOptions options;
    net::CommandLine command_line("stage02_thread_per_client",
                                  "A TCP echo server with a thread for each client.", options);
    if (const auto exit_code = command_line.parse_or_exit_code(argc, argv)) return *exit_code;

    try {
        net::WinsockSession winsock;

        // ANCHOR: ctrl_c
        // As in stage 01: Ctrl+C closes every socket a thread may be blocked on. That now
        // includes every client thread's socket, so each of them wakes up and returns too.
        net::BlockingSockets blocking;
        net::CtrlCHandler ctrl_c([&blocking] { blocking.stop_all(); });
        // ANCHOR_END: ctrl_c

        const net::AdoptedSocket listener = blocking.adopt(net::make_listener(options));
        if (!listener) return blocking.stopping() ? 0 : 1;
        net::log("listening on ", net::local_address(listener.get()));

        // ANCHOR: accept_loop
        net::ClientThreads threads;
        std::atomic<std::uint64_t> bytes_echoed{0};
        std::atomic<int> live_clients{0};
        std::uint64_t clients_served = 0;
        for (;;) {
            net::UniqueSocket accepted(accept(listener.get(), nullptr, nullptr));
            if (!accepted) {
                if (blocking.stopping()) break;  // Ctrl+C closed the listener
                net::log("accept failed: ", net::error_text(WSAGetLastError()));
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
                continue;
            }
            net::AdoptedSocket client = blocking.adopt(std::move(accepted));
            if (!client) break;  // Ctrl+C came between accept() and here
            threads.join_finished();
            const std::uint64_t id = ++clients_served;
            net::log("client ", id, " connected from ", net::peer_address(client.get()), " (",
                     ++live_clients, " live)");

            // The thread owns the client's socket from here on; main keeps nothing of it.
            try {
                threads.start([&, id, client = std::move(client)] {
                    std::string why = serve_client(client.get(), bytes_echoed);
                    if (blocking.stopping()) why = "server stopping";
                    net::log("client ", id, " disconnected: ", why, " (", --live_clients, " live)");
                });
            } catch (const std::system_error& error) {
                // The model's hard limit: no memory or address space left for one more
                // stack. The client's socket is closed with the lambda that owned it.
                net::log("client ", id, " refused: cannot start a thread: ", error.what(), " (",
                         --live_clients, " live)");
            }
        }
        threads.join_all();  // every client thread has seen its socket closed by Ctrl+C
        // ANCHOR_END: accept_loop

        net::log("stopped: ", clients_served, " clients served, ", bytes_echoed.load(),
                 " bytes echoed");
        return 0;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "error: %s\n", error.what());
        return 1;
    }
}

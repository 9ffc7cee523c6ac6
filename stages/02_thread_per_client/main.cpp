// Stage 02 — a thread per client.
//
// Base: stage 01. New since then: each accepted client gets a std::thread of its own that runs
// the same blocking serve_client() as before, so the main thread goes straight back to accept()
// and clients are served at the same time. net::ClientThreads (common/client_threads.h) keeps
// every thread so that each one is joined: finished ones as main gets to them, the rest at
// shutdown.
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
#include "common/accept_errors.h"
#include "common/blocking_sockets.h"
#include "common/client_threads.h"
#include "common/ctrl_c.h"
#include "common/error_text.h"
#include "common/listener.h"
#include "common/log.h"
#include "common/options.h"
#include "common/send_all.h"
#include "common/winsock.h"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <exception>
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

}  // namespace

int main(int argc, char* argv[]) {
    net::ServerOptions options;
    net::CommandLine command_line("stage02_thread_per_client",
                                  "A TCP echo server with a thread for each client.", options);
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
        net::log("listening on ", net::local_address(listener.get()));

        // ANCHOR: accept_loop
        net::AcceptErrors accept_errors;
        std::uint64_t clients_served = 0;
        std::atomic<std::uint64_t> bytes_echoed{0};
        std::atomic<int> live_clients{0};
        net::ClientThreads threads;
        const net::StopAllOnExit wake_threads_on_exit(blocking);
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
            threads.join_finished();
            const std::uint64_t id = ++clients_served;
            net::log("client ", id, " connected from ", net::peer_address(client.get()), " (",
                     ++live_clients, " live)");

            // The thread owns the client's socket from here on; main keeps nothing of it.
            try {
                threads.start([&, id, client = std::move(client)] {
                    std::string why = serve_client(client.get(), bytes_echoed);
                    if (blocking.stopping()) why = "server stopping";  // the error was our wake-up
                    net::log("client ", id, " disconnected: ", why, " (", --live_clients, " live)");
                });
            } catch (const std::exception& failure) {
                // The model's hard limit: no memory or address space left for one more thread
                // (std::system_error) or its state (std::bad_alloc). The client's socket is
                // closed with the lambda that owned it.
                net::log("client ", id, " refused: cannot start a thread: ", failure.what(), " (",
                         --live_clients, " live)");
            }
        }
        threads.join_all();  // Ctrl+C has woken every client thread
        // ANCHOR_END: accept_loop

        net::log("stopped: ", clients_served, " clients served, ", bytes_echoed.load(),
                 " bytes echoed");
        return 0;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "error: %s\n", error.what());
        return 1;
    }
}

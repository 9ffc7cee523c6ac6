// Stage 01 — a blocking TCP echo server, one client at a time.
//
// Base: none, this is the first stage (`scripts/diff.sh NN` shows any later stage against the
// stage it changes). New in this stage: everything. The life of a TCP server in its plainest
// form:
//
//   socket -> bind -> listen -> accept -> recv/send ... -> closesocket -> accept -> ...
//
// Every call blocks: accept() waits for the next client, recv() waits for its bytes, send()
// waits for room in the socket's send buffer. Whatever the client sends comes back unchanged.
// The listening socket (net::make_listener, common/listener.cpp) and the send loop
// (net::send_all, common/send_all.h) are part of this lesson too; they live in common/ because
// every later stage uses them unchanged. notes/01_blocking_echo.md walks through all of it.
//
// What it still leaves out: serving more than one client. While one client is connected the
// next one's connection is complete (the system accepts it into the listen backlog) but no
// one reads from it until the first client leaves. Stage 02 gives each client a thread.
//
// Build without CMake, from the repository root:
//   g++ -std=c++17 -O2 -I. stages/01_blocking_echo/main.cpp common/*.cpp -o stage01_blocking_echo.exe -lws2_32 -static
//   cl /std:c++17 /EHsc /W4 /I. stages\01_blocking_echo\main.cpp common\*.cpp ws2_32.lib
#include "common/accept_errors.h"
#include "common/blocking_sockets.h"
#include "common/ctrl_c.h"
#include "common/error_text.h"
#include "common/listener.h"
#include "common/log.h"
#include "common/options.h"
#include "common/send_all.h"
#include "common/winsock.h"

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
std::string serve_client(SOCKET client, std::uint64_t& bytes_echoed) {
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
    net::CommandLine command_line("stage01_blocking_echo",
                                  "A blocking TCP echo server that serves one client at a time.",
                                  options);
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
        std::uint64_t clients_served = 0, bytes_echoed = 0;
        for (;;) {
            net::UniqueSocket accepted(accept(listener.get(), nullptr, nullptr));
            const int error = accepted ? 0 : WSAGetLastError();  // before any other call
            if (blocking.stopping()) break;                      // Ctrl+C woke accept() up
            if (!accepted) {
                if (!accept_errors.survive(error)) return 1;
                continue;
            }
            accept_errors.on_success();
            const net::AdoptedSocket client = blocking.adopt(std::move(accepted));
            if (!client) break;  // Ctrl+C came between accept() and here
            const std::uint64_t id = ++clients_served;
            net::log("client ", id, " connected from ", net::peer_address(client.get()));

            std::string why = serve_client(client.get(), bytes_echoed);
            if (blocking.stopping()) why = "server stopping";  // the error was our wake-up
            net::log("client ", id, " disconnected: ", why);
        }  // each client's socket is closed at the end of its iteration
        // ANCHOR_END: accept_loop

        net::log("stopped: ", clients_served, " clients served, ", bytes_echoed, " bytes echoed");
        return 0;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "error: %s\n", error.what());
        return 1;
    }
}

// Stage 01, Linux twin — a blocking TCP echo server on POSIX sockets, one client at a time.
//
// Twin of: stage 01 (stages/01_blocking_echo/main.cpp). `scripts/diff.sh linux/01` shows the two
// side by side; notes/linux_01_blocking_echo.md walks through what differs and why.
//
// The same server, the same life of a TCP server, call for call:
//
//   socket -> bind -> listen -> accept -> recv/send ... -> close -> accept -> ...
//
// What differs is the ground under it. A socket is a file descriptor, a small int, closed with
// close() like a file; there is no WSAStartup, because the sockets API is part of the C library
// and the kernel. A failed call returns -1 and leaves its reason in errno. Sending to a client
// that has reset raises SIGPIPE, which would end the process, unless send() is told not to
// (MSG_NOSIGNAL, stages/linux/common/send_all.h). The listener sets SO_REUSEADDR, the option a
// Windows server must avoid (stages/linux/common/listener.cpp says why each side does what it
// does). And Ctrl+C is a signal, SIGINT, whose handler
// interrupts this very thread — a blocked accept() or recv() returns EINTR — rather than a call
// on a thread of Windows' own (stages/linux/common/ctrl_c.h, blocking_sockets.h).
//
// What it still leaves out: the same as its twin. While one client is connected, the next one's
// connection is complete (the kernel accepts it into the listen backlog) but no one reads from it
// until the first client leaves.
//
// Build without CMake, from the repository root:
//   g++ -std=c++17 -O2 -Istages/linux/stand_in -I. stages/linux/01_blocking_echo/main.cpp stages/linux/common/*.cpp common/options.cpp common/log.cpp -o stage01_blocking_echo -pthread
#include "common/log.h"
#include "common/options.h"
#include "stages/linux/common/accept_errors.h"
#include "stages/linux/common/blocking_sockets.h"
#include "stages/linux/common/ctrl_c.h"
#include "stages/linux/common/error_text.h"
#include "stages/linux/common/listener.h"
#include "stages/linux/common/send_all.h"
#include "stages/linux/common/sockets.h"

#include <sys/socket.h>

#include <cerrno>
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
std::string serve_client(int client, std::uint64_t& bytes_echoed) {
    char buffer[buffer_size];
    for (;;) {
        const ssize_t received = recv(client, buffer, buffer_size, 0);
        if (received == 0) return "closed by the client";
        if (received < 0) return "recv failed: " + net::error_text(errno);
        if (!net::send_all(client, buffer, static_cast<std::size_t>(received)))
            return "send failed: " + net::error_text(errno);
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
        // ANCHOR: ctrl_c
        // Ctrl+C is the signal SIGINT, and its handler runs on this very thread, in the middle of
        // a blocked accept(), recv() or send(): that call returns EINTR. blocking.stop_all(),
        // which the handler calls, also shuts every adopted socket down, so that a call made
        // just after the signal returns at once too (stages/linux/common/blocking_sockets.h).
        net::BlockingSockets blocking;
        net::CtrlCHandler ctrl_c(blocking);
        // ANCHOR_END: ctrl_c

        const net::AdoptedSocket listener = blocking.adopt(net::make_listener(options));
        if (!listener) return blocking.stopping() ? 0 : 1;
        net::log("listening on ", net::local_address(listener.get()));

        // ANCHOR: accept_loop
        net::AcceptErrors accept_errors;
        std::uint64_t clients_served = 0, bytes_echoed = 0;
        for (;;) {
            net::UniqueFd accepted(accept(listener.get(), nullptr, nullptr));
            const int error = accepted ? 0 : errno;  // before any other call
            if (blocking.stopping()) break;          // Ctrl+C woke accept() up
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

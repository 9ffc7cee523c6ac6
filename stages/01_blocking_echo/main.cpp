// Stage 01 — a blocking TCP echo server, one client at a time.
//
// New in this stage: everything. The life of a TCP server in its plainest form:
//
//   socket -> bind -> listen -> accept -> recv/send ... -> closesocket -> accept -> ...
//
// Every call blocks: accept() waits for the next client, recv() waits for its bytes, send()
// waits for room in the socket's send buffer. Whatever the client sends comes back unchanged.
//
// What it still leaves out: serving more than one client. While one client is connected the
// next one's connection is complete (the system accepts it into the listen backlog) but no
// one reads from it until the first client leaves. Stage 02 gives each client a thread.
//
// Build without CMake, from the repository root:
//   g++ -std=c++17 -O2 -I. stages/01_blocking_echo/main.cpp common/*.cpp -o stage01_blocking_echo.exe -lws2_32 -static
//   cl /std:c++17 /EHsc /W4 /I. stages\01_blocking_echo\main.cpp common\*.cpp ws2_32.lib
#include "common/blocking_sockets.h"
#include "common/ctrl_c.h"
#include "common/error_text.h"
#include "common/log.h"
#include "common/options.h"
#include "common/winsock.h"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <thread>

namespace {

constexpr int buffer_size = 4096;

// ANCHOR: make_listener
// The listening socket: an address and port to be reached at, and a queue (the backlog) in
// which the system completes new connections until accept() takes them. On failure, one line
// naming the address goes to stderr and the socket returned is empty.
net::UniqueSocket make_listener(const net::ServerOptions& options) {
    auto fail = [&](const char* step, int error) {
        std::fprintf(stderr, "error: cannot listen on %s port %u: %s failed: %s\n",
                     options.host.c_str(), static_cast<unsigned>(options.port), step,
                     net::error_text(error).c_str());
        return net::UniqueSocket();
    };

    // getaddrinfo turns the text address into the sockaddr that bind() needs, IPv4 or IPv6
    // alike. AI_NUMERICHOST: --host is an address, never a name to look up.
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const std::string port = std::to_string(options.port);
    if (const int error = getaddrinfo(options.host.c_str(), port.c_str(), &hints, &found))
        return fail("getaddrinfo", error);
    const std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> address(found, freeaddrinfo);

    net::UniqueSocket listener(
        socket(address->ai_family, address->ai_socktype, address->ai_protocol));
    if (!listener) return fail("socket", WSAGetLastError());

    // On Windows, another program could bind the same port with SO_REUSEADDR and take over
    // our connections. SO_EXCLUSIVEADDRUSE forbids that: while we listen, bind() elsewhere on
    // this port fails. It must be set before bind() to count.
    const BOOL exclusive = TRUE;
    if (setsockopt(listener.get(), SOL_SOCKET, SO_EXCLUSIVEADDRUSE,
                   reinterpret_cast<const char*>(&exclusive), sizeof exclusive) == SOCKET_ERROR)
        return fail("setsockopt(SO_EXCLUSIVEADDRUSE)", WSAGetLastError());

    if (bind(listener.get(), address->ai_addr, static_cast<int>(address->ai_addrlen)) ==
        SOCKET_ERROR)
        return fail("bind", WSAGetLastError());  // WSAEADDRINUSE or WSAEACCES: port taken

    // SOMAXCONN lets Windows choose a large backlog for us.
    if (listen(listener.get(), SOMAXCONN) == SOCKET_ERROR) return fail("listen", WSAGetLastError());
    return listener;
}
// ANCHOR_END: make_listener

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
        if (!send_all(client, buffer, received))
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
        // Ctrl+C arrives on a thread of its own while main is blocked in accept() or recv();
        // closing the sockets main is blocked on is what wakes it (common/blocking_sockets.h).
        net::BlockingSockets blocking;
        net::CtrlCHandler ctrl_c([&blocking] { blocking.stop_all(); });
        // ANCHOR_END: ctrl_c

        const net::AdoptedSocket listener = blocking.adopt(make_listener(options));
        if (!listener) return blocking.stopping() ? 0 : 1;
        net::log("listening on ", net::local_address(listener.get()));

        // ANCHOR: accept_loop
        std::uint64_t clients_served = 0, bytes_echoed = 0;
        for (;;) {
            net::UniqueSocket accepted(accept(listener.get(), nullptr, nullptr));
            if (!accepted) {
                if (blocking.stopping()) break;  // Ctrl+C closed the listener
                // A client that reset before we took it, or a system out of resources: worth
                // a line, not the end of the server. The pause keeps a persistent failure
                // from spinning.
                net::log("accept failed: ", net::error_text(WSAGetLastError()));
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
                continue;
            }
            const net::AdoptedSocket client = blocking.adopt(std::move(accepted));
            if (!client) break;  // Ctrl+C came between accept() and here
            const std::uint64_t id = ++clients_served;
            net::log("client ", id, " connected from ", net::peer_address(client.get()));

            std::string why = serve_client(client.get(), bytes_echoed);
            if (blocking.stopping()) why = "server stopping";  // the error was our own close
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

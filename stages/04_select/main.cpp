// Stage 04 — one thread, non-blocking sockets, select().
//
// Base: stage 02 (the echo; stage 03's chat is left behind). New since then: no thread per
// client. One thread asks select() which sockets are ready — the listener has a connection
// waiting, a client has bytes to read, a client's send buffer has room — and handles exactly
// those, without ever blocking on one client. Sockets are non-blocking (FIONBIO), so a call
// that cannot proceed returns WSAEWOULDBLOCK at once instead of waiting. What a client sent and
// we could not send back yet waits in its `unsent` buffer, and the socket gets write interest
// until the buffer is empty.
//
// The limit of select() on Windows: an fd_set holds FD_SETSIZE sockets, 64 unless the program
// says otherwise, and FD_SET silently ignores sockets beyond that. This stage raises FD_SETSIZE
// to 1024 (below) and refuses clients beyond what the sets can hold, with a line and a close,
// so that no client is ever left hanging unserved.
//
// What it still leaves out: every call to select() hands the kernel the whole list of sockets
// and gets it back, and this loop rebuilds the sets each time: the work per wake-up grows with
// the number of clients, not with the number that are ready. Stage 05 starts on I/O
// completion ports, where the kernel tells us only about what has happened.
//
// Build without CMake, from the repository root:
//   g++ -std=c++17 -O2 -I. stages/04_select/main.cpp common/*.cpp -o stage04_select.exe -lws2_32 -static
//   cl /std:c++17 /EHsc /W4 /I. stages\04_select\main.cpp common\*.cpp ws2_32.lib

// ANCHOR: fd_setsize
// Before winsock2.h (which every common header includes) sees it. On Windows an fd_set is a
// count and an array of SOCKET handles, `SOCKET fd_array[FD_SETSIZE]`, sized by this macro in
// each program that includes the header: any size works. On POSIX systems an fd_set is a
// bitmap indexed by the descriptor number, sized when the C library was built; redefining the
// macro there does not make the library's bitmap any larger.
#define FD_SETSIZE 1024
// ANCHOR_END: fd_setsize

#include "common/accept_errors.h"
#include "common/blocking_sockets.h"
#include "common/ctrl_c.h"
#include "common/error_text.h"
#include "common/listener.h"
#include "common/log.h"
#include "common/options.h"
#include "common/refuse.h"
#include "common/winsock.h"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <map>
#include <string>
#include <thread>
#include <utility>

namespace {

constexpr int buffer_size = 4096;
// Stop reading from a client whose echo has not gone out yet beyond this: a client that does
// not read then finds its own sending stalled by TCP flow control, and nobody else waits.
constexpr std::size_t max_unsent = 64 * 1024;
// The listener takes one place in the read set.
constexpr unsigned max_clients_limit = FD_SETSIZE - 1;

using Clock = std::chrono::steady_clock;

struct Client {
    std::uint64_t id = 0;
    net::UniqueSocket socket;
    std::string unsent;       // received, not yet echoed back
    bool input_done = false;  // the client sent FIN: read nothing more, close once echoed
};

// ANCHOR: make_nonblocking
bool make_nonblocking(SOCKET s) {
    u_long enabled = 1;
    return ioctlsocket(s, static_cast<long>(FIONBIO), &enabled) == 0;
}
// ANCHOR_END: make_nonblocking

bool would_block() { return WSAGetLastError() == WSAEWOULDBLOCK; }

class EchoServer {
public:
    EchoServer(SOCKET listener, unsigned max_clients, const net::BlockingSockets& blocking)
        : listener_(listener), max_clients_(max_clients), blocking_(blocking) {}

    // ANCHOR: run_once
    // One pass: build the sets, wait in select() until something is ready, handle what is.
    // Returns false when the server must stop: Ctrl+C (its connection to the listener ends the
    // wait), or a failure (failed() says so).
    bool run_once() {
        fd_set readable, writable;
        FD_ZERO(&readable);
        FD_ZERO(&writable);
        // While accept() is paused (the system is short of sockets), the listener stays out of
        // the set: a connection waiting in the backlog would make select() return at once.
        const bool accepting = Clock::now() >= accept_paused_until_;
        if (accepting) FD_SET(listener_, &readable);
        for (const auto& [s, client] : clients_) {
            // Read only while there is room to keep what we read; write only what is pending.
            if (!client.input_done && client.unsent.size() < max_unsent) FD_SET(s, &readable);
            if (!client.unsent.empty()) FD_SET(s, &writable);
        }
        if (readable.fd_count == 0 && writable.fd_count == 0) {
            // select() refuses empty sets: with nothing to watch, just wait out the pause.
            std::this_thread::sleep_until(accept_paused_until_);
            return !blocking_.stopping();
        }
        // The first argument is ignored on Windows. No timeout, unless accept() is paused.
        timeval pause{};
        if (!accepting) pause = to_timeval(accept_paused_until_ - Clock::now());
        const int ready = select(0, &readable, &writable, nullptr, accepting ? nullptr : &pause);
        if (blocking_.stopping()) return false;  // Ctrl+C: its cancel may also fail the wait
        if (ready == SOCKET_ERROR) {
            net::log("select failed: ", net::error_text(WSAGetLastError()));
            failed_ = true;
            return false;
        }

        // select() rewrote each set to hold only the ready sockets: walking the array touches
        // just those (FD_ISSET would search the whole array for each one it is asked about).
        // New clients come last, so that no handle in these arrays can belong to a socket
        // accepted during this pass.
        bool listener_ready = false;
        for (u_int i = 0; i < writable.fd_count; ++i) handle_client_writable(writable.fd_array[i]);
        for (u_int i = 0; i < readable.fd_count; ++i) {
            const SOCKET s = readable.fd_array[i];
            if (s == listener_) {
                listener_ready = true;
            } else {
                handle_client_data(s);
            }
        }
        if (listener_ready) handle_new_clients();
        return !failed_;
    }
    // ANCHOR_END: run_once

    // On Ctrl+C: close every client.
    void disconnect_all(const std::string& why) {
        while (!clients_.empty()) close_client(clients_.begin(), why);
    }

    bool failed() const { return failed_; }
    std::uint64_t clients_served() const { return clients_served_; }
    std::uint64_t bytes_echoed() const { return bytes_echoed_; }

private:
    // ANCHOR: handle_new_clients
    // The listener is readable: take every connection that is waiting, not just one. The
    // listener is non-blocking too, so accept() says WSAEWOULDBLOCK when the backlog is empty
    // (a client may have reset between select() and accept()).
    void handle_new_clients() {
        for (;;) {
            net::UniqueSocket socket(accept(listener_, nullptr, nullptr));
            const int error = socket ? 0 : WSAGetLastError();  // before any other call
            if (!socket) {
                if (error == WSAEWOULDBLOCK) return;
                const net::AcceptErrors::Next next = accept_errors_.on_error(error);
                if (next == net::AcceptErrors::Next::accept_now) continue;
                if (next == net::AcceptErrors::Next::accept_later)
                    accept_paused_until_ = Clock::now() + accept_errors_.pause();
                if (next == net::AcceptErrors::Next::stop) failed_ = true;
                return;
            }
            accept_errors_.on_success();
            if (clients_.size() >= max_clients_) {
                // Over the limit: say so and close, rather than leave the client waiting for
                // nothing. (This thread waits for the client's FIN meanwhile, up to drain_ms.)
                net::refuse(socket.get(),
                            "server full (" + std::to_string(max_clients_) + " clients)");
                continue;  // the UniqueSocket closes it
            }
            if (!make_nonblocking(socket.get())) {
                net::log("ioctlsocket(FIONBIO) failed: ", net::error_text(WSAGetLastError()));
                continue;
            }
            const SOCKET s = socket.get();
            Client& client = clients_[s];
            client.id = ++clients_served_;
            client.socket = std::move(socket);
            net::log("client ", client.id, " connected from ", net::peer_address(s), " (",
                     clients_.size(), " live)");
        }
    }
    // ANCHOR_END: handle_new_clients

    // ANCHOR: handle_client_data
    // Readable: bytes, a FIN (0), or an error. recv() will not block: select() said so.
    void handle_client_data(SOCKET s) {
        const auto found = clients_.find(s);
        if (found == clients_.end()) return;  // closed earlier in this pass
        Client& client = found->second;
        char buffer[buffer_size];
        const int received = recv(s, buffer, buffer_size, 0);
        if (received > 0) {
            client.unsent.append(buffer, static_cast<std::size_t>(received));
            handle_client_writable(s);  // try to echo at once; the rest waits for write interest
        } else if (received == 0) {
            client.input_done = true;
            if (client.unsent.empty()) close_client(found, "closed by the client");
        } else if (!would_block()) {
            close_client(found, "recv failed: " + net::error_text(WSAGetLastError()));
        }
    }

    // Writable (or just received): send as much of `unsent` as the socket takes now.
    void handle_client_writable(SOCKET s) {
        const auto found = clients_.find(s);
        if (found == clients_.end()) return;
        Client& client = found->second;
        while (!client.unsent.empty()) {
            const int sent =
                send(s, client.unsent.data(), static_cast<int>(client.unsent.size()), 0);
            if (sent == SOCKET_ERROR) {
                if (would_block()) return;  // the send buffer is full: wait for write interest
                close_client(found, "send failed: " + net::error_text(WSAGetLastError()));
                return;
            }
            client.unsent.erase(0, static_cast<std::size_t>(sent));
            bytes_echoed_ += static_cast<std::uint64_t>(sent);
        }
        if (client.input_done) close_client(found, "closed by the client");  // all echoed
    }
    // ANCHOR_END: handle_client_data

    void close_client(std::map<SOCKET, Client>::iterator found, const std::string& why) {
        net::log("client ", found->second.id, " disconnected: ", why, " (", clients_.size() - 1,
                 " live)");
        clients_.erase(found);  // closes the socket: after FIN and full echo, a graceful close
    }

    static timeval to_timeval(Clock::duration left) {
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(left).count();
        return {static_cast<long>(us / 1000000), static_cast<long>(us % 1000000)};
    }

    const SOCKET listener_;
    const unsigned max_clients_;
    const net::BlockingSockets& blocking_;
    net::AcceptErrors accept_errors_;
    Clock::time_point accept_paused_until_{};  // accept() again from then on
    bool failed_ = false;
    std::map<SOCKET, Client> clients_;
    std::uint64_t clients_served_ = 0;
    std::uint64_t bytes_echoed_ = 0;
};

}  // namespace

int main(int argc, char* argv[]) {
    net::ServerOptions options;
    unsigned max_clients = max_clients_limit;
    net::CommandLine command_line("stage04_select",
                                  "A TCP echo server: one thread, non-blocking sockets, select().",
                                  options);
    command_line.add_option("--max-clients", "N",
                            "clients served at once; more are refused with a line", max_clients, 1,
                            max_clients_limit);
    if (const auto exit_code = command_line.parse_or_exit_code(argc, argv)) return *exit_code;

    try {
        net::WinsockSession winsock;

        // ANCHOR: ctrl_c
        // Ctrl+C arrives on a thread of its own, while our threads may be blocked in accept(),
        // recv() or send(): blocking.stop_all() wakes them all (common/blocking_sockets.h).
        // Here the one thread waits in select(), and only the listener is adopted: the
        // connection stop_all() makes to it ends the wait, and the loop sees stopping().
        net::BlockingSockets blocking;
        net::CtrlCHandler ctrl_c([&blocking] { blocking.stop_all(); });
        // ANCHOR_END: ctrl_c

        const net::AdoptedSocket listener = blocking.adopt(net::make_listener(options));
        if (!listener) return blocking.stopping() ? 0 : 1;
        if (!make_nonblocking(listener.get())) {
            std::fprintf(stderr, "error: ioctlsocket(FIONBIO): %s\n",
                         net::error_text(WSAGetLastError()).c_str());
            return 1;
        }
        net::log("listening on ", net::local_address(listener.get()));

        // ANCHOR: main_loop
        EchoServer server(listener.get(), max_clients, blocking);
        while (server.run_once()) {
        }
        server.disconnect_all("server stopping");
        // ANCHOR_END: main_loop

        net::log("stopped: ", server.clients_served(), " clients served, ", server.bytes_echoed(),
                 " bytes echoed");
        return server.failed() ? 1 : 0;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "error: %s\n", error.what());
        return 1;
    }
}

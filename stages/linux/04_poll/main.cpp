// Stage 04, Linux twin — one thread, non-blocking sockets, poll().
//
// Twin of: stage 04 (stages/04_select/main.cpp). `scripts/diff.sh linux/04` shows the two side
// by side; notes/linux_04_poll.md walks through what differs and why.
//
// The same idea: no thread per client. One thread asks poll() which sockets are ready — the
// listener has a connection waiting, a client has bytes to read, a client's send buffer has room
// — and handles exactly those, without ever blocking on one client. Sockets are non-blocking
// (O_NONBLOCK), so a call that cannot proceed fails with EAGAIN at once instead of waiting. What
// a client sent and we could not send back yet waits in its `unsent` buffer, and the socket asks
// for POLLOUT until the buffer is empty.
//
// What differs: poll(), not select(). On Linux select() is limited by the *value* of a
// descriptor, not by how many there are: an fd_set is a bitmap of FD_SETSIZE = 1024 bits, and a
// descriptor numbered 1024 or more cannot be put in one at all (fd_setsize below). poll() takes
// an array of any length, of descriptors of any value: the limit is the process's descriptor
// limit, which this server raises at start (net::raise_descriptor_limit), and its --max-clients
// default follows from it. And Ctrl+C: the signals are blocked except while the thread waits in
// ppoll(), which lets them in atomically — the handler only sets a flag, and the wait it
// interrupts is the only place it can run.
//
// What it still leaves out: the same as its twin. Every call to poll() hands the kernel the
// whole array and gets it back, and this loop rebuilds it and scans every entry each time: the
// work per wake-up grows with the number of clients, not with the number that are ready. The
// twin of stage 07, stages/linux/07_epoll, keeps the list in the kernel (epoll).
//
// Build without CMake, from the repository root:
//   g++ -std=c++17 -O2 -Istages/linux/stand_in -I. stages/linux/04_poll/main.cpp stages/linux/common/*.cpp common/options.cpp common/log.cpp -o stage04_poll -pthread

// ANCHOR: fd_setsize
// Windows' stage defines FD_SETSIZE here, before the headers, because a Winsock fd_set is a count
// and an array of handles that each program sizes for itself. A Linux fd_set is a bitmap indexed
// by the descriptor's number, its size fixed when the C library was built (1024 bits): a larger
// FD_SETSIZE here would change nothing that glibc's FD_SET and select() use, and FD_SET on a
// descriptor of 1024 or more is undefined behaviour (select(2)). With _FORTIFY_SOURCE glibc
// checks and ends the program ("*** bit out of range 0 - FD_SETSIZE on fd_set ***"); without, the
// bit is set in whatever memory follows the set. fd_setsize_demo.cpp, beside this file, shows
// both. A server with more than about a thousand connections gets such descriptors, so it cannot
// use select() at all. poll() has no such limit, and nothing to define here.
// ANCHOR_END: fd_setsize

#include "common/log.h"
#include "common/options.h"
#include "stages/linux/common/accept_errors.h"
#include "stages/linux/common/blocking_sockets.h"
#include "stages/linux/common/ctrl_c.h"
#include "stages/linux/common/descriptor_limit.h"
#include "stages/linux/common/error_text.h"
#include "stages/linux/common/listener.h"
#include "stages/linux/common/refuse.h"
#include "stages/linux/common/sockets.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace {

constexpr int buffer_size = 4096;
// Stop reading from a client whose echo has not gone out yet beyond this: a client that does
// not read then finds its own sending stalled by TCP flow control, and nobody else waits.
constexpr std::size_t max_unsent = 64 * 1024;

using Clock = std::chrono::steady_clock;

struct Client {
    std::uint64_t id = 0;
    net::UniqueFd socket;
    std::string unsent;       // received, not yet echoed back
    bool input_done = false;  // the client sent FIN: read nothing more, close once echoed
};

// ANCHOR: make_nonblocking
// On Linux an accepted socket does not inherit O_NONBLOCK from the listener (accept(2)), so
// each one is made non-blocking here, as on Windows.
bool make_nonblocking(int s) {
    const int flags = fcntl(s, F_GETFL);
    return flags >= 0 && fcntl(s, F_SETFL, flags | O_NONBLOCK) == 0;
}
// ANCHOR_END: make_nonblocking

bool would_block() { return errno == EAGAIN || errno == EWOULDBLOCK; }

class EchoServer {
public:
    EchoServer(int listener, unsigned max_clients, const net::BlockingSockets& blocking,
               const sigset_t& wait_mask)
        : listener_(listener),
          max_clients_(max_clients),
          blocking_(blocking),
          wait_mask_(wait_mask) {}

    // ANCHOR: run_once
    // One pass: build the array, wait in ppoll() until something is ready, handle what is.
    // Returns false when the server must stop: Ctrl+C (its signal interrupts the wait), or a
    // failure (failed() says so).
    bool run_once() {
        // Ctrl+C is blocked outside ppoll() (main's net::CtrlCBlocked), so the flag read here
        // cannot change before the wait begins: a signal that comes now stays pending, and
        // ppoll() takes it the moment it opens the mask. No signal is ever missed.
        if (blocking_.stopping()) return false;
        std::vector<pollfd> fds;
        fds.reserve(clients_.size() + 1);
        // While accept() is paused (the process is short of descriptors), the listener stays out
        // of the array: a connection waiting in the backlog would make ppoll() return at once.
        const bool accepting = Clock::now() >= accept_paused_until_;
        if (accepting) fds.push_back({listener_, POLLIN, 0});
        for (const auto& [s, client] : clients_) {
            // Read only while there is room to keep what we read; write only what is pending.
            short events = 0;
            if (!client.input_done && client.unsent.size() < max_unsent) events |= POLLIN;
            if (!client.unsent.empty()) events |= POLLOUT;
            fds.push_back({s, events, 0});
        }
        // No timeout, unless accept() is paused. An empty array is fine: ppoll() then just waits
        // out the pause (or a signal) — Windows' select() refuses empty sets.
        timespec pause{};
        if (!accepting) pause = to_timespec(accept_paused_until_ - Clock::now());
        const int ready = ppoll(fds.data(), fds.size(), accepting ? nullptr : &pause, &wait_mask_);
        if (blocking_.stopping()) return false;  // Ctrl+C: the handler ran inside ppoll()
        if (ready < 0) {
            if (errno == EINTR) return true;  // another signal's handler: wait again
            net::log("ppoll failed: ", net::error_text(errno));
            failed_ = true;
            return false;
        }

        // poll() hands back the whole array, with what happened to each entry in revents: every
        // entry is looked at, ready or not (select() on Windows rewrote its sets to hold only
        // the ready sockets). POLLHUP and POLLERR come whatever was asked: the call that follows
        // (recv or send) says what they mean. New clients come last, so that no descriptor in
        // the array can belong to a socket accepted during this pass — on Linux a closed
        // client's number is the very next one accept() hands out.
        bool listener_ready = false;
        for (const pollfd& entry : fds) {
            if (entry.fd != listener_ && (entry.events & POLLOUT) &&
                (entry.revents & (POLLOUT | POLLHUP | POLLERR)))
                handle_client_writable(entry.fd);
        }
        for (const pollfd& entry : fds) {
            if (entry.fd == listener_) {
                listener_ready = (entry.revents & POLLIN) != 0;
            } else if ((entry.events & POLLIN) && (entry.revents & (POLLIN | POLLHUP | POLLERR))) {
                handle_client_data(entry.fd);
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
    // listener is non-blocking too, so accept() says EAGAIN when the backlog is empty (a client
    // may have reset between ppoll() and accept()).
    void handle_new_clients() {
        for (;;) {
            net::UniqueFd socket(accept(listener_, nullptr, nullptr));
            const int error = socket ? 0 : errno;  // before any other call
            if (!socket) {
                if (error == EAGAIN || error == EWOULDBLOCK) return;
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
                continue;  // the UniqueFd closes it
            }
            if (!make_nonblocking(socket.get())) {
                net::log("fcntl(O_NONBLOCK) failed: ", net::error_text(errno));
                continue;
            }
            const int s = socket.get();
            Client& client = clients_[s];
            client.id = ++clients_served_;
            client.socket = std::move(socket);
            net::log("client ", client.id, " connected from ", net::peer_address(s), " (",
                     clients_.size(), " live)");
        }
    }
    // ANCHOR_END: handle_new_clients

    // ANCHOR: handle_client_data
    // Readable: bytes, a FIN (0), or an error. recv() will not block: poll() said so, and the
    // socket is non-blocking anyway.
    void handle_client_data(int s) {
        const auto found = clients_.find(s);
        if (found == clients_.end()) return;  // closed earlier in this pass
        Client& client = found->second;
        char buffer[buffer_size];
        const ssize_t received = recv(s, buffer, buffer_size, 0);
        if (received > 0) {
            client.unsent.append(buffer, static_cast<std::size_t>(received));
            handle_client_writable(s);  // try to echo at once; the rest waits for POLLOUT
        } else if (received == 0) {
            client.input_done = true;
            if (client.unsent.empty()) close_client(found, "closed by the client");
        } else if (!would_block()) {
            close_client(found, "recv failed: " + net::error_text(errno));
        }
    }

    // Writable (or just received): send as much of `unsent` as the socket takes now.
    // MSG_NOSIGNAL: a client that has reset must cost its connection, not the process (SIGPIPE).
    void handle_client_writable(int s) {
        const auto found = clients_.find(s);
        if (found == clients_.end()) return;
        Client& client = found->second;
        while (!client.unsent.empty()) {
            const ssize_t sent = send(s, client.unsent.data(), client.unsent.size(), MSG_NOSIGNAL);
            if (sent < 0) {
                if (would_block()) return;  // the send buffer is full: wait for POLLOUT
                close_client(found, "send failed: " + net::error_text(errno));
                return;
            }
            client.unsent.erase(0, static_cast<std::size_t>(sent));
            bytes_echoed_ += static_cast<std::uint64_t>(sent);
        }
        if (client.input_done) close_client(found, "closed by the client");  // all echoed
    }
    // ANCHOR_END: handle_client_data

    void close_client(std::map<int, Client>::iterator found, const std::string& why) {
        net::log("client ", found->second.id, " disconnected: ", why, " (", clients_.size() - 1,
                 " live)");
        clients_.erase(found);  // closes the socket: after FIN and full echo, a graceful close
    }

    static timespec to_timespec(Clock::duration left) {
        const auto ns = std::max<std::int64_t>(
            0, std::chrono::duration_cast<std::chrono::nanoseconds>(left).count());
        return {static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    }

    const int listener_;
    const unsigned max_clients_;
    const net::BlockingSockets& blocking_;
    const sigset_t wait_mask_;  // the mask ppoll() waits with: Ctrl+C's signals let in
    net::AcceptErrors accept_errors_;
    Clock::time_point accept_paused_until_{};  // accept() again from then on
    bool failed_ = false;
    std::map<int, Client> clients_;
    std::uint64_t clients_served_ = 0;
    std::uint64_t bytes_echoed_ = 0;
};

}  // namespace

int main(int argc, char* argv[]) {
    // ANCHOR: max_clients
    // The twin of Windows' `FD_SETSIZE - 1`: here the limit is the descriptors this process may
    // open, one per client, after those it needs for itself (raised first, as far as allowed).
    const unsigned max_clients_limit = net::clients_within(net::raise_descriptor_limit());
    // ANCHOR_END: max_clients
    net::ServerOptions options;
    unsigned max_clients = max_clients_limit;
    net::CommandLine command_line(
        "stage04_poll", "A TCP echo server: one thread, non-blocking sockets, poll().", options);
    command_line.add_option("--max-clients", "N",
                            "clients served at once; more are refused with a line", max_clients, 1,
                            max_clients_limit);
    if (const auto exit_code = command_line.parse_or_exit_code(argc, argv)) return *exit_code;

    try {
        // ANCHOR: ctrl_c
        // Ctrl+C is the signal SIGINT; its handler calls blocking.stop_all(), which sets the
        // flag. Here the signals are blocked everywhere but inside ppoll(), so the handler can
        // run only there: ppoll() returns EINTR and the loop sees stopping(). That alone closes
        // the gap that stage 01's twin closes by shutting sockets down (a signal just before the
        // wait), so nothing is adopted here: setting the flag is all the handler has to do.
        net::BlockingSockets blocking;
        net::CtrlCHandler ctrl_c(blocking);
        const net::CtrlCBlocked ctrl_c_blocked;  // from here on; the mask is restored at exit
        // ANCHOR_END: ctrl_c

        const net::UniqueFd listener = net::make_listener(options);
        if (!listener) return 1;
        if (!make_nonblocking(listener.get())) {
            std::fprintf(stderr, "error: fcntl(O_NONBLOCK): %s\n", net::error_text(errno).c_str());
            return 1;
        }
        net::log("listening on ", net::local_address(listener.get()));

        // ANCHOR: main_loop
        EchoServer server(listener.get(), max_clients, blocking, ctrl_c_blocked.wait_mask());
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

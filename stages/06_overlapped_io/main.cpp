// Stage 06 — overlapped I/O: start an operation, do something else, learn when it is done.
//
// Base: stage 04. New since then: asynchronous socket I/O, without a completion port yet.
// WSARecv and WSASend are given an OVERLAPPED and return at once; the operation goes on in the
// kernel, which signals the OVERLAPPED's event when it is complete. One thread waits on all the
// events at once (WSAWaitForMultipleEvents) instead of select(), and for each finished
// operation asks how it went (WSAGetOverlappedResult) and starts the next one. Each client has
// one operation in flight at a time: a receive, then the send of what arrived (continued until
// every byte is out), then the next receive.
//
// The rule that comes with overlapped I/O: from the call until the completion is seen, the
// OVERLAPPED and the buffer belong to the kernel. They must not move, be reused or be freed —
// not even when the operation is cancelled or the socket closed, because that only starts the
// cancellation.
//
// What it still leaves out: WSAWaitForMultipleEvents waits on at most 64 handles
// (WSA_MAXIMUM_WAIT_EVENTS). Two are ours (Ctrl+C, the listener), so this stage serves 62
// clients and refuses more with a line. And one thread does all the work. Stage 07 replaces
// the events with a completion port: no limit on the number of sockets, and a pool of threads.
//
// Build without CMake, from the repository root:
//   g++ -std=c++17 -O2 -I. stages/06_overlapped_io/main.cpp common/*.cpp -o stage06_overlapped_io.exe -lws2_32 -static
//   cl /std:c++17 /EHsc /W4 /I. stages\06_overlapped_io\main.cpp common\*.cpp ws2_32.lib
#include "common/accept_errors.h"
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
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

constexpr DWORD buffer_size = 4096;
// Slots 0 and 1 of the wait are the Ctrl+C event and the listener's event.
constexpr DWORD first_client_slot = 2;
constexpr unsigned max_clients = WSA_MAXIMUM_WAIT_EVENTS - first_client_slot;  // 62

using Clock = std::chrono::steady_clock;

// ANCHOR: client
// One client and its one operation in flight — always exactly one, from the moment it is
// added to the list until its last completion has been seen. Held by std::unique_ptr so that
// its address — and so the OVERLAPPED's and the buffer's — never changes while the kernel
// holds them.
struct Client {
    std::uint64_t id = 0;
    net::UniqueSocket socket;
    net::UniqueHandle event;  // signalled by the kernel when the operation completes
    OVERLAPPED overlapped{};
    char buffer[buffer_size];
    bool sending = false;  // the operation in flight: false = WSARecv, true = WSASend
    DWORD to_send = 0;     // bytes of `buffer` to echo, and how many are sent already
    DWORD sent = 0;
};
// ANCHOR_END: client

// ANCHOR: io_failed
// The one error test of overlapped I/O: a call that returns SOCKET_ERROR with
// WSA_IO_PENDING has *started*, not failed. A return of 0 means it completed at once; the
// event is signalled and the result is collected the same way in both cases.
bool io_failed(int result) { return result == SOCKET_ERROR && WSAGetLastError() != WSA_IO_PENDING; }
// ANCHOR_END: io_failed

// ANCHOR: start_io
// Start the client's next operation: receive into the buffer, or send the part of it not sent
// yet. Returns false when it could not even be started.
bool start_receive(Client& client) {
    client.sending = false;
    client.overlapped = OVERLAPPED{};
    client.overlapped.hEvent = client.event.get();
    WSABUF wsabuf{buffer_size, client.buffer};
    DWORD flags = 0;
    const int result =
        WSARecv(client.socket.get(), &wsabuf, 1, nullptr, &flags, &client.overlapped, nullptr);
    return !io_failed(result);
}

bool start_send(Client& client) {
    client.sending = true;
    client.overlapped = OVERLAPPED{};
    client.overlapped.hEvent = client.event.get();
    WSABUF wsabuf{client.to_send - client.sent, client.buffer + client.sent};
    const int result =
        WSASend(client.socket.get(), &wsabuf, 1, nullptr, 0, &client.overlapped, nullptr);
    return !io_failed(result);
}
// ANCHOR_END: start_io

class EchoServer {
public:
    EchoServer(SOCKET listener, WSAEVENT listener_event, WSAEVENT stop_event)
        : listener_(listener), listener_event_(listener_event), stop_event_(stop_event) {}

    // main disconnects everyone after the loop; if it leaves by an exception, this does.
    ~EchoServer() { disconnect_all("server stopping"); }

    // ANCHOR: run_once
    // One pass: wait until any event is signalled, then handle everything that is ready.
    // Returns false when the server must stop: Ctrl+C set the stop event, or a failure
    // (failed() says so).
    bool run_once() {
        // While accept() is paused (the system is short of sockets), the listener's event
        // stays out of the wait: WSAEventSelect signals it again after every accept(), even a
        // failed one, so waiting on it would spin.
        const bool accepting = Clock::now() >= accept_paused_until_;
        std::vector<WSAEVENT> events{stop_event_};
        if (accepting) events.push_back(listener_event_);
        for (const auto& client : clients_) events.push_back(client->event.get());
        const DWORD timeout = accepting ? WSA_INFINITE : milliseconds_until(accept_paused_until_);
        const DWORD signalled = WSAWaitForMultipleEvents(static_cast<DWORD>(events.size()),
                                                         events.data(), FALSE, timeout, FALSE);
        if (signalled == WSA_WAIT_FAILED) {
            net::log("WSAWaitForMultipleEvents failed: ", net::error_text(WSAGetLastError()));
            failed_ = true;
            return false;
        }
        if (signalled == WSA_WAIT_EVENT_0) return false;  // the stop event

        // The wait names only the lowest signalled slot. Looking at every client, not just that
        // one, keeps a busy low slot from starving the slots after it. WSAGetOverlappedResult
        // with fWait FALSE is the documented way to ask "is it done yet?": while the operation
        // is in flight it fails with WSA_IO_INCOMPLETE.
        for (std::size_t i = 0; i < clients_.size();) {
            Client& client = *clients_[i];
            DWORD bytes = 0, flags = 0;
            const bool ok = WSAGetOverlappedResult(client.socket.get(), &client.overlapped, &bytes,
                                                   FALSE, &flags) != FALSE;
            const int error = ok ? 0 : WSAGetLastError();  // before any other call
            if (!ok && error == WSA_IO_INCOMPLETE) {
                ++i;  // still in flight
            } else if (handle_completion(client, ok, error, bytes)) {
                ++i;
            } else {
                clients_.erase(clients_.begin() + static_cast<std::ptrdiff_t>(i));
            }
        }
        WSANETWORKEVENTS network_events{};
        if (accepting && WSAEnumNetworkEvents(listener_, listener_event_, &network_events) == 0 &&
            (network_events.lNetworkEvents & FD_ACCEPT))
            handle_new_clients();
        return !failed_;
    }
    // ANCHOR_END: run_once

    // ANCHOR: disconnect_all
    // Each client has an operation in flight, and the kernel owns its OVERLAPPED and buffer
    // until the completion is signalled. So: cancel it (CancelIoEx), wait for that completion
    // — success or ERROR_OPERATION_ABORTED, it does not matter which — and only then free the
    // Client, which closes its socket.
    void disconnect_all(const std::string& why) {
        for (auto& client : clients_) {
            net::log("client ", client->id, " disconnected: ", why);
            CancelIoEx(reinterpret_cast<HANDLE>(client->socket.get()), &client->overlapped);
            const WSAEVENT event = client->event.get();
            WSAWaitForMultipleEvents(1, &event, TRUE, WSA_INFINITE, FALSE);
        }
        clients_.clear();
    }
    // ANCHOR_END: disconnect_all

    bool failed() const { return failed_; }
    std::uint64_t clients_served() const { return clients_served_; }
    std::uint64_t bytes_echoed() const { return bytes_echoed_; }

private:
    // ANCHOR: handle_completion
    // A finished operation: how did it go? Then start the next one. Returns false when the
    // client is done (its completion has been seen, so it may be freed now).
    bool handle_completion(Client& client, bool ok, int error, DWORD bytes) {
        WSAResetEvent(client.event.get());
        if (!ok)
            return close_client(client, (client.sending ? "send failed: " : "recv failed: ") +
                                            net::error_text(error));
        if (!client.sending) {
            if (bytes == 0) return close_client(client, "closed by the client");
            client.to_send = bytes;
            client.sent = 0;
            if (!start_send(client))
                return close_client(client, "send failed: " + net::error_text(WSAGetLastError()));
            return true;
        }
        client.sent += bytes;
        bytes_echoed_ += bytes;
        // A send may complete with fewer bytes than asked: send the rest before reading more.
        const bool started =
            client.sent < client.to_send ? start_send(client) : start_receive(client);
        if (!started)
            return close_client(client, "I/O failed: " + net::error_text(WSAGetLastError()));
        return true;
    }
    // ANCHOR_END: handle_completion

    // ANCHOR: handle_new_clients
    // The listener's event says connections are waiting: take every one of them. The listener
    // is non-blocking (WSAEventSelect made it so), so accept() says WSAEWOULDBLOCK when the
    // backlog is empty.
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
            // An accepted socket inherits the listener's WSAEventSelect, and with it the
            // non-blocking mode. Undo both: this socket's events come from its OVERLAPPED.
            WSAEventSelect(socket.get(), nullptr, 0);
            u_long non_blocking = 0;
            ioctlsocket(socket.get(), static_cast<long>(FIONBIO), &non_blocking);
            if (clients_.size() >= max_clients) {
                // Over the limit: say so and close, rather than leave the client waiting for
                // nothing. (This thread waits for the client's FIN meanwhile, up to drain_ms.)
                net::refuse(socket.get(),
                            "server full (" + std::to_string(max_clients) + " clients)");
                continue;  // the UniqueSocket closes it
            }
            auto client = std::make_unique<Client>();
            client->socket = std::move(socket);
            client->event.reset(WSACreateEvent());
            if (!client->event) {
                net::log("WSACreateEvent failed: ", net::error_text(WSAGetLastError()));
                continue;
            }
            client->id = ++clients_served_;
            clients_.push_back(std::move(client));
            Client& added = *clients_.back();
            net::log("client ", added.id, " connected from ", net::peer_address(added.socket.get()),
                     " (", clients_.size(), " live)");
            if (!start_receive(added)) {
                close_client(added, "recv failed: " + net::error_text(WSAGetLastError()));
                clients_.pop_back();  // nothing in flight: it may go at once
            }
        }
    }
    // ANCHOR_END: handle_new_clients

    bool close_client(Client& client, const std::string& why) {
        net::log("client ", client.id, " disconnected: ", why, " (", clients_.size() - 1, " live)");
        return false;
    }

    static DWORD milliseconds_until(Clock::time_point then) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(then - Clock::now());
        return left.count() > 0 ? static_cast<DWORD>(left.count()) : 0;
    }

    const SOCKET listener_;
    const WSAEVENT listener_event_;
    const WSAEVENT stop_event_;
    net::AcceptErrors accept_errors_;
    Clock::time_point accept_paused_until_{};  // accept() again from then on
    bool failed_ = false;
    std::vector<std::unique_ptr<Client>> clients_;
    std::uint64_t clients_served_ = 0;
    std::uint64_t bytes_echoed_ = 0;
};

}  // namespace

int main(int argc, char* argv[]) {
    net::ServerOptions options;
    net::CommandLine command_line(
        "stage06_overlapped_io",
        "A TCP echo server on one thread with overlapped WSARecv/WSASend and event objects.",
        options);
    if (const auto exit_code = command_line.parse_or_exit_code(argc, argv)) return *exit_code;

    try {
        net::WinsockSession winsock;

        // ANCHOR: ctrl_c
        // Ctrl+C only sets an event: the wait below includes it, so nothing has to be woken
        // from the handler's thread any more.
        const net::UniqueHandle stop_event(WSACreateEvent());
        if (!stop_event) throw std::runtime_error("WSACreateEvent failed");
        net::CtrlCHandler ctrl_c([&stop_event] { WSASetEvent(stop_event.get()); });
        // ANCHOR_END: ctrl_c

        const net::UniqueSocket listener = net::make_listener(options);
        if (!listener) return 1;
        // ANCHOR: listener_event
        // The listener's "a connection is waiting" becomes an event too, so one wait covers
        // everything. (WSAEventSelect also makes the listener non-blocking.)
        const net::UniqueHandle listener_event(WSACreateEvent());
        if (!listener_event ||
            WSAEventSelect(listener.get(), listener_event.get(), FD_ACCEPT) == SOCKET_ERROR) {
            std::fprintf(stderr, "error: WSAEventSelect: %s\n",
                         net::error_text(WSAGetLastError()).c_str());
            return 1;
        }
        // ANCHOR_END: listener_event
        net::log("listening on ", net::local_address(listener.get()));

        // ANCHOR: main_loop
        EchoServer server(listener.get(), listener_event.get(), stop_event.get());
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

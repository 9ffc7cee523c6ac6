// Stage 03 — broadcast chat: threads per client and a shared, locked list of clients.
//
// Base: stage 02. New since then: clients talk to each other. The server is no longer an echo:
// each line a client sends goes to every *other* client, and the clients must share state —
// who is here — under a lock. The protocol, exactly:
//
//   - clients are numbered 1, 2, 3, ... in the order they connect;
//   - when client N joins, every other client receives  "* client N joined\n";
//   - when client N leaves (cleanly, by reset, or dropped), the others receive "* client N left\n";
//   - each complete line from client N (ended by "\n"; one trailing "\r" is removed) goes to every
//     other client as "[N] <line>\n"; the sender does not get its own line back;
//   - a line longer than 4096 bytes: that client receives "* error: line too long\n" and is
//     disconnected; nobody else is affected.
//
// The hard part is sending. Several threads want to write to the same client (everyone who
// talks), and a client that never reads makes send() block forever. So each client has an
// outbox and a writer thread of its own: broadcasting only appends to outboxes, under locks
// that are never held across a send(); the writer is the only thread that sends to its socket,
// so bytes sent to one client are never interleaved. An outbox that grows past its bound means
// the client is not reading: it is dropped, and nobody else waits for it.
//
// What it still leaves out: two threads per client is the thread-per-client model at double the
// price. Stage 04 goes back to the echo of stage 02 and serves everyone from one thread with
// select().
//
// Build without CMake, from the repository root:
//   g++ -std=c++17 -O2 -I. stages/03_broadcast_chat/main.cpp common/*.cpp -o stage03_broadcast_chat.exe -lws2_32 -static
//   cl /std:c++17 /EHsc /W4 /I. stages\03_broadcast_chat\main.cpp common\*.cpp ws2_32.lib
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

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace {

constexpr int buffer_size = 4096;
constexpr std::size_t max_line = 4096;          // bytes of text, without "\r\n"
constexpr std::size_t max_outbox = 256 * 1024;  // bytes queued for one client, not yet sent
constexpr DWORD send_timeout_ms = 10000;        // how long one send() may wait for a reader

// ANCHOR: client
// One chat member, shared (std::shared_ptr) by its reader thread, its writer thread and the
// room. The socket is closed when the last of the three lets go, so neither thread can ever
// use a handle that the other has closed.
class Client {
public:
    Client(std::uint64_t client_id, net::AdoptedSocket client_socket)
        : id_(client_id), socket_(std::move(client_socket)) {}

    std::uint64_t id() const { return id_; }
    SOCKET socket() const { return socket_.get(); }

    // Any thread: queue text for this client. Returns false when the outbox is over its bound
    // (the client is not reading); the text is then not queued.
    bool queue(const std::string& text) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (closing_) return true;  // it is leaving: what it misses no longer matters
        if (outbox_.size() + text.size() > max_outbox) return false;
        outbox_ += text;
        wake_.notify_one();
        return true;
    }

    // No more text will be queued. With `deliver`, the writer sends what is queued, then
    // shuts down the sending side (the client sees end of stream); without, it drops it.
    void finish(bool deliver) {
        std::lock_guard<std::mutex> lock(mutex_);
        closing_ = true;
        if (!deliver) {
            outbox_.clear();
            dropped_ = true;
        }
        wake_.notify_one();
    }

    bool dropped() {
        std::lock_guard<std::mutex> lock(mutex_);
        return dropped_;
    }

    // ANCHOR: write_loop
    // The writer thread: the only thread that sends to this socket. It waits for text without
    // holding the lock across send(), so a client that does not read blocks only this thread.
    // Returns false when the client could not be sent to (a reset, a send timeout, or dropped
    // for not reading).
    bool write_loop() {
        for (;;) {
            std::string batch;
            {
                std::unique_lock<std::mutex> lock(mutex_);
                wake_.wait(lock, [this] { return !outbox_.empty() || closing_; });
                if (outbox_.empty()) break;  // closing, and everything is sent
                batch.swap(outbox_);
            }
            // A batch is at most max_outbox bytes, so its length fits send()'s int.
            if (!net::send_all(socket(), batch.data(), static_cast<int>(batch.size()))) {
                finish(false);
                // Both directions: our FIN (should it ever read again), and no more input.
                shutdown(socket(), SD_BOTH);
                return false;
            }
        }
        // Our FIN: a client still reading gets everything queued, then end of stream.
        shutdown(socket(), SD_SEND);
        return !dropped();
    }
    // ANCHOR_END: write_loop

private:
    const std::uint64_t id_;
    const net::AdoptedSocket socket_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::string outbox_;    // queued, not yet handed to send()
    bool closing_ = false;  // no more text will be queued
    bool dropped_ = false;  // and what was queued is thrown away
};
// ANCHOR_END: client

// ANCHOR: chat_room
// Who is here. Joining, leaving and broadcasting all take the room's lock, so every member
// sees the same order of events: a line is never delivered before its sender's "joined".
// Under the lock we only append to outboxes; no send() ever happens while it is held.
class ChatRoom {
public:
    void join(const std::shared_ptr<Client>& client) {
        std::lock_guard<std::mutex> lock(mutex_);
        broadcast_locked(*client, "* client " + std::to_string(client->id()) + " joined\n");
        members_.push_back(client);
    }

    // Idempotent: the first caller (reader, or a sender who found the outbox full) announces it.
    void leave(const Client& client) {
        std::lock_guard<std::mutex> lock(mutex_);
        leave_locked(client);
    }

    void broadcast(const Client& from, const std::string& text) {
        std::lock_guard<std::mutex> lock(mutex_);
        broadcast_locked(from, text);
    }

private:
    void broadcast_locked(const Client& from, const std::string& text) {
        std::vector<std::shared_ptr<Client>> too_slow;
        for (const auto& member : members_) {
            if (member.get() != &from && !member->queue(text)) too_slow.push_back(member);
        }
        // A full outbox: the member stopped reading. Drop it rather than wait for it.
        for (const auto& member : too_slow) {
            net::log("client ", member->id(), " dropped: it stopped reading (outbox over ",
                     max_outbox, " bytes)");
            member->finish(false);
            leave_locked(*member);
        }
    }

    void leave_locked(const Client& client) {
        const auto found = std::find_if(members_.begin(), members_.end(), [&](const auto& member) {
            return member.get() == &client;
        });
        if (found == members_.end()) return;  // already gone
        members_.erase(found);
        broadcast_locked(client, "* client " + std::to_string(client.id()) + " left\n");
    }

    std::mutex mutex_;
    std::vector<std::shared_ptr<Client>> members_;
};
// ANCHOR_END: chat_room

// ANCHOR: serve_client
// How a reader thread ended, and whether it was the client's fault.
struct Ending {
    std::string why;
    bool line_too_long = false;
};

// The reader thread: split what arrives into lines and broadcast each one. Bytes arrive in any
// split — half a line, three lines and a half — so they collect in `pending` until a "\n".
Ending serve_client(Client& client, ChatRoom& room) {
    const std::string tag = "[" + std::to_string(client.id()) + "] ";
    std::string pending;
    char buffer[buffer_size];
    for (;;) {
        const int received = recv(client.socket(), buffer, buffer_size, 0);
        if (received == 0) return {"closed by the client"};
        if (received == SOCKET_ERROR) return {"recv failed: " + net::error_text(WSAGetLastError())};
        pending.append(buffer, static_cast<std::size_t>(received));

        std::size_t start = 0;
        for (std::size_t end; (end = pending.find('\n', start)) != std::string::npos;
             start = end + 1) {
            std::size_t length = end - start;
            if (length > 0 && pending[end - 1] == '\r') --length;  // one trailing "\r" goes
            if (length > max_line) return {"line too long", true};
            room.broadcast(client, tag + pending.substr(start, length) + "\n");
        }
        pending.erase(0, start);
        // No "\n" yet, but already more than max_line bytes (not counting a "\r" that may be
        // the end of the line): it cannot fit whatever comes next.
        std::size_t so_far = pending.size();
        if (so_far > 0 && pending.back() == '\r') --so_far;
        if (so_far > max_line) return {"line too long", true};
    }
}
// ANCHOR_END: serve_client

// ANCHOR: drain_input
// After "* error: line too long": read and discard what the client still sends, until it
// closes (or a generous amount), before closing. Closing a socket with unread input makes
// the system reset the connection, and on Windows a reset destroys the error line if the
// client has not read it yet.
void drain_input(SOCKET s) {
    char buffer[buffer_size];
    for (int total = 0; total < (1 << 20);) {
        const int received = recv(s, buffer, buffer_size, 0);
        if (received <= 0) return;
        total += received;
    }
}
// ANCHOR_END: drain_input

}  // namespace

int main(int argc, char* argv[]) {
    net::ServerOptions options;
    net::CommandLine command_line("stage03_broadcast_chat",
                                  "A line-based chat: every line goes to every other client.",
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
        std::uint64_t clients_served = 0;
        ChatRoom room;
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
            // A send() that waits this long for the client to read fails, so a client that
            // stopped reading cannot hold its writer thread forever.
            setsockopt(client.get(), SOL_SOCKET, SO_SNDTIMEO,
                       reinterpret_cast<const char*>(&send_timeout_ms), sizeof send_timeout_ms);
            const std::uint64_t id = ++clients_served;
            net::log("client ", id, " connected from ", net::peer_address(client.get()), " (",
                     ++live_clients, " live)");
            const auto member = std::make_shared<Client>(id, std::move(client));

            // Two threads share the member from here on; main keeps nothing of it.
            try {
                // The writer first: the room may queue text for the client as soon as it joins.
                threads.start([&room, member] {
                    if (!member->write_loop()) room.leave(*member);
                });
                room.join(member);
                threads.start([&, id, member] {
                    Ending ending = serve_client(*member, room);
                    room.leave(*member);
                    if (ending.line_too_long) member->queue("* error: line too long\n");
                    member->finish(true);  // the writer sends what is queued, then our FIN
                    if (ending.line_too_long) drain_input(member->socket());
                    if (blocking.stopping()) ending.why = "server stopping";
                    net::log("client ", id, " disconnected: ", ending.why, " (", --live_clients,
                             " live)");
                });
            } catch (const std::exception& failure) {
                // No thread for it (std::system_error), or no memory to start one or to join
                // the room (std::bad_alloc): its writer, if it started, must end first — it
                // would wait for its outbox for ever — then out of the room it goes again.
                member->finish(false);
                room.leave(*member);
                net::log("client ", id, " refused: cannot start a thread: ", failure.what(), " (",
                         --live_clients, " live)");
            }
        }
        threads.join_all();  // Ctrl+C has woken every client thread
        // ANCHOR_END: accept_loop

        net::log("stopped: ", clients_served, " clients served");
        return 0;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "error: %s\n", error.what());
        return 1;
    }
}

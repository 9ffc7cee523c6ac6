// Stage 03 — broadcast chat: threads per client and a shared, locked list of clients.
//
// New since stage 02: clients talk to each other. The server is no longer an echo: each line a
// client sends goes to every *other* client, and the clients must share state — who is here —
// under a lock. The protocol, exactly:
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
// price. Stage 04 serves everyone from one thread with select().
//
// Build without CMake, from the repository root:
//   g++ -std=c++17 -O2 -I. stages/03_broadcast_chat/main.cpp common/*.cpp -o stage03_broadcast_chat.exe -lws2_32 -static
//   cl /std:c++17 /EHsc /W4 /I. stages\03_broadcast_chat\main.cpp common\*.cpp ws2_32.lib
#include "common/blocking_sockets.h"
#include "common/client_threads.h"
#include "common/ctrl_c.h"
#include "common/error_text.h"
#include "common/listener.h"
#include "common/log.h"
#include "common/options.h"
#include "common/winsock.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
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
    Client(std::uint64_t id, net::AdoptedSocket socket) : id_(id), socket_(std::move(socket)) {}

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
            if (!send_all(batch)) {
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
    bool send_all(const std::string& data) {
        std::size_t done = 0;
        while (done < data.size()) {
            const int chunk = static_cast<int>(std::min<std::size_t>(data.size() - done, 1 << 20));
            const int sent = send(socket(), data.data() + done, chunk, 0);
            if (sent == SOCKET_ERROR) return false;
            done += static_cast<std::size_t>(sent);
        }
        return true;
    }

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

// ANCHOR: refuse_line
// After "* error: line too long": read and discard what the client still sends, until it
// closes (or a generous amount), before closing. Closing a socket with unread input makes
// Windows reset the connection, and a reset can destroy the error line before the client
// reads it.
void drain_input(SOCKET s) {
    char buffer[buffer_size];
    for (int total = 0; total < (1 << 20);) {
        const int received = recv(s, buffer, buffer_size, 0);
        if (received <= 0) return;
        total += received;
    }
}
// ANCHOR_END: refuse_line

}  // namespace

int main(int argc, char* argv[]) {
    net::ServerOptions options;
    net::CommandLine command_line("stage03_broadcast_chat",
                                  "A line-based chat: every line goes to every other client.",
                                  options);
    if (const auto exit_code = command_line.parse_or_exit_code(argc, argv)) return *exit_code;

    try {
        net::WinsockSession winsock;

        net::BlockingSockets blocking;
        net::CtrlCHandler ctrl_c([&blocking] { blocking.stop_all(); });

        const net::AdoptedSocket listener = blocking.adopt(net::make_listener(options));
        if (!listener) return blocking.stopping() ? 0 : 1;
        net::log("listening on ", net::local_address(listener.get()));

        // ANCHOR: accept_loop
        ChatRoom room;
        net::ClientThreads threads;
        std::atomic<int> live_clients{0};
        std::uint64_t clients_served = 0;
        for (;;) {
            net::UniqueSocket accepted(accept(listener.get(), nullptr, nullptr));
            if (!accepted) {
                if (blocking.stopping()) break;
                net::log("accept failed: ", net::error_text(WSAGetLastError()));
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
                continue;
            }
            net::AdoptedSocket socket = blocking.adopt(std::move(accepted));
            if (!socket) break;
            threads.join_finished();
            // A send() that waits this long for the client to read fails, so a client that
            // stopped reading cannot hold its writer thread forever.
            setsockopt(socket.get(), SOL_SOCKET, SO_SNDTIMEO,
                       reinterpret_cast<const char*>(&send_timeout_ms), sizeof send_timeout_ms);
            const std::uint64_t id = ++clients_served;
            net::log("client ", id, " connected from ", net::peer_address(socket.get()), " (",
                     ++live_clients, " live)");
            const auto client = std::make_shared<Client>(id, std::move(socket));

            try {
                // The writer first: the room may queue text for the client as soon as it joins.
                threads.start([&room, client] {
                    if (!client->write_loop()) room.leave(*client);
                });
                room.join(client);
                threads.start([&, client] {
                    Ending ending = serve_client(*client, room);
                    room.leave(*client);
                    if (ending.line_too_long) client->queue("* error: line too long\n");
                    client->finish(true);  // the writer sends what is queued, then our FIN
                    if (ending.line_too_long) drain_input(client->socket());
                    if (blocking.stopping()) ending.why = "server stopping";
                    net::log("client ", client->id(), " disconnected: ", ending.why, " (",
                             --live_clients, " live)");
                });
            } catch (const std::system_error& error) {
                // No thread for it: take it out again; its writer, if it started, ends too.
                room.leave(*client);
                client->finish(false);
                net::log("client ", id, " refused: cannot start a thread: ", error.what(), " (",
                         --live_clients, " live)");
            }
        }
        // Ctrl+C closed every socket: each reader returns and finishes its writer.
        threads.join_all();
        // ANCHOR_END: accept_loop

        net::log("stopped: ", clients_served, " clients served");
        return 0;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "error: %s\n", error.what());
        return 1;
    }
}

// stages/09_http_server/connection.h — one HTTP connection's context, and the registry that
// owns them all. Stage 07's ClientContext and ClientRegistry, grown up: the context now keeps
// the request parser and the queued responses, and the registry knows when each connection
// last made progress, for the idle timeout. (A header of its own so that the unit tests can
// reach it; main.cpp is the server.)
#pragma once

#include "stages/09_http_server/http.h"
#include "stages/09_http_server/routes.h"

#include "common/winsock.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

namespace stage09 {

constexpr ULONG receive_size = 8192;
// A file body is sent a chunk at a time: one chunk is read into the connection's buffer, sent,
// and only then is the next one read. So a connection holds at most this much of any file, however
// large the file and however slowly the client reads.
constexpr DWORD file_chunk_size = 64 * 1024;

using Clock = std::chrono::steady_clock;

inline long long now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
        .count();
}

// ANCHOR: io_slot
struct Connection;

// The OVERLAPPED of a connection's operation, with the way back to the connection. A small
// struct of its own, standard-layout with the OVERLAPPED first, so that turning the
// OVERLAPPED* of a completion back into it is well defined (C++ promises that only for
// standard-layout types, and a Connection, with its strings and mutex, is not one).
struct IoSlot {
    OVERLAPPED overlapped{};
    Connection* connection = nullptr;
};
static_assert(std::is_standard_layout_v<IoSlot> && offsetof(IoSlot, overlapped) == 0,
              "the OVERLAPPED must come first in a standard-layout IoSlot");
// ANCHOR_END: io_slot

// ANCHOR: connection
// One connection. As in stage 07 it has one operation in flight at a time — a receive, a send,
// or a read of the file being sent, never two — so one OVERLAPPED is enough, and only the
// worker that dequeued its last completion touches the rest.
//
// Unlike stage 07, another thread must sometimes end a connection while it waits: main's idle
// sweep, and shutdown. It must not close the socket for that (a worker may be about to use
// the handle, and a worker may meanwhile create a socket that receives the same handle value).
// It cancels instead: under `io_mutex` it marks the connection and calls CancelIoEx, which
// completes the pending operation with an error; and a worker starts an operation only under
// the same lock, after checking the mark. The socket itself is closed only by destroy().
struct Connection {
    Connection(SOCKET s, std::uint64_t connection_id, std::string peer_address, bool refusing)
        : socket(s),
          id(connection_id),
          peer(std::move(peer_address)),
          refused(refusing),
          last_progress_ms(now_ms()) {
        io.connection = this;
    }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    IoSlot io;  // the OVERLAPPED of the one operation in flight
    // What that operation is: sending queued bytes, sending a chunk of a file, reading one.
    enum class Doing { receiving, sending, sending_chunk, reading_file } doing = Doing::receiving;

    const SOCKET socket;
    const std::uint64_t id;
    const std::string peer;
    const bool refused;  // over --max-connections: it is here only to be answered 503 and closed
    std::atomic<long long> last_progress_ms;  // a request answered, or bytes of one sent

    std::mutex io_mutex;    // held to start an operation, and to cancel
    std::string cancelled;  // guarded by io_mutex: why it was cancelled, "" if it was not
    // Guarded by io_mutex: the handle the operation in flight was started on — the socket, or
    // the file being read — which is where CancelIoEx must look for it.
    HANDLE busy_handle = nullptr;

    char input[receive_size];  // what WSARecv fills
    http::RequestParser parser;
    Clock::time_point request_started{};  // when the next request's first bytes came

    // ANCHOR: outgoing
    // One response queued and not yet all sent: its head (with a body made in memory) in
    // `bytes`, then, for a file, the file's bytes, a chunk at a time. Also what the access log
    // says of it, when its last byte is sent or when it is cut short.
    struct Outgoing {
        std::string bytes;
        std::size_t bytes_sent = 0;  // handed to the kernel
        routes::UniqueFile file;     // the body, when it is a file
        std::uint64_t file_size = 0;
        std::uint64_t file_sent = 0;  // handed to the kernel
        std::size_t head_size = 0;    // the part of `bytes` before the body
        std::uint64_t body_size = 0;  // what Content-Length says (0 for HEAD)
        std::string what;             // "GET /index.html 200"; empty: not logged (a 100)
        Clock::time_point started;

        bool done() const { return bytes_sent == bytes.size() && file_sent == file_size; }
        std::uint64_t body_sent() const {
            return file ? file_sent : bytes_sent > head_size ? bytes_sent - head_size : 0;
        }
    };
    std::deque<Outgoing> outgoing;
    std::size_t outgoing_bytes = 0;  // of the `bytes` in `outgoing`: what the bound counts
    // The chunk of the file at the front of `outgoing` that was read last, while it is sent:
    // file_chunk_size bytes, allocated while a file is being sent and freed after.
    std::unique_ptr<char[]> chunk;
    DWORD chunk_length = 0;
    DWORD chunk_sent = 0;
    // ANCHOR_END: outgoing
    bool close_after_output = false;  // the last queued response says Connection: close
    bool draining = false;            // our FIN is sent: read and discard until the client closes

    // Why the connection was cancelled, or "" (any thread).
    std::string cancel_reason() {
        std::lock_guard<std::mutex> lock(io_mutex);
        return cancelled;
    }

    // Another thread: end the connection's wait. (The caller holds the registry's lock, so the
    // connection cannot be destroyed, and its socket closed, meanwhile.) False if it was
    // cancelled already.
    bool cancel(const std::string& why) {
        std::lock_guard<std::mutex> lock(io_mutex);
        if (!cancelled.empty()) return false;
        cancelled = why;
        if (busy_handle) ::CancelIoEx(busy_handle, &io.overlapped);
        return true;
    }
};
// ANCHOR_END: connection

// ANCHOR: connection_registry
class ConnectionRegistry {
public:
    // `capacity` connections are served at once; beyond that, up to `refusals` more are taken
    // in only to be answered 503 and closed as gracefully as any other (see create()).
    ConnectionRegistry(std::size_t capacity, std::size_t refusals)
        : capacity_(capacity), refusals_(refusals) {}

    // A context for an accepted socket, which it then owns; its `refused` says whether it is
    // over the capacity. nullptr (the socket left to the caller) beyond the refusals too, or
    // when shutdown has begun.
    Connection* create(SOCKET s, std::uint64_t id, std::string peer) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (closed_) return nullptr;
        const bool refused = live_.size() - refusing_ >= capacity_;
        if (refused && refusing_ >= refusals_) return nullptr;
        auto connection = std::make_unique<Connection>(s, id, std::move(peer), refused);
        Connection* raw = connection.get();
        live_.emplace(raw, std::move(connection));
        if (refused) ++refusing_;
        return raw;
    }

    // No operation of the connection is in flight: close its socket and free it. Returns how
    // many connections remain. Taking io_mutex waits for a worker that has just started the
    // operation whose completion brought us here to let go of the lock.
    std::size_t destroy(Connection* connection) {
        std::lock_guard<std::mutex> lock(mutex_);
        { std::lock_guard<std::mutex> io_lock(connection->io_mutex); }
        ::closesocket(connection->socket);
        if (connection->refused) --refusing_;
        live_.erase(connection);
        if (live_.empty()) emptied_.notify_all();
        return live_.size();
    }
    // Shutdown: refuse new connections from now on, and cancel every one that is open.
    void cancel_all() {
        std::lock_guard<std::mutex> lock(mutex_);
        closed_ = true;
        for (auto& entry : live_) entry.second->cancel("server stopping");
    }

    // The idle timeout: cancel every connection that made no progress since `deadline_ms`.
    // Returns how many it cancelled.
    std::size_t cancel_idle(long long deadline_ms) {
        std::size_t cancelled = 0;
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto& entry : live_) {
            if (entry.second->last_progress_ms.load() < deadline_ms &&
                entry.second->cancel("idle timeout"))
                ++cancelled;
        }
        return cancelled;
    }

    void wait_until_empty() {
        std::unique_lock<std::mutex> lock(mutex_);
        emptied_.wait(lock, [this] { return live_.empty(); });
    }

    std::size_t size() {
        std::lock_guard<std::mutex> lock(mutex_);
        return live_.size();
    }

private:
    const std::size_t capacity_;
    const std::size_t refusals_;
    std::mutex mutex_;
    std::condition_variable emptied_;
    bool closed_ = false;
    std::size_t refusing_ = 0;  // of live_, those that are only being refused
    std::unordered_map<Connection*, std::unique_ptr<Connection>> live_;
};
// ANCHOR_END: connection_registry

}  // namespace stage09

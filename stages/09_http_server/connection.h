// stages/09_http_server/connection.h — one HTTP connection's context, and the registry that
// owns them all. Stage 07's ClientContext and ClientRegistry, grown up: the context now keeps
// the request parser and the queued responses, and the registry knows when each connection
// last made progress, for the idle timeout. (A header of its own so that the unit tests can
// reach it; main.cpp is the server.)
#pragma once

#include "stages/09_http_server/http.h"

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
// One connection. As in stage 07 it has one operation in flight at a time — a receive or a
// send, never both — so one OVERLAPPED is enough, and only the worker that dequeued its last
// completion touches the rest.
//
// Unlike stage 07, another thread must sometimes end a connection while it waits: main's idle
// sweep, and shutdown. It must not close the socket for that (a worker may be about to use
// the handle, and a worker may meanwhile create a socket that receives the same handle value).
// It cancels instead: under `io_mutex` it marks the connection and calls CancelIoEx, which
// completes the pending operation with an error; and a worker starts an operation only under
// the same lock, after checking the mark. The socket itself is closed only by destroy().
struct Connection {
    Connection(SOCKET s, std::uint64_t connection_id, std::string peer_address)
        : socket(s), id(connection_id), peer(std::move(peer_address)), last_progress_ms(now_ms()) {
        io.connection = this;
    }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    IoSlot io;  // the OVERLAPPED of the one operation in flight
    enum class Doing { receiving, sending } doing = Doing::receiving;

    const SOCKET socket;
    const std::uint64_t id;
    const std::string peer;
    std::atomic<long long> last_progress_ms;  // a request answered, or bytes of one sent

    std::mutex io_mutex;    // held to start an operation, and to cancel
    std::string cancelled;  // guarded by io_mutex: why it was cancelled, "" if it was not

    char input[receive_size];  // what WSARecv fills
    http::RequestParser parser;
    Clock::time_point request_started{};  // when the next request's first bytes came

    // Responses queued and not yet all sent, one WSASend in flight at a time.
    std::string output;
    std::size_t output_sent = 0;
    struct Logged {       // an access-log line, written when the response's last byte is sent
        std::size_t end;  // offset in `output` just past the response
        std::string line;
        Clock::time_point started;
    };
    std::deque<Logged> unlogged;
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
        ::CancelIoEx(reinterpret_cast<HANDLE>(socket), &io.overlapped);
        return true;
    }
};
// ANCHOR_END: connection

// ANCHOR: connection_registry
class ConnectionRegistry {
public:
    explicit ConnectionRegistry(std::size_t capacity) : capacity_(capacity) {}

    // A context for an accepted socket, which it then owns; nullptr (the socket left to the
    // caller) when `capacity` connections are open, or when shutdown has begun.
    Connection* create(SOCKET s, std::uint64_t id, std::string peer) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (closed_ || live_.size() >= capacity_) return nullptr;
        auto connection = std::make_unique<Connection>(s, id, std::move(peer));
        Connection* raw = connection.get();
        live_.emplace(raw, std::move(connection));
        return raw;
    }

    // No operation of the connection is in flight: close its socket and free it. Returns how
    // many connections remain. Taking io_mutex waits for a worker that has just started the
    // operation whose completion brought us here to let go of the lock.
    std::size_t destroy(Connection* connection) {
        std::lock_guard<std::mutex> lock(mutex_);
        { std::lock_guard<std::mutex> io_lock(connection->io_mutex); }
        ::closesocket(connection->socket);
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
    std::mutex mutex_;
    std::condition_variable emptied_;
    bool closed_ = false;
    std::unordered_map<Connection*, std::unique_ptr<Connection>> live_;
};
// ANCHOR_END: connection_registry

}  // namespace stage09

// Stage 09 — an HTTP/1.1 server on I/O completion ports.
//
// New since stage 07: everything stage 07 left out on purpose.
//   - AcceptEx: accepting is asynchronous too. Several accepts are posted ahead on the
//     listener; each completes to the port like any read, and the worker that takes it posts
//     the next. The main thread only waits for shutdown (and sweeps idle connections).
//   - WSASend: responses are sent with overlapped WSASend, so a client that reads slowly
//     holds nothing but its own connection. One operation in flight per connection, receive
//     or send; a send that completes partly is continued; a connection's queued output is
//     bounded, and while it is full its further requests wait.
//   - ReadFile on the same port: a file is streamed, a 64 KiB chunk read (overlapped, to the
//     port) then sent, then the next, so a connection holds one chunk of any file at most.
//   - HTTP/1.1: requests parsed from bytes in any split (http.h), keep-alive (HTTP/1.1's
//     default, Connection: close, HTTP/1.0), pipelined requests answered in order, an idle
//     timeout, a table of handlers and static files (routes.h), an access log line per
//     response, finished or cut short.
//   - Running out of memory ends the connection that ran into it, not the server.
//
// What it still leaves out: see notes/09_http_server.md (TLS, chunked bodies, TransmitFile,
// caching, HTTP/2...).
//
// Build without CMake, from the repository root:
//   g++ -std=c++17 -O2 -I. stages/09_http_server/*.cpp common/*.cpp -o stage09_http_server.exe -lws2_32 -static
//   cl /std:c++17 /EHsc /W4 /I. stages\09_http_server\*.cpp common\*.cpp ws2_32.lib
#include "stages/09_http_server/connection.h"
#include "stages/09_http_server/http.h"
#include "stages/09_http_server/routes.h"

#include "common/ctrl_c.h"
#include "common/error_text.h"
#include "common/listener.h"
#include "common/log.h"
#include "common/options.h"
#include "common/winsock.h"

#include <mswsock.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

namespace {

using stage09::Connection;
using stage09::ConnectionRegistry;

// Pipelined requests are answered ahead of sending, but at most this many responses are queued
// on a connection, and at most this many bytes of them in memory (heads, and bodies made in
// memory: a file is read a chunk at a time as it is sent); further requests wait. A queued
// response may hold an open file.
constexpr std::size_t max_queued_responses = 16;
constexpr std::size_t max_queued_output = 64 * 1024;
// Beyond --max-connections, up to this many more connections at a time are taken in only to be
// refused with a 503 and a graceful close (see queue_refusal); beyond that too, at once.
constexpr std::size_t max_refusals = 64;
// AcceptEx wants room for each address plus 16 bytes (its documentation says so).
constexpr DWORD address_space = sizeof(sockaddr_in6) + 16;

enum PacketKey : ULONG_PTR {
    exit_key = 0,
    listener_key = 1,    // an AcceptEx completed: the OVERLAPPED is an AcceptOp's
    connection_key = 2,  // a connection's WSARecv, WSASend or ReadFile completed: an IoSlot's
};

bool io_failed(int result) { return result == SOCKET_ERROR && WSAGetLastError() != WSA_IO_PENDING; }

// ANCHOR: extensions
// AcceptEx and GetAcceptExSockaddrs are Microsoft extensions to Winsock. mswsock.lib exports
// them, but the documented way is to ask the socket's provider for its own implementation,
// which is what this does.
struct Extensions {
    LPFN_ACCEPTEX accept_ex = nullptr;
    LPFN_GETACCEPTEXSOCKADDRS get_sockaddrs = nullptr;
};

template <class Function>
bool load_extension(SOCKET s, GUID id, Function& function) {
    DWORD bytes = 0;
    return WSAIoctl(s, SIO_GET_EXTENSION_FUNCTION_POINTER, &id, sizeof id, &function,
                    sizeof function, &bytes, nullptr, nullptr) == 0;
}
// ANCHOR_END: extensions

// ANCHOR: accept_op
// One accept posted ahead: AcceptEx needs the socket the connection will use, created before
// the client arrives, and a buffer for the two addresses it reports.
struct AcceptOp {
    OVERLAPPED overlapped{};  // first: a completion's OVERLAPPED* is the AcceptOp
    SOCKET socket = INVALID_SOCKET;
    char addresses[2 * address_space];
};
static_assert(std::is_standard_layout_v<AcceptOp> && offsetof(AcceptOp, overlapped) == 0,
              "the OVERLAPPED must come first in a standard-layout AcceptOp");
// ANCHOR_END: accept_op

// Logging allocates a line, and so can fail for want of memory. Where that must not end a
// worker, nor leave a connection half-handled, the line is dropped instead.
template <class... Parts>
void log_or_drop(const Parts&... parts) noexcept {
    try {
        net::log(parts...);
    } catch (...) {  // std::bad_alloc
    }
}

void log_failure(const char* what, int error) noexcept {
    try {
        net::log(what, net::error_text(error));
    } catch (...) {  // std::bad_alloc
    }
}

class HttpServer {
public:
    HttpServer(HANDLE port, SOCKET listener, int family, const Extensions& extensions,
               const routes::Site& site, routes::Stats& stats, ConnectionRegistry& registry)
        : port_(port),
          listener_(listener),
          family_(family),
          extensions_(extensions),
          site_(site),
          stats_(stats),
          registry_(registry) {}

    // ANCHOR: post_accept
    // Start one accept: a fresh socket, and AcceptEx with no receive buffer (0), so that it
    // completes as soon as a client connects rather than when it first sends — a client that
    // connects and stays silent must not hold an accept. Under accept_mutex_ with the
    // `stopping_` check, so that shutdown cannot miss an accept started while it cancels them.
    bool post_accept(AcceptOp& op) {
        std::lock_guard<std::mutex> lock(accept_mutex_);
        if (stopping_) return false;
        op.socket = WSASocketW(family_, SOCK_STREAM, IPPROTO_TCP, nullptr, 0, WSA_FLAG_OVERLAPPED);
        if (op.socket == INVALID_SOCKET) {
            log_failure("WSASocket failed: ", WSAGetLastError());
            return false;
        }
        op.overlapped = OVERLAPPED{};
        DWORD bytes = 0;
        if (!extensions_.accept_ex(listener_, op.socket, op.addresses, 0, address_space,
                                   address_space, &bytes, &op.overlapped) &&
            WSAGetLastError() != ERROR_IO_PENDING) {
            log_failure("AcceptEx failed: ", WSAGetLastError());
            closesocket(op.socket);
            op.socket = INVALID_SOCKET;
            return false;
        }
        ++accepts_in_flight_;
        return true;
    }
    // ANCHOR_END: post_accept

    // ANCHOR: worker_loop
    // As in stage 07, with one more kind of packet: the key says whether it is the listener's
    // (an accept) or a connection's (a receive, a send, or a read of a file it is sending).
    void worker_loop() {
        for (;;) {
            DWORD bytes = 0;
            ULONG_PTR key = 0;
            OVERLAPPED* overlapped = nullptr;
            const BOOL ok = GetQueuedCompletionStatus(port_, &bytes, &key, &overlapped, INFINITE);
            const int error = ok ? 0 : static_cast<int>(GetLastError());
            if (overlapped == nullptr) {
                if (ok && key == exit_key) return;
                if (!ok) {
                    log_failure("worker stops: GetQueuedCompletionStatus failed: ", error);
                    return;
                }
                continue;
            }
            if (key == listener_key) {
                on_accept(*reinterpret_cast<AcceptOp*>(overlapped), ok != FALSE);
            } else if (key == connection_key) {
                on_io(reinterpret_cast<stage09::IoSlot*>(overlapped)->connection, ok != FALSE,
                      error, bytes);
            }
        }
    }
    // ANCHOR_END: worker_loop

    // ANCHOR: stop_accepting
    // Shutdown, first step: no accept may start from now on, and the pending ones are
    // cancelled; wait until each has completed (the kernel owns the AcceptOps until then).
    void stop_accepting() {
        {
            std::lock_guard<std::mutex> lock(accept_mutex_);
            stopping_ = true;
            CancelIoEx(reinterpret_cast<HANDLE>(listener_), nullptr);
        }
        std::unique_lock<std::mutex> lock(accept_mutex_);
        accepts_done_.wait(lock, [this] { return accepts_in_flight_ == 0; });
    }
    // ANCHOR_END: stop_accepting

private:
    // ANCHOR: on_accept
    void on_accept(AcceptOp& op, bool ok) {
        const SOCKET s = op.socket;
        op.socket = INVALID_SOCKET;
        {
            std::lock_guard<std::mutex> lock(accept_mutex_);
            --accepts_in_flight_;
            if (accepts_in_flight_ == 0) accepts_done_.notify_all();
        }
        if (!ok) {  // cancelled at shutdown, or the client reset before we took it
            closesocket(s);
            post_accept(op);  // refused once stopping; logs its own failures
            return;
        }
        // The accepted socket does not inherit the listener's properties until told so;
        // without this, getpeername, getsockname and shutdown fail on it.
        setsockopt(s, SOL_SOCKET, SO_UPDATE_ACCEPT_CONTEXT,
                   reinterpret_cast<const char*>(&listener_), sizeof listener_);
        // The addresses are in the AcceptEx buffer already: no system call needed. The peer's
        // is copied out (nothing allocated yet) before the AcceptOp is posted again.
        sockaddr *local = nullptr, *remote = nullptr;
        int local_length = 0, remote_length = 0;
        extensions_.get_sockaddrs(op.addresses, 0, address_space, address_space, &local,
                                  &local_length, &remote, &remote_length);
        sockaddr_storage peer{};
        std::memcpy(&peer, remote, std::min(static_cast<std::size_t>(remote_length), sizeof peer));
        post_accept(op);  // keep the same number of accepts ahead
        start_connection(s, reinterpret_cast<const sockaddr*>(&peer));
    }
    // ANCHOR_END: on_accept

    // ANCHOR: start_connection
    void start_connection(SOCKET s, const sockaddr* address) {
        const std::uint64_t id = ++stats_.connections_total;
        Connection* connection = nullptr;
        try {
            connection = registry_.create(s, id, net::address_to_string(address));
        } catch (const std::bad_alloc&) {  // the registry did not take the socket
        }
        if (!connection) {
            refuse_at_once(s);
            return;
        }
        if (!connection->refused) ++stats_.connections_open;
        std::string why;
        try {
            if (connection->refused) {
                net::log("client ", id, " from ", connection->peer, " refused: server full (",
                         registry_.size(), " live)");
                queue_refusal(*connection);
            } else {
                net::log("client ", id, " connected from ", connection->peer, " (",
                         registry_.size(), " live)");
            }
            if (!CreateIoCompletionPort(reinterpret_cast<HANDLE>(s), port_, connection_key, 0)) {
                why = "CreateIoCompletionPort failed: " +
                      net::error_text(static_cast<int>(GetLastError()));
            } else if (start_next_operation(*connection, why)) {
                return;
            }
        } catch (const std::bad_alloc&) {  // as in on_io: nothing is in flight yet
            finish(connection, "out of memory");
            return;
        }
        finish(connection, why);
    }
    // ANCHOR_END: start_connection

    // ANCHOR: refusal
    // Beyond --max-connections a client is told so in HTTP: its connection is taken in with
    // just a 503 queued, which then closes like any other (our FIN, then reading until the
    // client closes): a client that sent its request before it was refused still reads the
    // 503, where a close with its bytes unread would reset the connection and could destroy
    // the 503 before it is read.
    void queue_refusal(Connection& c) {
        http::Response busy;
        busy.status = 503;
        busy.body = "503 Service Unavailable: the server is full; try again later\n";
        busy.close = true;
        c.request_started = stage09::Clock::now();
        queue(c, "- (refused: server full)", routes::Reply{std::move(busy), {}}, false, false);
    }

    // Beyond the refusals too (a flood of them), while stopping, or out of memory: the 503 and a
    // close at once, which resets the connection if the client has sent anything already.
    void refuse_at_once(SOCKET s) noexcept {
        static const char busy[] =
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        send(s, busy, sizeof busy - 1, 0);
        shutdown(s, SD_SEND);
        closesocket(s);
        log_or_drop("refused a connection at once: server full, stopping, or out of memory");
    }
    // ANCHOR_END: refusal

    // ANCHOR: start_io
    // Start the connection's one operation. Under io_mutex, after checking that nobody has
    // cancelled it (see connection.h), and noting the handle it is started on, for CancelIoEx.
    // False: no completion will come; `why` says why, and the caller finishes the connection.
    bool start_receive(Connection& c, std::string& why) {
        std::lock_guard<std::mutex> lock(c.io_mutex);
        if (!c.cancelled.empty()) {
            why = c.cancelled;
            return false;
        }
        c.doing = Connection::Doing::receiving;
        c.busy_handle = reinterpret_cast<HANDLE>(c.socket);
        c.io.overlapped = OVERLAPPED{};
        WSABUF buffer{stage09::receive_size, c.input};
        DWORD flags = 0;
        if (io_failed(WSARecv(c.socket, &buffer, 1, nullptr, &flags, &c.io.overlapped, nullptr))) {
            why = "WSARecv failed: " + net::error_text(WSAGetLastError());
            return false;
        }
        return true;
    }

    // The queued bytes of the responses at the front, gathered into one WSASend: up to the
    // first response with a file behind its head, whose file must come next.
    bool start_send(Connection& c, std::string& why) {
        WSABUF buffers[max_queued_responses];
        DWORD count = 0;
        for (Connection::Outgoing& o : c.outgoing) {
            if (o.bytes_sent < o.bytes.size())
                buffers[count++] = WSABUF{static_cast<ULONG>(o.bytes.size() - o.bytes_sent),
                                          o.bytes.data() + o.bytes_sent};
            if (o.file_sent < o.file_size || count == max_queued_responses) break;
        }
        std::lock_guard<std::mutex> lock(c.io_mutex);
        if (!c.cancelled.empty()) {
            why = c.cancelled;
            return false;
        }
        c.doing = Connection::Doing::sending;
        c.busy_handle = reinterpret_cast<HANDLE>(c.socket);
        c.io.overlapped = OVERLAPPED{};
        if (io_failed(WSASend(c.socket, buffers, count, nullptr, 0, &c.io.overlapped, nullptr))) {
            why = "WSASend failed: " + net::error_text(WSAGetLastError());
            return false;
        }
        return true;
    }
    // ANCHOR_END: start_io

    // ANCHOR: file_io
    // A file body, a chunk at a time: read one into the connection's buffer with ReadFile,
    // which completes to the port like the socket's operations (the file was associated with
    // it, with the connection's key, and the read uses the connection's OVERLAPPED); then send
    // it; then read the next. One operation in flight per connection, as ever, and one chunk of
    // memory. No TransmitFile: the client versions of Windows run at most two at a time.
    bool start_file_read(Connection& c, std::string& why) {
        Connection::Outgoing& front = c.outgoing.front();
        if (!c.chunk) c.chunk.reset(new char[stage09::file_chunk_size]);  // no zeroing needed
        const auto length = static_cast<DWORD>(
            std::min<std::uint64_t>(stage09::file_chunk_size, front.file_size - front.file_sent));
        std::lock_guard<std::mutex> lock(c.io_mutex);
        if (!c.cancelled.empty()) {
            why = c.cancelled;
            return false;
        }
        c.doing = Connection::Doing::reading_file;
        c.busy_handle = front.file.get();
        c.chunk_length = c.chunk_sent = 0;
        c.io.overlapped = OVERLAPPED{};  // an overlapped read says where it reads from
        c.io.overlapped.Offset = static_cast<DWORD>(front.file_sent);
        c.io.overlapped.OffsetHigh = static_cast<DWORD>(front.file_sent >> 32);
        if (!ReadFile(front.file.get(), c.chunk.get(), length, nullptr, &c.io.overlapped)) {
            const auto error = static_cast<int>(GetLastError());
            if (error != ERROR_IO_PENDING) {
                why = "ReadFile failed: " + net::error_text(error);
                return false;
            }
        }
        return true;
    }

    bool start_send_chunk(Connection& c, std::string& why) {
        std::lock_guard<std::mutex> lock(c.io_mutex);
        if (!c.cancelled.empty()) {
            why = c.cancelled;
            return false;
        }
        c.doing = Connection::Doing::sending_chunk;
        c.busy_handle = reinterpret_cast<HANDLE>(c.socket);
        c.io.overlapped = OVERLAPPED{};
        WSABUF buffer{c.chunk_length - c.chunk_sent, c.chunk.get() + c.chunk_sent};
        if (io_failed(WSASend(c.socket, &buffer, 1, nullptr, 0, &c.io.overlapped, nullptr))) {
            why = "WSASend failed: " + net::error_text(WSAGetLastError());
            return false;
        }
        return true;
    }
    // ANCHOR_END: file_io

    // ANCHOR: on_io
    // An operation of this connection completed (or failed, or was cancelled): take in what it
    // did, then start the next one. Running out of memory (std::bad_alloc) anywhere in here
    // ends this connection, and only this one: no operation of it is in flight while anything
    // here can throw (start_next_operation() starts one as its very last step), so it can be
    // freed at once.
    void on_io(Connection* c, bool ok, int error, DWORD bytes) {
        std::string why;
        try {
            if (!ok) {
                why = c->cancel_reason();
                if (why.empty()) why = failure_of(c->doing) + net::error_text(error);
            } else if (c->doing == Connection::Doing::receiving) {
                on_received(*c, bytes, why);
            } else if (c->doing == Connection::Doing::reading_file) {
                on_file_read(*c, bytes, why);
            } else {
                on_sent(*c, bytes);
            }
            if (why.empty() && start_next_operation(*c, why)) return;
        } catch (const std::bad_alloc&) {
            finish(c, "out of memory");
            return;
        }
        finish(c, why);
    }

    static std::string failure_of(Connection::Doing doing) {
        switch (doing) {
            case Connection::Doing::receiving:
                return "read failed: ";
            case Connection::Doing::reading_file:
                return "file read failed: ";
            default:
                return "send failed: ";
        }
    }

    void on_received(Connection& c, DWORD bytes, std::string& why) {
        if (bytes == 0) {
            why = c.draining ? "closed after our last response" : "closed by the client";
            return;
        }
        if (c.draining) return;  // after our FIN: what the client still sends is discarded
        if (!c.parser.started()) c.request_started = stage09::Clock::now();
        c.parser.feed(std::string_view(c.input, bytes));
    }

    void on_file_read(Connection& c, DWORD bytes, std::string& why) {
        if (bytes == 0) {  // the file shrank since it was opened: its Content-Length is a lie
            why = "the file ended before its size";
            return;
        }
        c.chunk_length = bytes;
        c.chunk_sent = 0;
    }

    // Bytes were handed to the kernel: progress, for the idle timeout.
    void on_sent(Connection& c, DWORD bytes) {
        c.last_progress_ms = stage09::now_ms();
        stats_.bytes_sent += bytes;
        if (c.doing == Connection::Doing::sending_chunk) {
            c.chunk_sent += bytes;
            c.outgoing.front().file_sent += bytes;
            return;
        }
        std::size_t left = bytes;  // a gathered send: the responses' bytes in order
        for (Connection::Outgoing& o : c.outgoing) {
            const std::size_t taken = std::min(left, o.bytes.size() - o.bytes_sent);
            o.bytes_sent += taken;
            left -= taken;
            if (left == 0) break;
        }
    }
    // ANCHOR_END: on_io

    // ANCHOR: start_next_operation
    // The connection's next operation, after each completion. What is queued goes out first:
    // the responses' queued bytes, and behind a head its file, a chunk read, then sent, then
    // the next read. When everything is sent: our FIN if the last response closes, then reads
    // until the client closes; otherwise the requests already received are answered (queueing
    // more), and when there are none, a receive. Starts one operation and does nothing after
    // it; false if it started none (`why` says why).
    bool start_next_operation(Connection& c, std::string& why) {
        for (;;) {
            log_sent_responses(c);
            if (!c.outgoing.empty()) {
                const Connection::Outgoing& front = c.outgoing.front();
                if (front.bytes_sent < front.bytes.size()) return start_send(c, why);
                if (c.chunk_sent < c.chunk_length) return start_send_chunk(c, why);
                return start_file_read(c, why);
            }
            if (c.close_after_output && !c.draining) {
                // Our FIN, then read until the client closes: closing with its unread bytes
                // pending would make Windows reset the connection, and a reset can destroy the
                // response before the client has read it.
                shutdown(c.socket, SD_SEND);
                c.draining = true;
            }
            if (c.draining || !answer_buffered_requests(c)) return start_receive(c, why);
        }
    }
    // ANCHOR_END: start_next_operation

    // ANCHOR: answer_buffered_requests
    // Turn every complete request the parser holds into its response, in order (pipelining),
    // until the queue's bounds are reached or a response closes the connection. A request
    // whose body is still to come and whose client waits for our word (Expect: 100-continue)
    // gets an interim "100 Continue". True if it queued anything.
    bool answer_buffered_requests(Connection& c) {
        const std::size_t queued_before = c.outgoing.size();
        while (!c.close_after_output && c.outgoing.size() < max_queued_responses &&
               c.outgoing_bytes < max_queued_output) {
            const http::RequestParser::Status status = c.parser.feed({});
            if (status == http::RequestParser::Status::incomplete) {
                if (c.parser.take_continue_expectation()) queue_interim(c, http::continue_response);
                break;
            }
            if (status == http::RequestParser::Status::error) {
                http::Response response = error_response(http::status_of(c.parser.error()));
                response.close = true;
                queue(c, "- (unparsable request)", routes::Reply{std::move(response), {}}, false,
                      false);
                break;
            }
            const http::Request request = c.parser.take();
            ++stats_.requests;
            routes::Reply reply;
            try {
                reply = routes::respond(request, site_);
            } catch (const std::bad_alloc&) {
                throw;  // not this request's fault: it ends the connection (on_io)
            } catch (const std::exception& error) {  // a file system error: this request only
                reply.response = error_response(500);
                reply.response.body += std::string(error.what()) + "\n";
                reply.file.reset();
            }
            if (!request.keep_alive) reply.response.close = true;
            const bool keep_alive_header = request.minor_version == 0 && !reply.response.close;
            queue(c, request.method + " " + request.target, std::move(reply),
                  request.method == "HEAD", keep_alive_header);
            c.last_progress_ms = stage09::now_ms();
            if (c.parser.started()) c.request_started = stage09::Clock::now();
        }
        return c.outgoing.size() > queued_before;
    }

    static http::Response error_response(int status) {
        http::Response response;
        response.status = status;
        response.body = std::to_string(status) + " " + http::reason_phrase(status) + "\n";
        return response;
    }

    void queue(Connection& c, const std::string& what, routes::Reply reply, bool head_only,
               bool keep_alive_header) {
        // The file's reads complete to the port, like the socket's operations, with the same
        // key. (Should that fail, the request gets a 500 rather than a file it cannot send.)
        if (reply.file && !head_only &&
            !CreateIoCompletionPort(reply.file.get(), port_, connection_key, 0)) {
            reply.response = error_response(500);
            reply.file.reset();
        }
        const http::Response& response = reply.response;
        Connection::Outgoing o;
        o.bytes = http::serialize(response, head_only, keep_alive_header, std::time(nullptr));
        o.head_size = o.bytes.size() - (head_only || response.file_size ? 0 : response.body.size());
        o.body_size = head_only ? 0 : response.content_length();
        if (reply.file && !head_only) {
            o.file = std::move(reply.file);
            o.file_size = *response.file_size;
        }
        o.what = what + " " + std::to_string(response.status);
        o.started = c.request_started;
        c.close_after_output = response.close;
        c.outgoing.push_back(std::move(o));
        c.outgoing_bytes += c.outgoing.back().bytes.size();
    }

    void queue_interim(Connection& c, std::string_view bytes) {
        Connection::Outgoing o;
        o.bytes.assign(bytes);
        o.head_size = o.bytes.size();  // `what` stays empty: an interim response is not logged
        c.outgoing.push_back(std::move(o));
        c.outgoing_bytes += bytes.size();
    }
    // ANCHOR_END: answer_buffered_requests

    // ANCHOR: access_log
    // One line per response, once its last byte has been handed to the kernel: who, what, the
    // status, the body's size, and how long since its request's bytes arrived. The response
    // then leaves the queue (its file is closed, and the chunk buffer freed).
    void log_sent_responses(Connection& c) {
        while (!c.outgoing.empty() && c.outgoing.front().done()) {
            Connection::Outgoing& done = c.outgoing.front();
            if (!done.what.empty()) {
                const double ms =
                    std::chrono::duration<double, std::milli>(stage09::Clock::now() - done.started)
                        .count();
                char duration[32];
                std::snprintf(duration, sizeof duration, "%.2f ms", ms);
                log_or_drop("client ", c.id, ": ", done.what, " ", done.body_size, " bytes ",
                            duration);
            }
            if (done.file) {
                c.chunk.reset();
                c.chunk_length = c.chunk_sent = 0;
            }
            c.outgoing_bytes -= done.bytes.size();
            c.outgoing.pop_front();
        }
    }

    // A connection ends with responses still queued (the client gone, the idle timeout,
    // Ctrl+C): each gets its line too, saying how much of its body went out.
    void log_aborted_responses(const Connection& c, std::string_view why) noexcept {
        for (const Connection::Outgoing& o : c.outgoing) {
            if (o.what.empty()) continue;
            log_or_drop("client ", c.id, ": ", o.what, " aborted after ", o.body_sent(), " of ",
                        o.body_size, " bytes: ", why);
        }
    }
    // ANCHOR_END: access_log

    // ANCHOR: finish
    // No operation of the connection is in flight: log what it leaves unsent, and free it.
    // Never throws, so that it can end a connection that ran out of memory.
    void finish(Connection* c, std::string_view why) noexcept {
        log_aborted_responses(*c, why);
        const std::uint64_t id = c->id;
        const bool refused = c->refused;
        const std::size_t live = registry_.destroy(c);
        if (!refused) --stats_.connections_open;
        log_or_drop("client ", id, " disconnected: ", why, " (", live, " live)");
    }
    // ANCHOR_END: finish

    const HANDLE port_;
    const SOCKET listener_;
    const int family_;
    const Extensions extensions_;
    const routes::Site& site_;
    routes::Stats& stats_;
    ConnectionRegistry& registry_;
    std::mutex accept_mutex_;
    std::condition_variable accepts_done_;
    bool stopping_ = false;      // guarded by accept_mutex_
    int accepts_in_flight_ = 0;  // guarded by accept_mutex_
};

class WorkerPool {
public:
    template <class Work>
    WorkerPool(HANDLE port, unsigned count, Work work) : port_(port) {
        for (unsigned i = 0; i < count; ++i) threads_.emplace_back(work);
    }
    ~WorkerPool() { stop(); }
    void stop() {
        for (std::size_t i = 0; i < threads_.size(); ++i)
            PostQueuedCompletionStatus(port_, 0, exit_key, nullptr);
        for (std::thread& thread : threads_) thread.join();
        threads_.clear();
    }

private:
    HANDLE port_;
    std::vector<std::thread> threads_;
};

// ANCHOR: shutdown
// The order of stage 07, with accepts first: stop accepting and wait for the pending AcceptEx
// calls to come back; cancel every connection and wait until the workers have freed them all;
// then the exit packets. A guard, so that it also runs when main leaves early — a start that
// fails half-way, an exception: the accepts already posted belong to the kernel until they
// complete (their AcceptOps must not be freed before), and one may have accepted a client.
class Shutdown {
public:
    Shutdown(HttpServer& server, ConnectionRegistry& registry, WorkerPool& pool)
        : server_(server), registry_(registry), pool_(pool) {}
    Shutdown(const Shutdown&) = delete;
    Shutdown& operator=(const Shutdown&) = delete;
    ~Shutdown() { run(); }

    void run() {
        if (done_) return;
        done_ = true;
        server_.stop_accepting();
        registry_.cancel_all();
        registry_.wait_until_empty();
        pool_.stop();
    }

private:
    HttpServer& server_;
    ConnectionRegistry& registry_;
    WorkerPool& pool_;
    bool done_ = false;
};
// ANCHOR_END: shutdown

std::filesystem::path default_root() {
    wchar_t path[MAX_PATH];
    const DWORD length = GetModuleFileNameW(nullptr, path, MAX_PATH);
    return std::filesystem::path(std::wstring(path, length)).parent_path() / "www";
}

unsigned processor_count() {
    SYSTEM_INFO info{};
    GetSystemInfo(&info);
    return info.dwNumberOfProcessors > 0 ? info.dwNumberOfProcessors : 1;
}

}  // namespace

int main(int argc, char* argv[]) {
    net::ServerOptions options;
    std::string root = default_root().u8string();
    unsigned workers = 2 * processor_count();
    unsigned max_connections = 10000;
    unsigned idle_timeout = 15;
    unsigned accepts_ahead = 16;
    net::CommandLine command_line(
        "stage09_http_server",
        "An HTTP/1.1 server on I/O completion ports: AcceptEx, WSARecv/WSASend, keep-alive, "
        "pipelining, a /stats page and static files.",
        options);
    command_line.add_option("--root", "DIR", "the folder served", root);
    command_line.add_option("--workers", "N", "worker threads", workers, 1, 256);
    command_line.add_option("--max-connections", "N", "connections open at once; more get 503",
                            max_connections, 1, 1000000);
    command_line.add_option("--idle-timeout", "SECONDS",
                            "close a connection that has not completed a request for this long",
                            idle_timeout, 1, 86400);
    command_line.add_option("--accepts", "N", "AcceptEx calls kept posted ahead", accepts_ahead, 1,
                            1024);
    if (const auto exit_code = command_line.parse_or_exit_code(argc, argv)) return *exit_code;

    // The folder must exist: that is a bad argument too (exit code 2).
    const std::filesystem::path root_path = std::filesystem::u8path(root);
    std::error_code root_error;
    if (!std::filesystem::is_directory(root_path, root_error)) {
        std::fprintf(stderr, "stage09_http_server: --root: '%s' is not a folder\n\n%s",
                     root.c_str(), command_line.usage().c_str());
        return 2;
    }

    try {
        routes::Stats stats;
        const routes::Site site = routes::make_site(root_path, stats);
        net::WinsockSession winsock;

        // ANCHOR: ctrl_c
        // As in stage 06, Ctrl+C only sets an event: main waits for it, and does the shutdown.
        const net::UniqueHandle stop_event(CreateEventW(nullptr, TRUE, FALSE, nullptr));
        if (!stop_event) throw std::runtime_error("CreateEvent failed");
        net::CtrlCHandler ctrl_c([&stop_event] { SetEvent(stop_event.get()); });
        // ANCHOR_END: ctrl_c

        const net::UniqueSocket listener = net::make_listener(options);
        if (!listener) return 1;
        sockaddr_storage bound{};
        int bound_length = sizeof bound;
        getsockname(listener.get(), reinterpret_cast<sockaddr*>(&bound), &bound_length);

        Extensions extensions;
        if (!load_extension(listener.get(), WSAID_ACCEPTEX, extensions.accept_ex) ||
            !load_extension(listener.get(), WSAID_GETACCEPTEXSOCKADDRS, extensions.get_sockaddrs)) {
            std::fprintf(stderr, "error: cannot load AcceptEx: %s\n",
                         net::error_text(WSAGetLastError()).c_str());
            return 1;
        }
        const net::UniqueHandle port(CreateIoCompletionPort(INVALID_HANDLE_VALUE, nullptr, 0, 0));
        if (!port || !CreateIoCompletionPort(reinterpret_cast<HANDLE>(listener.get()), port.get(),
                                             listener_key, 0)) {
            std::fprintf(stderr, "error: CreateIoCompletionPort: %s\n",
                         net::error_text(static_cast<int>(GetLastError())).c_str());
            return 1;
        }

        // ANCHOR: start
        ConnectionRegistry registry(max_connections, max_refusals);
        HttpServer server(port.get(), listener.get(), bound.ss_family, extensions, site, stats,
                          registry);
        // Every AcceptOp is made before the first is posted, so that nothing can fail between
        // two posts but a post itself.
        std::vector<std::unique_ptr<AcceptOp>> accepts;
        for (unsigned i = 0; i < accepts_ahead; ++i)
            accepts.push_back(std::make_unique<AcceptOp>());
        WorkerPool pool(port.get(), workers, [&server] { server.worker_loop(); });
        Shutdown shutdown_in_order(server, registry, pool);  // from here on, however main leaves
        for (auto& op : accepts) {
            // A failed start still waits, in ~Shutdown, for the accepts posted before it.
            if (!server.post_accept(*op)) return 1;
        }
        net::log("serving ", std::filesystem::path(site.root).u8string(), " with ", workers,
                 " workers, ", accepts_ahead, " accepts posted ahead");
        net::log("listening on ", net::local_address(listener.get()));
        // ANCHOR_END: start

        // ANCHOR: main_wait
        // All the work is the workers'. Main waits for Ctrl+C, and once a second cancels the
        // connections that have made no progress for --idle-timeout seconds.
        while (WaitForSingleObject(stop_event.get(), 1000) == WAIT_TIMEOUT)
            registry.cancel_idle(stage09::now_ms() - 1000LL * idle_timeout);
        // ANCHOR_END: main_wait

        shutdown_in_order.run();
        net::log("stopped: ", stats.connections_total.load(), " connections, ",
                 stats.requests.load(), " requests, ", stats.bytes_sent.load(), " bytes sent");
        return 0;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "error: %s\n", error.what());
        return 1;
    }
}

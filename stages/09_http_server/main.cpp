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
//   - HTTP/1.1: requests parsed from bytes in any split (http.h), keep-alive (HTTP/1.1's
//     default, Connection: close, HTTP/1.0), pipelined requests answered in order, an idle
//     timeout, a table of handlers and static files (routes.h), an access log line per request.
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
#include <ctime>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace {

using stage09::Connection;
using stage09::ConnectionRegistry;

// Beyond this much output queued on a connection, its further pipelined requests wait.
constexpr std::size_t max_queued_output = 1024 * 1024;
// At most this much per WSASend: a send completes when the kernel has taken all of it, and each
// completion is progress for the idle timeout — a client reading a large file slowly must not
// look idle just because one enormous send has not completed yet.
constexpr std::size_t max_send = 256 * 1024;
// AcceptEx wants room for each address plus 16 bytes (its documentation says so).
constexpr DWORD address_space = sizeof(sockaddr_in6) + 16;

enum PacketKey : ULONG_PTR {
    exit_key = 0,
    listener_key = 1,    // an AcceptEx completed: the OVERLAPPED is an AcceptOp's
    connection_key = 2,  // a WSARecv or WSASend completed: the OVERLAPPED is an IoSlot's
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
            net::log("WSASocket failed: ", net::error_text(WSAGetLastError()));
            return false;
        }
        op.overlapped = OVERLAPPED{};
        DWORD bytes = 0;
        if (!extensions_.accept_ex(listener_, op.socket, op.addresses, 0, address_space,
                                   address_space, &bytes, &op.overlapped) &&
            WSAGetLastError() != ERROR_IO_PENDING) {
            net::log("AcceptEx failed: ", net::error_text(WSAGetLastError()));
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
    // (an accept) or a connection's (a receive or a send).
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
                    net::log("worker stops: GetQueuedCompletionStatus failed: ",
                             net::error_text(error));
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
        // The addresses are in the AcceptEx buffer already: no system call needed.
        sockaddr *local = nullptr, *remote = nullptr;
        int local_length = 0, remote_length = 0;
        extensions_.get_sockaddrs(op.addresses, 0, address_space, address_space, &local,
                                  &local_length, &remote, &remote_length);
        const std::string peer = net::address_to_string(remote);
        post_accept(op);  // keep the same number of accepts ahead
        start_connection(s, peer);
    }
    // ANCHOR_END: on_accept

    // ANCHOR: start_connection
    void start_connection(SOCKET s, const std::string& peer) {
        const std::uint64_t id = ++stats_.connections_total;
        Connection* connection = registry_.create(s, id, peer);
        if (!connection) {  // at the cap, or stopping: say so in HTTP, then close
            static const char busy[] =
                "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: "
                "close\r\n\r\n";
            send(s, busy, sizeof busy - 1, 0);
            shutdown(s, SD_SEND);
            closesocket(s);
            net::log("refused a connection from ", peer, ": server full or stopping");
            return;
        }
        ++stats_.connections_open;
        net::log("client ", id, " connected from ", peer, " (", registry_.size(), " live)");
        if (!CreateIoCompletionPort(reinterpret_cast<HANDLE>(s), port_, connection_key, 0)) {
            finish(connection, "CreateIoCompletionPort failed: " +
                                   net::error_text(static_cast<int>(GetLastError())));
            return;
        }
        std::string why;
        if (!start_receive(*connection, why)) finish(connection, why);
    }
    // ANCHOR_END: start_connection

    // ANCHOR: start_io
    // Start the connection's one operation. Under io_mutex, after checking that nobody has
    // cancelled it (see connection.h). False: no completion will come; the caller finishes.
    bool start_receive(Connection& c, std::string& why) {
        std::lock_guard<std::mutex> lock(c.io_mutex);
        if (!c.cancelled.empty()) {
            why = c.cancelled;
            return false;
        }
        c.doing = Connection::Doing::receiving;
        c.io.overlapped = OVERLAPPED{};
        WSABUF buffer{stage09::receive_size, c.input};
        DWORD flags = 0;
        if (io_failed(WSARecv(c.socket, &buffer, 1, nullptr, &flags, &c.io.overlapped, nullptr))) {
            why = "WSARecv failed: " + net::error_text(WSAGetLastError());
            return false;
        }
        return true;
    }

    bool start_send(Connection& c, std::string& why) {
        std::lock_guard<std::mutex> lock(c.io_mutex);
        if (!c.cancelled.empty()) {
            why = c.cancelled;
            return false;
        }
        c.doing = Connection::Doing::sending;
        c.io.overlapped = OVERLAPPED{};
        const std::size_t length = std::min(c.output.size() - c.output_sent, max_send);
        WSABUF buffer{static_cast<ULONG>(length), c.output.data() + c.output_sent};
        if (io_failed(WSASend(c.socket, &buffer, 1, nullptr, 0, &c.io.overlapped, nullptr))) {
            why = "WSASend failed: " + net::error_text(WSAGetLastError());
            return false;
        }
        return true;
    }
    // ANCHOR_END: start_io

    // ANCHOR: on_io
    // A receive or a send of this connection completed (or failed, or was cancelled).
    void on_io(Connection* c, bool ok, int error, DWORD bytes) {
        if (!ok) {
            const std::string reason = c->cancel_reason();
            finish(c, !reason.empty() ? reason
                                      : (c->doing == Connection::Doing::sending ? "send failed: "
                                                                                : "read failed: ") +
                                            net::error_text(error));
            return;
        }
        if (c->doing == Connection::Doing::receiving) {
            if (bytes == 0) {
                finish(c, c->draining ? "closed after our last response" : "closed by the client");
                return;
            }
            if (c->draining) {  // after our FIN: what the client still sends is discarded
                std::string why;
                if (!start_receive(*c, why)) finish(c, why);
                return;
            }
            if (!c->parser.started()) c->request_started = stage09::Clock::now();
            c->parser.feed(std::string_view(c->input, bytes));
        } else {
            c->output_sent += bytes;
            c->last_progress_ms = stage09::now_ms();
            stats_.bytes_sent += bytes;
            log_sent_responses(*c);
            if (c->output_sent < c->output.size()) {  // more to send, or a partial send
                std::string why;
                if (!start_send(*c, why)) finish(c, why);
                return;
            }
            c->output.clear();
            c->output_sent = 0;
            if (c->close_after_output) {
                // Our FIN, then read until the client closes: closing with its unread bytes
                // pending would make Windows reset the connection, and a reset can destroy the
                // response before the client has read it.
                shutdown(c->socket, SD_SEND);
                c->draining = true;
                std::string why;
                if (!start_receive(*c, why)) finish(c, why);
                return;
            }
        }
        answer_buffered_requests(*c);
        std::string why;
        const bool started = c->output.empty() ? start_receive(*c, why) : start_send(*c, why);
        if (!started) finish(c, why);
    }
    // ANCHOR_END: on_io

    // ANCHOR: answer_buffered_requests
    // Turn every complete request the parser holds into its response, in order (pipelining),
    // until the output bound is reached or a response closes the connection.
    void answer_buffered_requests(Connection& c) {
        while (!c.close_after_output && c.output.size() < max_queued_output) {
            const http::RequestParser::Status status = c.parser.feed({});
            if (status == http::RequestParser::Status::incomplete) return;
            if (status == http::RequestParser::Status::error) {
                const int code = http::status_of(c.parser.error());
                http::Response response;
                response.status = code;
                response.body = std::to_string(code) + " " + http::reason_phrase(code) + "\n";
                response.close = true;
                queue(c, "- (unparsable request)", response, false, false);
                return;
            }
            const http::Request request = c.parser.take();
            ++stats_.requests;
            http::Response response;
            try {
                response = routes::respond(request, site_);
            } catch (const std::exception& error) {  // a file system error: this request only
                response.status = 500;
                response.body = std::string("500 Internal Server Error: ") + error.what() + "\n";
            }
            if (!request.keep_alive) response.close = true;
            const bool keep_alive_header = request.minor_version == 0 && !response.close;
            queue(c, request.method + " " + request.target, response, request.method == "HEAD",
                  keep_alive_header);
            c.last_progress_ms = stage09::now_ms();
            if (c.parser.started()) c.request_started = stage09::Clock::now();
        }
    }

    void queue(Connection& c, const std::string& what, const http::Response& response,
               bool head_only, bool keep_alive_header) {
        c.output += http::serialize(response, head_only, keep_alive_header, std::time(nullptr));
        c.close_after_output = response.close;
        c.unlogged.push_back({c.output.size(),
                              what + " " + std::to_string(response.status) + " " +
                                  std::to_string(head_only ? 0 : response.body.size()) + " bytes",
                              c.request_started});
    }
    // ANCHOR_END: answer_buffered_requests

    // ANCHOR: access_log
    // One line per request, once the last byte of its response has been handed to the kernel:
    // who, what, the status, the body's size, and how long since its bytes arrived.
    void log_sent_responses(Connection& c) {
        while (!c.unlogged.empty() && c.unlogged.front().end <= c.output_sent) {
            const auto& entry = c.unlogged.front();
            const double ms =
                std::chrono::duration<double, std::milli>(stage09::Clock::now() - entry.started)
                    .count();
            char duration[32];
            std::snprintf(duration, sizeof duration, "%.2f ms", ms);
            net::log("client ", c.id, ": ", entry.line, " ", duration);
            c.unlogged.pop_front();
        }
    }
    // ANCHOR_END: access_log

    void finish(Connection* c, const std::string& why) {
        const std::uint64_t id = c->id;
        const std::size_t live = registry_.destroy(c);
        --stats_.connections_open;
        net::log("client ", id, " disconnected: ", why, " (", live, " live)");
    }

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
        ConnectionRegistry registry(max_connections);
        HttpServer server(port.get(), listener.get(), bound.ss_family, extensions, site, stats,
                          registry);
        std::vector<std::unique_ptr<AcceptOp>> accepts(accepts_ahead);
        WorkerPool pool(port.get(), workers, [&server] { server.worker_loop(); });
        for (auto& op : accepts) {
            op = std::make_unique<AcceptOp>();
            if (!server.post_accept(*op)) return 1;
        }
        net::log("serving ", site.root.u8string(), " with ", workers, " workers, ", accepts_ahead,
                 " accepts posted ahead");
        net::log("listening on ", net::local_address(listener.get()));
        // ANCHOR_END: start

        // ANCHOR: main_wait
        // All the work is the workers'. Main waits for Ctrl+C, and once a second cancels the
        // connections that have made no progress for --idle-timeout seconds.
        while (WaitForSingleObject(stop_event.get(), 1000) == WAIT_TIMEOUT)
            registry.cancel_idle(stage09::now_ms() - 1000LL * idle_timeout);
        // ANCHOR_END: main_wait

        // ANCHOR: shutdown
        // The order of stage 07, with accepts first: stop accepting and wait for the pending
        // AcceptEx calls to come back; cancel every connection and wait until the workers have
        // freed them all; then the exit packets.
        server.stop_accepting();
        registry.cancel_all();
        registry.wait_until_empty();
        pool.stop();
        // ANCHOR_END: shutdown

        net::log("stopped: ", stats.connections_total.load(), " connections, ",
                 stats.requests.load(), " requests, ", stats.bytes_sent.load(), " bytes sent");
        return 0;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "error: %s\n", error.what());
        return 1;
    }
}

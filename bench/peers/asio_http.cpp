// bench/peers/asio_http.cpp — the HTTP benchmark's reference peer: a small keep-alive HTTP/1.1
// server written with standalone asio, doing per request what stage 08 does (read the file
// from disk, or build the /stats JSON), built with MinGW-w64 and run under the same Wine.
// Not a lesson and not a complete server: no limits, no path checks beyond "..", GET only.
//
//   asio_http --root DIR [--host ADDR] [--port N] [--threads N]
#include <asio.hpp>

#include <array>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using asio::ip::tcp;

std::atomic<unsigned long long> requests{0}, bytes_sent{0}, connections{0};
std::string root;

std::string respond(const std::string& target, bool close) {
    std::string body, type = "application/octet-stream";
    int status = 200;
    const std::string path = target.substr(0, target.find('?'));
    if (path == "/stats") {
        type = "application/json";
        body = "{\"connections_total\": " + std::to_string(connections) +
               ", \"requests\": " + std::to_string(requests) +
               ", \"bytes_sent\": " + std::to_string(bytes_sent) + "}\n";
    } else if (path.find("..") == std::string::npos) {
        std::ifstream file(root + path, std::ios::binary);
        std::ostringstream content;
        if (file && (content << file.rdbuf())) {
            body = content.str();
            if (path.size() > 4 && path.compare(path.size() - 4, 4, ".txt") == 0)
                type = "text/plain; charset=utf-8";
        } else {
            status = 404;
        }
    } else {
        status = 404;
    }
    std::string head = "HTTP/1.1 " + std::to_string(status) + (status == 200 ? " OK" : " Not Found") +
                       "\r\nServer: asio-http-peer\r\nContent-Type: " + type +
                       "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    if (close) head += "Connection: close\r\n";
    return head + "\r\n" + body;
}

class Session : public std::enable_shared_from_this<Session> {
public:
    explicit Session(tcp::socket socket) : socket_(std::move(socket)) {}
    void start() { handle(); }

private:
    void handle() {
        const std::size_t end = input_.find("\r\n\r\n");
        if (end == std::string::npos) {
            if (input_.size() > 65536) return;
            auto self = shared_from_this();
            socket_.async_read_some(asio::buffer(buffer_), [this, self](std::error_code error,
                                                                        std::size_t length) {
                if (error) return;
                input_.append(buffer_.data(), length);
                handle();
            });
            return;
        }
        const std::string head = input_.substr(0, end);
        input_.erase(0, end + 4);
        const std::size_t first = head.find(' '), second = head.find(' ', first + 1);
        const std::string target = head.substr(first + 1, second - first - 1);
        std::string lower;
        for (char c : head) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        const bool close = lower.find("\r\nconnection: close") != std::string::npos;
        ++requests;
        output_ = respond(target, close);
        auto self = shared_from_this();
        asio::async_write(socket_, asio::buffer(output_),
                          [this, self, close](std::error_code error, std::size_t length) {
                              bytes_sent += length;
                              if (error) return;
                              if (close) {
                                  std::error_code ignored;
                                  socket_.shutdown(tcp::socket::shutdown_send, ignored);
                                  return;
                              }
                              handle();  // pipelined requests, or read the next one
                          });
    }

    tcp::socket socket_;
    std::array<char, 8192> buffer_;
    std::string input_, output_;
};

void do_accept(tcp::acceptor& acceptor) {
    acceptor.async_accept([&acceptor](std::error_code error, tcp::socket socket) {
        if (!acceptor.is_open()) return;
        if (!error) {
            ++connections;
            std::make_shared<Session>(std::move(socket))->start();
        }
        do_accept(acceptor);
    });
}

}  // namespace

int main(int argc, char* argv[]) {
    std::string host = "127.0.0.1";
    unsigned short port = 8080;
    unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string name = argv[i], value = argv[i + 1];
        if (name == "--host") host = value;
        else if (name == "--port") port = static_cast<unsigned short>(std::atoi(value.c_str()));
        else if (name == "--threads") threads = static_cast<unsigned>(std::max(1, std::atoi(value.c_str())));
        else if (name == "--root") root = value;
        else {
            std::cerr << "usage: asio_http --root DIR [--host ADDR] [--port N] [--threads N]\n";
            return 2;
        }
    }
    try {
        asio::io_context io;
        tcp::acceptor acceptor(io);
        const tcp::endpoint endpoint(asio::ip::make_address(host), port);
        acceptor.open(endpoint.protocol());
        acceptor.bind(endpoint);
        acceptor.listen(asio::socket_base::max_listen_connections);
        std::cout << "listening on " << host << ":" << acceptor.local_endpoint().port()
                  << std::endl;
        asio::signal_set signals(io, SIGINT, SIGTERM);
        signals.async_wait([&](std::error_code, int) {
            acceptor.close();
            io.stop();
        });
        do_accept(acceptor);
        std::vector<std::thread> pool;
        for (unsigned i = 1; i < threads; ++i) pool.emplace_back([&io] { io.run(); });
        io.run();
        for (std::thread& thread : pool) thread.join();
        return 0;
    } catch (const std::exception& error) {
        std::cerr << "error: " << error.what() << "\n";
        return 1;
    }
}

// bench/peers/asio_http.cpp — the HTTP benchmark's reference peer: a small keep-alive HTTP/1.1
// server written with standalone asio, doing per request what stage 08 does (read the file
// from disk, or build the /stats JSON), built with MinGW-w64 and run under the same Wine.
// Not a lesson and not a complete server: no limits, no path checks beyond "..", GET only.
//
//   asio_http --root DIR [--host ADDR] [--port N] [--threads N]
#include "serve.h"

#include <asio.hpp>

#include <array>
#include <atomic>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>

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
    std::string head = "HTTP/1.1 " + std::to_string(status) +
                       (status == 200 ? " OK" : " Not Found") +
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
            socket_.async_read_some(asio::buffer(buffer_),
                                    [this, self](std::error_code error, std::size_t length) {
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

}  // namespace

int main(int argc, char* argv[]) {
    return peer::serve(
        argc, argv,
        [](tcp::socket socket) {
            ++connections;
            std::make_shared<Session>(std::move(socket))->start();
        },
        &root);
}

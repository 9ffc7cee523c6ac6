// bench/peers/asio_echo.cpp — the benchmark's reference peer: an asynchronous echo server
// written with standalone asio, the way asio's own examples write one.
//
// One source, two builds: with MinGW-w64, run under the same Wine as the stages (the fair
// peer: on Windows asio drives sockets through an I/O completion port, like stage 07), and
// natively on the host (the machine's ceiling for loopback echo). Not a lesson; a yardstick.
//
//   asio_echo [--host ADDR] [--port N] [--threads N]
//
// Prints "listening on ADDR:PORT" once ready; Ctrl+C (SIGINT) stops it (bench/peers/serve.h).
#include "serve.h"

#include <asio.hpp>

#include <array>
#include <memory>
#include <utility>

namespace {

using asio::ip::tcp;

class Session : public std::enable_shared_from_this<Session> {
public:
    explicit Session(tcp::socket socket) : socket_(std::move(socket)) {}

    void start() { do_read(); }

private:
    void do_read() {
        auto self = shared_from_this();
        socket_.async_read_some(
            asio::buffer(buffer_), [this, self](std::error_code error, std::size_t length) {
                if (!error) do_write(length);  // end of stream or an error: the session ends
            });
    }

    void do_write(std::size_t length) {
        auto self = shared_from_this();
        asio::async_write(socket_, asio::buffer(buffer_, length),
                          [this, self](std::error_code error, std::size_t) {
                              if (!error) do_read();
                          });
    }

    tcp::socket socket_;
    std::array<char, 4096> buffer_;
};

}  // namespace

int main(int argc, char* argv[]) {
    return peer::serve(argc, argv, [](tcp::socket socket) {
        std::make_shared<Session>(std::move(socket))->start();
    });
}

// bench/peers/asio_echo.cpp — the benchmark's reference peer: an asynchronous echo server
// written with standalone asio, the way asio's own examples write one.
//
// One source, two builds: with MinGW-w64, run under the same Wine as the stages (the fair
// peer: on Windows asio drives sockets through an I/O completion port, like stage 07), and
// natively on the host (the machine's ceiling for loopback echo). Not a lesson; a yardstick.
//
//   asio_echo [--host ADDR] [--port N] [--threads N]
//
// Prints "listening on ADDR:PORT" once ready; Ctrl+C (SIGINT) stops it.
#include <asio.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

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

void do_accept(tcp::acceptor& acceptor) {
    acceptor.async_accept([&acceptor](std::error_code error, tcp::socket socket) {
        if (!acceptor.is_open()) return;
        if (!error) std::make_shared<Session>(std::move(socket))->start();
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
        if (name == "--host") {
            host = value;
        } else if (name == "--port") {
            port = static_cast<unsigned short>(std::atoi(value.c_str()));
        } else if (name == "--threads") {
            threads = static_cast<unsigned>(std::max(1, std::atoi(value.c_str())));
        } else {
            std::cerr << "usage: asio_echo [--host ADDR] [--port N] [--threads N]\n";
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
        std::cout << "stopped" << std::endl;
        return 0;
    } catch (const std::exception& error) {
        std::cerr << "error: " << error.what() << "\n";
        return 1;
    }
}

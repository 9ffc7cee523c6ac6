// bench/peers/serve.h — what both asio peers share: the command line, a listening acceptor that
// hands each connection to the peer's session, Ctrl+C, and a pool of threads running asio.
//
//   --host ADDR --port N --threads N [--root DIR, for the HTTP peer]
// Prints "listening on ADDR:PORT" when ready, as the stages do.
#pragma once

#include <asio.hpp>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

namespace peer {

template <class StartSession>
void accept_loop(asio::ip::tcp::acceptor& acceptor, StartSession& start_session) {
    acceptor.async_accept(
        [&acceptor, &start_session](std::error_code error, asio::ip::tcp::socket socket) {
            if (!acceptor.is_open()) return;
            if (!error) start_session(std::move(socket));
            accept_loop(acceptor, start_session);
        });
}

// Runs until SIGINT or SIGTERM; `root`, when given, receives --root.
template <class StartSession>
int serve(int argc, char* argv[], StartSession start_session, std::string* root = nullptr) {
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
        } else if (name == "--root" && root) {
            *root = value;
        } else {
            std::cerr << "usage: " << argv[0] << " [--host ADDR] [--port N] [--threads N]"
                      << (root ? " --root DIR" : "") << "\n";
            return 2;
        }
    }
    try {
        asio::io_context io;
        asio::ip::tcp::acceptor acceptor(io);
        const asio::ip::tcp::endpoint endpoint(asio::ip::make_address(host), port);
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
        accept_loop(acceptor, start_session);

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

}  // namespace peer

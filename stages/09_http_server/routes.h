// stages/09_http_server/routes.h — what the server answers: a small table of handlers, then
// static files under the served folder.
//
// Plain C++ and std::filesystem, no sockets: main.cpp hands each parsed request to respond()
// and sends back what it returns. The unit tests call respond() directly.
#pragma once

#include "stages/09_http_server/http.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>

namespace routes {

// Live counters for the /stats page; the server updates them from every worker.
struct Stats {
    std::atomic<std::uint64_t> connections_open{0};
    std::atomic<std::uint64_t> connections_total{0};
    std::atomic<std::uint64_t> requests{0};
    std::atomic<std::uint64_t> bytes_sent{0};
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

struct Site {
    std::filesystem::path root;  // absolute and canonical: see make_site()
    Stats& stats;
};

// The site for a folder; throws std::runtime_error if it is not an existing folder.
Site make_site(const std::filesystem::path& root, Stats& stats);

// The largest file served; anything bigger is answered with 500 (this stage reads a file
// into memory to send it; see the note's "What this stage leaves out").
constexpr std::uintmax_t max_file_size = 64u * 1024 * 1024;

// ANCHOR: respond_declaration
// The response to one request: the handler table (/stats, /hello), then the static files.
// GET and HEAD only: other methods get 405 with an Allow header, or 501 when unknown.
http::Response respond(const http::Request& request, const Site& site);
// ANCHOR_END: respond_declaration

}  // namespace routes

// stages/09_http_server/routes.h — what the server answers: a small table of handlers, then
// static files under the served folder.
//
// No sockets: main.cpp hands each parsed request to respond() and sends back what it returns.
// Files are opened here, with the Windows API, because only the file that was opened can say
// where it really is (links, junctions and 8.3 short names lead elsewhere than their spelling);
// their bytes are read by main.cpp, a chunk at a time. The unit tests call respond() directly.
#pragma once

#include "stages/09_http_server/http.h"

#include "common/winsock.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

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
    // The served folder's final path (GetFinalPathNameByHandleW: every link and junction on
    // the way resolved), as Windows spells it: "\\?\C:\www", or "\\?\UNC\server\share\www".
    std::wstring root;
    Stats& stats;
};

// The site for a folder; throws std::runtime_error if it is not an existing folder.
Site make_site(const std::filesystem::path& root, Stats& stats);

// A file handle (CreateFileW fails with INVALID_HANDLE_VALUE, not NULL as UniqueHandle assumes).
struct FileTraits {
    using Handle = HANDLE;
    static Handle invalid() noexcept { return INVALID_HANDLE_VALUE; }
    static void close(Handle h) noexcept { ::CloseHandle(h); }
};
using UniqueFile = net::UniqueResource<FileTraits>;

// ANCHOR: respond_declaration
// The answer to one request. For a GET of a file, `file` is the file, opened for overlapped,
// sequential reading, and response.file_size its size: the caller sends the response's head,
// then streams the file. For a HEAD of a file, only the size is known: nothing was opened for
// reading.
struct Reply {
    http::Response response;
    UniqueFile file;
};

// The response to one request: the handler table (/stats, /hello), then the static files.
// GET and HEAD only, and OPTIONS *: other methods get 405 with an Allow header, or 501 when
// unknown.
Reply respond(const http::Request& request, const Site& site);
// ANCHOR_END: respond_declaration

}  // namespace routes

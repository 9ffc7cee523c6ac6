#include "stages/09_http_server/routes.h"

#include <algorithm>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace fs = std::filesystem;

namespace routes {

namespace {

http::Response plain(int status, const std::string& text) {
    http::Response response;
    response.status = status;
    response.body = std::to_string(status) + " " + http::reason_phrase(status) + ": " + text + "\n";
    return response;
}

// ANCHOR: handlers
http::Response stats_page(const Site& site) {
    const auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::steady_clock::now() - site.stats.started)
                            .count();
    http::Response response;
    response.content_type = "application/json";
    response.body = "{\"connections_open\": " + std::to_string(site.stats.connections_open) +
                    ", \"connections_total\": " + std::to_string(site.stats.connections_total) +
                    ", \"requests\": " + std::to_string(site.stats.requests) +
                    ", \"bytes_sent\": " + std::to_string(site.stats.bytes_sent) +
                    ", \"uptime_seconds\": " + std::to_string(uptime) + "}\n";
    return response;
}

http::Response hello(const Site&) {
    http::Response response;
    response.body = "Hello from an I/O completion port.\n";
    return response;
}

struct Handler {
    std::string_view path;
    http::Response (*make)(const Site&);
};

// The handler table: exact paths first; everything else is looked for under the root.
constexpr Handler handlers[] = {
    {"/stats", stats_page},
    {"/hello", hello},
};
// ANCHOR_END: handlers

bool is_known_method(std::string_view method) {
    for (std::string_view known :
         {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"}) {
        if (method == known) return true;
    }
    return false;
}

// Whether `candidate` (canonical) lies inside `root` (canonical), compared part by part, so
// that C:\www-secret is not taken to be inside C:\www.
bool is_inside(const fs::path& root, const fs::path& candidate) {
    auto r = root.begin(), c = candidate.begin();
    for (; r != root.end(); ++r, ++c) {
        if (c == candidate.end() || *r != *c) return false;
    }
    return true;
}

// ANCHOR: serve_file
http::Response serve_file(const std::string& target, const Site& site) {
    const std::optional<std::string> relative = http::relative_path_for(target);
    if (!relative) return plain(400, "this path is not allowed");
    fs::path path = site.root / fs::u8path(*relative);

    std::error_code error;
    fs::file_status status = fs::status(path, error);
    if (error || !fs::exists(status)) return plain(404, "no such file");
    if (fs::is_directory(status)) {
        const std::string path_part = target.substr(0, target.find('?'));
        if (path_part.back() != '/') {  // so that the index page's relative links work
            http::Response moved = plain(301, "moved to " + path_part + "/");
            moved.extra_headers.push_back({"Location", path_part + "/"});
            return moved;
        }
        path /= "index.html";
        status = fs::status(path, error);
    }
    if (error || !fs::is_regular_file(status)) return plain(404, "no such file");

    // Defense in depth: relative_path_for() already refused every way out of the root that a
    // path can spell, but a link or junction inside the root could still point outside.
    const fs::path real = fs::canonical(path, error);
    if (error || !is_inside(site.root, real)) return plain(404, "no such file");

    const std::uintmax_t size = fs::file_size(real, error);
    if (error || size > max_file_size) return plain(500, "the file cannot be served");
    std::ifstream file(real, std::ios::binary);
    http::Response response;
    response.body.resize(static_cast<std::size_t>(size));
    if (!file.read(response.body.data(), static_cast<std::streamsize>(size)))
        return plain(500, "the file could not be read");
    response.content_type = http::content_type_for(real.filename().u8string());
    return response;
}
// ANCHOR_END: serve_file

}  // namespace

Site make_site(const fs::path& root, Stats& stats) {
    std::error_code error;
    if (!fs::is_directory(root, error))
        throw std::runtime_error("--root " + root.u8string() + " is not a folder");
    return Site{fs::canonical(root), stats};
}

// ANCHOR: respond
http::Response respond(const http::Request& request, const Site& site) {
    if (request.method != "GET" && request.method != "HEAD") {
        if (!is_known_method(request.method))
            return plain(501, "this server does not implement " + request.method);
        http::Response response = plain(405, request.method + " is not allowed here");
        response.extra_headers.push_back({"Allow", "GET, HEAD"});
        return response;
    }
    const std::string_view path =
        std::string_view(request.target).substr(0, request.target.find('?'));
    for (const Handler& handler : handlers) {
        if (path == handler.path) return handler.make(site);
    }
    return serve_file(request.target, site);
}
// ANCHOR_END: respond

}  // namespace routes

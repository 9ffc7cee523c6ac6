#include "stages/09_http_server/routes.h"

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

// ANCHOR: final_path
// Where an open file or folder really is: its final path, every link, junction, mount point
// and 8.3 short name on the way resolved, in long names, as "\\?\C:\www\index.html". (Under
// Wine, through a Unix symbolic link too: checked.) Empty if the system cannot say.
std::wstring final_path(HANDLE file) {
    std::wstring path(MAX_PATH, L'\0');
    for (;;) {
        const DWORD length =
            GetFinalPathNameByHandleW(file, path.data(), static_cast<DWORD>(path.size()),
                                      FILE_NAME_NORMALIZED | VOLUME_NAME_DOS);
        if (length == 0) return {};
        if (length < path.size()) {
            path.resize(length);
            return path;
        }
        path.resize(length);  // too small: `length` is the size needed, its NUL included
    }
}

// The names a final path is made of, without its "\\?\" prefix: "\\?\C:\www\a" gives
// {"C:", "www", "a"}, and "\\?\UNC\server\share\a" gives {"\\", "server", "share", "a"}.
std::vector<std::wstring> names_in(std::wstring_view path) {
    std::vector<std::wstring> names;
    if (path.substr(0, 8) == L"\\\\?\\UNC\\") {
        names.push_back(L"\\\\");
        path.remove_prefix(8);
    } else if (path.substr(0, 4) == L"\\\\?\\") {
        path.remove_prefix(4);
    }
    while (!path.empty()) {
        const std::size_t separator = path.find(L'\\');
        if (separator != 0) names.emplace_back(path.substr(0, separator));
        if (separator == std::wstring_view::npos) break;
        path.remove_prefix(separator + 1);
    }
    return names;
}

// Two names compared as Windows compares file names: ordinal, ignoring case by the system's
// uppercase table (not the locale's rules: "STRASSE" is not "Straße").
bool same_name(const std::wstring& a, const std::wstring& b) {
    return CompareStringOrdinal(a.data(), static_cast<int>(a.size()), b.data(),
                                static_cast<int>(b.size()), TRUE) == CSTR_EQUAL;
}
// ANCHOR_END: final_path

// ANCHOR: open_inside
struct Opened {
    UniqueFile file;
    bool is_folder = false;
    std::uint64_t size = 0;
    std::string name;  // the long name of what was opened (UTF-8), for its content type
};

// Opens `relative` (a path relative_path_for() accepted) under the root, then decides on what
// was opened, not on how the request spelled it:
//  - its final path must lie inside the root's, compared name by name: a link or a junction
//    inside the root that leads out of it is refused, wherever it points;
//  - every name of it below the root must pass is_acceptable_name(): "GIT~1", an 8.3 short
//    name, spells nothing hidden but opens ".git", and ".git" is refused;
//  - a file with more than one name (hard links) is refused: see below.
// Nothing when it is missing or refused. `access`: GENERIC_READ to read it, or only
// FILE_READ_ATTRIBUTES when its size is all that is needed (HEAD).
std::optional<Opened> open_inside(const Site& site, const std::string& relative, DWORD access) {
    std::wstring path = site.root;
    if (!relative.empty()) {
        if (path.back() != L'\\') path += L'\\';  // a drive's root ends with one already
        // With the "\\?\" prefix the path goes to the file system as it is: '/' is no
        // separator there, and nothing is dropped or reinterpreted.
        path += fs::u8path(relative).make_preferred().wstring();
    }
    // FILE_FLAG_BACKUP_SEMANTICS: a folder opens too (and says it is one). OVERLAPPED: main.cpp
    // reads the file with ReadFile completing to its port; SEQUENTIAL_SCAN: front to back.
    // Every share mode: the site's files may be replaced while they are being served.
    UniqueFile file(CreateFileW(
        path.c_str(), access, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, nullptr,
        OPEN_EXISTING,
        FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OVERLAPPED | FILE_FLAG_SEQUENTIAL_SCAN, nullptr));
    if (!file) return std::nullopt;

    const std::vector<std::wstring> root = names_in(site.root);
    const std::vector<std::wstring> real = names_in(final_path(file.get()));
    if (root.empty() || real.size() < root.size()) return std::nullopt;
    for (std::size_t i = 0; i < root.size(); ++i) {
        if (!same_name(root[i], real[i])) return std::nullopt;  // outside the root
    }
    Opened opened;
    for (std::size_t i = root.size(); i < real.size(); ++i) {
        opened.name = fs::path(real[i]).u8string();
        if (!http::is_acceptable_name(opened.name)) return std::nullopt;
    }

    BY_HANDLE_FILE_INFORMATION info{};
    if (!GetFileInformationByHandle(file.get(), &info)) return std::nullopt;
    opened.is_folder = (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) != 0;
    // A hard link has no target to resolve: each of a file's names is a final path of it, so a
    // second name inside the root for a file that lives elsewhere passes the test above. Which
    // other names a file has cannot be asked cheaply; a file with more than one is refused.
    if (!opened.is_folder && info.nNumberOfLinks > 1) return std::nullopt;
    if (!opened.is_folder && GetFileType(file.get()) != FILE_TYPE_DISK) return std::nullopt;
    opened.size = (std::uint64_t{info.nFileSizeHigh} << 32) | info.nFileSizeLow;
    opened.file = std::move(file);
    return opened;
}
// ANCHOR_END: open_inside

// ANCHOR: serve_file
Reply serve_file(const http::Request& request, const Site& site) {
    const std::optional<std::string> relative = http::relative_path_for(request.target);
    if (!relative) return {plain(400, "this path is not allowed"), {}};
    // HEAD needs the size only: nothing is opened for reading, nothing is read.
    const DWORD access = request.method == "HEAD" ? FILE_READ_ATTRIBUTES : GENERIC_READ;
    std::optional<Opened> opened = open_inside(site, *relative, access);
    if (!opened) return {plain(404, "no such file"), {}};

    if (opened->is_folder) {
        const std::string_view path_part =
            std::string_view(request.target).substr(0, request.target.find_first_of("?#"));
        if (path_part.back() != '/') {  // so that the index page's relative links work
            // From the normalized path, never from the raw target: "//docs" would give
            // "//docs/", which a browser reads as the host "docs".
            const std::string location =
                "/" + http::percent_encode_path(*relative) + (relative->empty() ? "" : "/");
            http::Response moved = plain(301, "moved to " + location);
            moved.extra_headers.push_back({"Location", location});
            return {std::move(moved), {}};
        }
        opened =
            open_inside(site, relative->empty() ? "index.html" : *relative + "/index.html", access);
        if (!opened || opened->is_folder) return {plain(404, "no such file"), {}};
    }

    Reply reply;
    reply.response.content_type = http::content_type_for(opened->name);
    reply.response.file_size = opened->size;
    if (request.method != "HEAD") reply.file = std::move(opened->file);
    return reply;
}
// ANCHOR_END: serve_file

}  // namespace

Site make_site(const fs::path& root, Stats& stats) {
    const UniqueFile folder(CreateFileW(root.wstring().c_str(), FILE_READ_ATTRIBUTES,
                                        FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                                        nullptr, OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS,
                                        nullptr));
    BY_HANDLE_FILE_INFORMATION info{};
    if (!folder || !GetFileInformationByHandle(folder.get(), &info) ||
        !(info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY))
        throw std::runtime_error("--root " + root.u8string() + " is not a folder");
    std::wstring real = final_path(folder.get());
    if (real.empty()) throw std::runtime_error("--root " + root.u8string() + ": no final path");
    return Site{std::move(real), stats};
}

// ANCHOR: respond
Reply respond(const http::Request& request, const Site& site) {
    if (request.target == "*") {  // OPTIONS * (the parser lets no other method have it)
        http::Response response;
        response.extra_headers.push_back({"Allow", "GET, HEAD"});
        return {std::move(response), {}};
    }
    if (request.method != "GET" && request.method != "HEAD") {
        if (!is_known_method(request.method))
            return {plain(501, "this server does not implement " + request.method), {}};
        http::Response response = plain(405, request.method + " is not allowed here");
        response.extra_headers.push_back({"Allow", "GET, HEAD"});
        return {std::move(response), {}};
    }
    const std::string_view path =
        std::string_view(request.target).substr(0, request.target.find('?'));
    for (const Handler& handler : handlers) {
        if (path == handler.path) return {handler.make(site), {}};
    }
    return serve_file(request, site);
}
// ANCHOR_END: respond

}  // namespace routes

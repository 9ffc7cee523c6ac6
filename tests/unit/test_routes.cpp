// Stage 09's routing: the handler table, static files byte for byte, directories, methods,
// and no way out of the served folder, by any spelling of the path.
#include "stages/09_http_server/routes.h"

#include "common/winsock.h"

#include "catch.hpp"

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace fs = std::filesystem;

namespace {

void write_file(const fs::path& path, const std::string& bytes) {
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A served folder "www" with a few files, and secrets beside it that must never be served.
struct Fixture {
    fs::path base =
        fs::temp_directory_path() / ("routes-test-" + std::to_string(std::random_device{}()));
    std::string binary;
    routes::Stats stats;

    Fixture() {
        for (int i = 0; i < 70000; ++i) binary += static_cast<char>((i * 7919) % 256);
        write_file(base / "www" / "index.html", "<h1>home</h1>");
        write_file(base / "www" / "data.bin", binary);
        write_file(base / "www" / "docs" / "index.html", "<h1>docs</h1>");
        fs::create_directories(base / "www" / "empty");
        write_file(base / "secret.txt", "TOP SECRET");
        write_file(base / "www-secret" / "x.txt", "TOP SECRET");
    }
    ~Fixture() {
        std::error_code ignored;
        fs::remove_all(base, ignored);
    }

    routes::Reply reply(const std::string& target, const std::string& method = "GET") {
        const routes::Site site = routes::make_site(base / "www", stats);
        http::Request request;
        request.method = method;
        request.target = target;
        return routes::respond(request, site);
    }

    // The response as a client would see it: a file body read into `body`, as the server would
    // stream it.
    http::Response get(const std::string& target, const std::string& method = "GET") {
        routes::Reply answer = reply(target, method);
        if (answer.file) answer.response.body = read_all(answer.file.get());
        return answer.response;
    }

    // The file opened for overlapped reading, read front to back as main.cpp does, waiting
    // for each read here instead of on a completion port.
    static std::string read_all(HANDLE file) {
        std::string bytes;
        char chunk[4096];
        const net::UniqueHandle done(CreateEventW(nullptr, TRUE, FALSE, nullptr));
        for (;;) {
            OVERLAPPED overlapped{};
            overlapped.Offset = static_cast<DWORD>(bytes.size());
            overlapped.hEvent = done.get();
            DWORD got = 0;
            if (!ReadFile(file, chunk, sizeof chunk, nullptr, &overlapped) &&
                GetLastError() != ERROR_IO_PENDING)
                break;  // ERROR_HANDLE_EOF
            if (!GetOverlappedResult(file, &overlapped, &got, TRUE) || got == 0) break;
            bytes.append(chunk, got);
        }
        return bytes;
    }
};

}  // namespace

TEST_CASE("static files come back byte for byte, with their type", "[routes]") {
    Fixture f;
    const http::Response home = f.get("/");
    CHECK(home.status == 200);
    CHECK(home.body == "<h1>home</h1>");
    CHECK(home.content_type == "text/html; charset=utf-8");

    const http::Response binary = f.get("/data.bin?v=2");
    CHECK(binary.status == 200);
    CHECK(binary.body == f.binary);
    CHECK(binary.content_type == "application/octet-stream");

    CHECK(f.get("/docs/").body == "<h1>docs</h1>");
    CHECK(f.get("/missing.html").status == 404);
    CHECK(f.get("/empty/").status == 404);  // a folder without index.html: no listing
}

TEST_CASE("a folder named without its slash is redirected to it", "[routes]") {
    Fixture f;
    const http::Response moved = f.get("/docs");
    CHECK(moved.status == 301);
    REQUIRE(moved.extra_headers.size() == 1);
    CHECK(moved.extra_headers[0].name == "Location");
    CHECK(moved.extra_headers[0].value == "/docs/");
}

TEST_CASE("handlers come before files; /stats counts", "[routes]") {
    Fixture f;
    f.stats.requests = 41;
    f.stats.connections_open = 3;
    const http::Response stats = f.get("/stats");
    CHECK(stats.status == 200);
    CHECK(stats.content_type == "application/json");
    CHECK(stats.body.find("\"requests\": 41") != std::string::npos);
    CHECK(stats.body.find("\"connections_open\": 3") != std::string::npos);
    CHECK(f.get("/hello").status == 200);
}

TEST_CASE("methods: GET and HEAD; 405 with Allow for the others; 501 for unknown ones",
          "[routes]") {
    Fixture f;
    CHECK(f.get("/", "HEAD").status == 200);  // the caller leaves out the body
    const http::Response post = f.get("/", "POST");
    CHECK(post.status == 405);
    REQUIRE(post.extra_headers.size() == 1);
    CHECK(post.extra_headers[0].name == "Allow");
    CHECK(post.extra_headers[0].value == "GET, HEAD");
    CHECK(f.get("/stats", "DELETE").status == 405);
    CHECK(f.get("/", "BREW").status == 501);
}

TEST_CASE("no spelling of a path leads out of the served folder", "[routes]") {
    Fixture f;
    const std::vector<std::string> attempts = {
        "/../secret.txt",           "/..%2fsecret.txt",
        "/%2e%2e/secret.txt",       "/%2E%2E%2Fsecret.txt",
        "/docs/../../secret.txt",   "/..\\secret.txt",
        "/..%5csecret.txt",         "/%5c..%5csecret.txt",
        "/../www-secret/x.txt",     "/C:/Windows/win.ini",
        "/C:%5cWindows%5cwin.ini",  "//../secret.txt",
        "/secret.txt%00.html",      "/index.html%00",
        "/.%2e/.%2e/secret.txt",    "/docs/..",
        "/%c0%ae%c0%ae/secret.txt",
    };
    for (const std::string& target : attempts) {
        INFO("target: " << target);
        const http::Response response = f.get(target);
        CHECK(response.status != 200);
        CHECK(response.body.find("TOP SECRET") == std::string::npos);
    }
    // An absolute path the server's own folder would resolve is still taken as under the root.
    const std::string absolute = "/" + (f.base / "secret.txt").generic_u8string();
    CHECK(f.get(absolute).body.find("TOP SECRET") == std::string::npos);
}

TEST_CASE("make_site refuses a folder that does not exist", "[routes]") {
    routes::Stats stats;
    CHECK_THROWS(
        routes::make_site(fs::temp_directory_path() / "no-such-folder-for-stage-08", stats));
}

TEST_CASE("a redirect's Location comes from the normalized path, percent-encoded", "[routes]") {
    // Never from the raw target: "//docs" would make "//docs/", a URL of another host.
    Fixture f;
    fs::create_directories(f.base / "www" / "my docs");
    fs::create_directories(f.base / "www" / fs::u8path("caf\xc3\xa9"));
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"/docs", "/docs/"},           {"//docs", "/docs/"},          {"///docs", "/docs/"},
        {"/%2Fdocs", "/docs/"},        {"/%64ocs?x=1", "/docs/"},     {"/my%20docs", "/my%20docs/"},
        {"/caf%C3%A9", "/caf%C3%A9/"}, {"/caf%c3%a9", "/caf%C3%A9/"},
    };
    for (const auto& c : cases) {
        INFO("target: " << c.first);
        const http::Response moved = f.get(c.first);
        CHECK(moved.status == 301);
        REQUIRE(moved.extra_headers.size() == 1);
        CHECK(moved.extra_headers[0].value == c.second);
    }
    CHECK(f.get("/docs//").body == "<h1>docs</h1>");  // a folder with its slash: no redirect
}

namespace {

// The 8.3 short name Windows (or Wine) gave the last part of `path`, or "" if it has none.
std::wstring short_name_of(const fs::path& path) {
    wchar_t buffer[MAX_PATH];
    const DWORD length = GetShortPathNameW(path.wstring().c_str(), buffer, MAX_PATH);
    if (length == 0 || length >= MAX_PATH) return L"";
    const fs::path name = fs::path(std::wstring(buffer, length)).filename();
    return name.wstring().find(L'~') == std::wstring::npos ? L"" : name.wstring();
}

}  // namespace

TEST_CASE("an 8.3 short name does not reach a hidden folder", "[routes]") {
    // "GET /GIT~1/config" spells nothing hidden but opens .git\config: the rules are applied
    // to the long names of what was opened. The short name comes from the system
    // (GetShortPathNameW): "GIT~1" on Windows, "_GIT~IBP" or so under Wine.
    Fixture f;
    write_file(f.base / "www" / ".git" / "config", "TOP SECRET");
    write_file(f.base / "www" / "a-long-page-name.html", "<p>long</p>");
    const std::wstring hidden = short_name_of(f.base / "www" / ".git");
    const std::wstring visible = short_name_of(f.base / "www" / "a-long-page-name.html");
    if (hidden.empty() || visible.empty()) {
        WARN("this volume gives no 8.3 short names (fsutil 8dot3name): nothing to test");
        return;
    }
    const std::string hidden_target = "/" + fs::path(hidden).u8string() + "/config";
    INFO("target: " << hidden_target);
    const http::Response refused = f.get(hidden_target);
    CHECK(refused.status == 404);
    CHECK(refused.body.find("TOP SECRET") == std::string::npos);

    const std::string visible_target = "/" + fs::path(visible).u8string();
    INFO("target: " << visible_target);
    const http::Response served = f.get(visible_target);
    CHECK(served.status == 200);
    CHECK(served.body == "<p>long</p>");
    CHECK(served.content_type == "text/html; charset=utf-8");  // the long name's type
}

TEST_CASE("a file is opened for the caller to stream; HEAD opens nothing to read", "[routes]") {
    Fixture f;
    const routes::Reply get = f.reply("/data.bin");
    CHECK(get.response.status == 200);
    REQUIRE(get.response.file_size);
    CHECK(*get.response.file_size == f.binary.size());
    CHECK(get.response.body.empty());  // the body is the file, not a copy in memory
    CHECK(get.file);

    const routes::Reply head = f.reply("/data.bin", "HEAD");
    CHECK(head.response.status == 200);
    REQUIRE(head.response.file_size);
    CHECK(*head.response.file_size == f.binary.size());  // for Content-Length
    CHECK_FALSE(head.file);
    CHECK(http::serialize(head.response, true, false, 0).find("\r\nContent-Length: 70000\r\n") !=
          std::string::npos);
}

TEST_CASE("OPTIONS * says which methods the server allows", "[routes]") {
    Fixture f;
    const http::Response options = f.get("*", "OPTIONS");
    CHECK(options.status == 200);
    REQUIRE(options.extra_headers.size() == 1);
    CHECK(options.extra_headers[0].name == "Allow");
    CHECK(options.extra_headers[0].value == "GET, HEAD");
    CHECK(options.body.empty());
}

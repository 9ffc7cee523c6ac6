// Stage 09's routing: the handler table, static files byte for byte, directories, methods,
// and no way out of the served folder, by any spelling of the path.
#include "stages/09_http_server/routes.h"

#include "catch.hpp"

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
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

    http::Response get(const std::string& target, const std::string& method = "GET") {
        const routes::Site site = routes::make_site(base / "www", stats);
        http::Request request;
        request.method = method;
        request.target = target;
        return routes::respond(request, site);
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

// Stage 09's HTTP parser and path rules. Every request below is parsed whole, in two pieces
// split at every possible point, and one byte at a time: TCP may deliver it any of those
// ways, and the outcome must not depend on which.
#include "stages/09_http_server/http.h"

#include "catch.hpp"

#include <string>
#include <vector>

using http::Error;
using http::RequestParser;
using Status = http::RequestParser::Status;

namespace {

struct Outcome {
    Status status = Status::incomplete;
    Error error = Error::none;
    std::vector<http::Request> requests;  // every complete request, in order
};

// Feeds the pieces in turn, taking each request as it completes (as the server does).
Outcome parse_pieces(const std::vector<std::string>& pieces, http::Limits limits = {}) {
    RequestParser parser(limits);
    Outcome outcome;
    for (const std::string& piece : pieces) {
        Status status = parser.feed(piece);
        while (status == Status::complete) {
            outcome.requests.push_back(parser.take());
            status = parser.feed({});
        }
        outcome.status = status;
        if (status == Status::error) break;
    }
    outcome.error = parser.error();
    return outcome;
}

// Every way of cutting `input` into two pieces, and into single bytes.
std::vector<std::vector<std::string>> every_split(const std::string& input) {
    std::vector<std::vector<std::string>> splits;
    for (std::size_t at = 0; at <= input.size(); ++at)
        splits.push_back({input.substr(0, at), input.substr(at)});
    std::vector<std::string> bytes;
    for (char c : input) bytes.push_back(std::string(1, c));
    splits.push_back(bytes);
    return splits;
}

bool same(const http::Request& a, const http::Request& b) {
    if (a.method != b.method || a.target != b.target || a.minor_version != b.minor_version ||
        a.body != b.body || a.keep_alive != b.keep_alive || a.headers.size() != b.headers.size())
        return false;
    for (std::size_t i = 0; i < a.headers.size(); ++i) {
        if (a.headers[i].name != b.headers[i].name || a.headers[i].value != b.headers[i].value)
            return false;
    }
    return true;
}

// Parses `input` every way and checks that every way agrees; returns the outcome.
Outcome parse_every_way(const std::string& input, http::Limits limits = {}) {
    const Outcome whole = parse_pieces({input}, limits);
    for (const auto& pieces : every_split(input)) {
        const Outcome split = parse_pieces(pieces, limits);
        INFO("input: " << input.substr(0, 200) << "\nfirst piece: " << pieces.front().size()
                       << " bytes of " << input.size());
        REQUIRE(split.status == whole.status);
        REQUIRE(split.error == whole.error);
        REQUIRE(split.requests.size() == whole.requests.size());
        for (std::size_t i = 0; i < whole.requests.size(); ++i)
            REQUIRE(same(split.requests[i], whole.requests[i]));
    }
    return whole;
}

const std::string host = "Host: example\r\n";

}  // namespace

TEST_CASE("a simple GET, at every split point", "[http]") {
    const Outcome outcome = parse_every_way("GET /index.html?x=1 HTTP/1.1\r\n" + host + "\r\n");
    REQUIRE(outcome.requests.size() == 1);
    const http::Request& request = outcome.requests[0];
    CHECK(request.method == "GET");
    CHECK(request.target == "/index.html?x=1");
    CHECK(request.minor_version == 1);
    CHECK(request.keep_alive);
    REQUIRE(request.header("HOST"));  // names compare case-insensitively
    CHECK(*request.header("host") == "example");
    CHECK(outcome.status == Status::incomplete);  // and waiting for the next request
}

TEST_CASE("keep-alive follows the version and the Connection header", "[http]") {
    struct Case {
        std::string request;
        bool keep_alive;
    };
    const std::vector<Case> cases = {
        {"GET / HTTP/1.1\r\n" + host + "\r\n", true},
        {"GET / HTTP/1.1\r\n" + host + "Connection: close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\n" + host + "Connection: Keep-Alive, CLOSE\r\n\r\n", false},
        {"GET / HTTP/1.0\r\n\r\n", false},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.2\r\n" + host + "\r\n", true},  // a later 1.x is answered as 1.1
    };
    for (const Case& c : cases) {
        const Outcome outcome = parse_every_way(c.request);
        REQUIRE(outcome.requests.size() == 1);
        CHECK(outcome.requests[0].keep_alive == c.keep_alive);
    }
}

TEST_CASE("bodies by Content-Length, and pipelined requests in order", "[http]") {
    const std::string post =
        "POST /form HTTP/1.1\r\n" + host + "Content-Length: 12\r\n\r\nhello\r\nworld";
    const std::string get = "GET /next HTTP/1.1\r\n" + host + "\r\n";
    const Outcome outcome = parse_every_way(post + get + get);
    REQUIRE(outcome.requests.size() == 3);
    CHECK(outcome.requests[0].body == "hello\r\nworld");
    CHECK(outcome.requests[1].target == "/next");
    CHECK(outcome.requests[2].target == "/next");

    const Outcome empty =
        parse_every_way("POST / HTTP/1.1\r\n" + host + "Content-Length: 0\r\n\r\n");
    REQUIRE(empty.requests.size() == 1);
    CHECK(empty.requests[0].body.empty());

    const Outcome twice = parse_every_way("POST / HTTP/1.1\r\n" + host +
                                          "Content-Length: 2\r\nContent-Length: 2\r\n\r\nok");
    REQUIRE(twice.requests.size() == 1);  // the same length twice is allowed
    CHECK(twice.requests[0].body == "ok");
}

TEST_CASE("a parser that keeps no bodies counts them and finds the next request after each",
          "[http]") {
    http::Limits without_bodies;
    without_bodies.keep_bodies = false;
    const std::string post =
        "POST /form HTTP/1.1\r\n" + host + "Content-Length: 12\r\n\r\nhello\r\nworld";
    const std::string get = "GET /next HTTP/1.1\r\n" + host + "\r\n";
    const Outcome outcome = parse_every_way(post + get + post + get, without_bodies);
    REQUIRE(outcome.requests.size() == 4);
    CHECK(outcome.requests[0].method == "POST");
    CHECK(outcome.requests[0].body.empty());
    CHECK(outcome.requests[1].target == "/next");
    CHECK(outcome.requests[2].body.empty());
    CHECK(outcome.requests[3].target == "/next");

    // A body split over many reads is dropped as it comes: the parser holds none of it.
    RequestParser parser(without_bodies);
    CHECK(parser.feed("POST / HTTP/1.1\r\n" + host + "Content-Length: 1000000\r\n\r\n") ==
          Status::incomplete);
    for (int i = 0; i < 999; ++i) CHECK(parser.feed(std::string(1000, 'b')) == Status::incomplete);
    CHECK(parser.feed(std::string(1000, 'b') + get) == Status::complete);
    CHECK(parser.take().body.empty());
    CHECK(parser.feed({}) == Status::complete);
    CHECK(parser.take().target == "/next");
}

TEST_CASE("tolerated: bare LF line ends, empty lines before the request, spaces around values",
          "[http]") {
    const Outcome bare = parse_every_way("GET / HTTP/1.1\nHost: a\n\n");
    REQUIRE(bare.requests.size() == 1);
    const Outcome leading = parse_every_way("\r\n\r\nGET / HTTP/1.1\r\n" + host + "\r\n");
    REQUIRE(leading.requests.size() == 1);
    // (The value with a space inside is not a Host's: a Host "a b" is a 400, see below.)
    const Outcome spaced =
        parse_every_way("GET / HTTP/1.1\r\nHost: \t a \t\r\nX-Spaced: \t a b \t\r\n\r\n");
    REQUIRE(spaced.requests.size() == 1);
    CHECK(*spaced.requests[0].header("Host") == "a");
    CHECK(*spaced.requests[0].header("X-Spaced") == "a b");
}

TEST_CASE("malformed requests are errors, with the status that says why", "[http]") {
    struct Case {
        std::string request;
        Error error;
    };
    const std::string long_target = "/" + std::string(9000, 'a');
    std::string many_headers = "GET / HTTP/1.1\r\n" + host;
    for (int i = 0; i < 100; ++i) many_headers += "X-" + std::to_string(i) + ": y\r\n";
    const std::vector<Case> cases = {
        {"GET  / HTTP/1.1\r\n" + host + "\r\n", Error::bad_request},            // two spaces
        {"GET / HTTP/1.1 x\r\n" + host + "\r\n", Error::bad_request},           // four parts
        {"GET /\r\n" + host + "\r\n", Error::bad_request},                      // no version
        {"GET index.html HTTP/1.1\r\n" + host + "\r\n", Error::bad_request},    // not origin form
        {"GET /a\x01 HTTP/1.1\r\n" + host + "\r\n", Error::bad_request},        // control character
        {"GET /caf\xc3\xa9 HTTP/1.1\r\n" + host + "\r\n", Error::bad_request},  // raw non-ASCII
        {"G(T / HTTP/1.1\r\n" + host + "\r\n", Error::bad_request},             // not a token
        {"GET / HTTX/1.1\r\n" + host + "\r\n", Error::bad_request},
        {"GET / HTTP/1.10\r\n" + host + "\r\n", Error::bad_request},
        {"GET / HTTP/2.0\r\n" + host + "\r\n", Error::version_not_supported},
        {"GET / HTTP/1.1\r\n\r\n", Error::bad_request},                     // no Host
        {"GET / HTTP/1.1\r\n" + host + host + "\r\n", Error::bad_request},  // two Hosts
        {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", Error::bad_request},         // space before ':'
        {"GET / HTTP/1.1\r\n" + host + "X: a\r\n  folded\r\n\r\n", Error::bad_request},
        {"GET / HTTP/1.1\r\n" + host + "no colon\r\n\r\n", Error::bad_request},
        {"GET / HTTP/1.1\r\n" + host + std::string("X: a\0b\r\n\r\n", 9), Error::bad_request},
        {"GET / HTTP/1.1\r\n" + host + "X: a\vb\r\n\r\n", Error::bad_request},  // control
        {"POST / HTTP/1.1\r\n" + host + "Content-Length: abc\r\n\r\n", Error::bad_request},
        {"POST / HTTP/1.1\r\n" + host + "Content-Length: -1\r\n\r\n", Error::bad_request},
        {"POST / HTTP/1.1\r\n" + host + "Content-Length: +5\r\n\r\n", Error::bad_request},
        {"POST / HTTP/1.1\r\n" + host + "Content-Length: 1 2\r\n\r\n", Error::bad_request},
        {"POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\nContent-Length: 6\r\n\r\n",
         Error::bad_request},
        {"POST / HTTP/1.1\r\n" + host + "Content-Length: 2000000\r\n\r\n",
         Error::payload_too_large},
        {"POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         Error::not_implemented},
        {"POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip\r\n\r\n", Error::not_implemented},
        {"POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
         Error::bad_request},  // both framings: the classic request smuggling
        {"GET " + long_target + " HTTP/1.1\r\n" + host + "\r\n", Error::uri_too_long},
        {"GET / HTTP/1.1\r\n" + host + "X: " + std::string(17000, 'v') + "\r\n\r\n",
         Error::headers_too_large},
        {many_headers + "\r\n", Error::headers_too_large},
    };
    for (const Case& c : cases) {
        const Outcome outcome = parse_every_way(c.request);
        INFO("request: " << c.request.substr(0, 120));
        CHECK(outcome.status == Status::error);
        CHECK(outcome.error == c.error);
        CHECK(outcome.requests.empty());
    }
}

TEST_CASE("limits are enforced before the line ends", "[http]") {
    // A request line that never ends, or headers that never end, are refused as soon as they
    // are over the limit: the server does not buffer them waiting for a "\n".
    RequestParser endless_line;
    CHECK(endless_line.feed("GET /" + std::string(9000, 'a')) == Status::error);
    CHECK(endless_line.error() == Error::uri_too_long);

    RequestParser endless_headers;
    CHECK(endless_headers.feed("GET / HTTP/1.1\r\nX: " + std::string(17000, 'v')) == Status::error);
    CHECK(endless_headers.error() == Error::headers_too_large);

    http::Limits small;
    small.max_request_line = 20;
    CHECK(parse_every_way("GET /123456789012 HTTP/1.1\r\n" + host + "\r\n", small).error ==
          Error::uri_too_long);
    CHECK(parse_every_way("GET /123456 HTTP/1.1\r\n" + host + "\r\n", small).requests.size() == 1);
}

TEST_CASE("an error is final: the parser stays in it", "[http]") {
    RequestParser parser;
    CHECK(parser.feed("BAD\r\n") == Status::error);
    CHECK(parser.feed("GET / HTTP/1.1\r\n" + host + "\r\n") == Status::error);
    CHECK(parser.error() == Error::bad_request);
    CHECK(http::status_of(Error::headers_too_large) == 431);
    CHECK(http::status_of(Error::uri_too_long) == 414);
}

TEST_CASE("paths under the served folder, and every way out refused", "[http]") {
    struct Case {
        std::string target;
        const char* expected;  // nullptr: refused
    };
    const std::vector<Case> cases = {
        {"/", ""},
        {"/index.html", "index.html"},
        {"/a/b/c.txt?download=1", "a/b/c.txt"},
        {"//a///b", "a/b"},
        {"/space%20name.txt", "space name.txt"},
        {"/%252e%252e/x", "%2e%2e/x"},  // decoded once: a literal name, not a way up
        {"/..", nullptr},
        {"/../secret.txt", nullptr},
        {"/a/../../secret.txt", nullptr},
        {"/%2e%2e/secret.txt", nullptr},
        {"/%2E%2e/secret.txt", nullptr},
        {"/.%2e/secret.txt", nullptr},
        {"/a/./b", nullptr},
        {"/..%5csecret.txt", nullptr},  // a backslash, encoded
        {"/a\\..\\secret.txt", nullptr},
        {"/C:/Windows/win.ini", nullptr},  // a drive letter
        {"/c%3a/windows/win.ini", nullptr},
        {"/index.html::$DATA", nullptr},  // an alternate data stream
        {"/file%00.txt", nullptr},        // NUL
        {"/index.html.", nullptr},        // Windows drops trailing dots...
        {"/index.html%20", nullptr},      // ...and spaces
        {"/CON", nullptr},                // device names, with or without an extension
        {"/con.txt", nullptr},
        {"/a/nul", nullptr},
        {"/COM1.log", nullptr},
        {"/LPT9", nullptr},
        {"/.hidden", nullptr},
        {"/bad%zz", nullptr},  // a malformed escape
        {"/trailing%2", nullptr},
        {"/a*b", nullptr},
        {"relative", nullptr},
    };
    for (const Case& c : cases) {
        INFO("target: " << c.target);
        const auto path = http::relative_path_for(c.target);
        if (c.expected) {
            REQUIRE(path);
            CHECK(*path == c.expected);
        } else {
            CHECK_FALSE(path);
        }
    }
}

TEST_CASE("responses: status line, headers, HEAD without a body", "[http]") {
    http::Response response;
    response.status = 404;
    response.body = "missing\n";
    response.extra_headers.push_back({"X-Test", "1"});
    const std::string get = http::serialize(response, false, false, 0);
    CHECK(get.rfind("HTTP/1.1 404 Not Found\r\n", 0) == 0);
    CHECK(get.find("\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n") != std::string::npos);
    CHECK(get.find("\r\nContent-Length: 8\r\n") != std::string::npos);
    CHECK(get.find("\r\nX-Test: 1\r\n") != std::string::npos);
    CHECK(get.find("Connection:") == std::string::npos);
    CHECK(get.substr(get.size() - 12) == "\r\n\r\nmissing\n");

    const std::string head = http::serialize(response, true, false, 0);
    CHECK(head.find("\r\nContent-Length: 8\r\n") != std::string::npos);  // the length it would have
    CHECK(head.substr(head.size() - 4) == "\r\n\r\n");

    response.close = true;
    CHECK(http::serialize(response, false, false, 0).find("\r\nConnection: close\r\n") !=
          std::string::npos);
    CHECK(http::format_date(1764099000) == "Tue, 25 Nov 2025 19:30:00 GMT");
    CHECK(http::format_date(951782400) == "Tue, 29 Feb 2000 00:00:00 GMT");
}

TEST_CASE("content types by extension", "[http]") {
    CHECK(std::string(http::content_type_for("index.HTML")) == "text/html; charset=utf-8");
    CHECK(std::string(http::content_type_for("logo.png")) == "image/png");
    CHECK(std::string(http::content_type_for("archive.tar.gz")) == "application/octet-stream");
    CHECK(std::string(http::content_type_for("README")) == "application/octet-stream");
}

TEST_CASE("absolute-form targets: the path is used, and the authority becomes the Host", "[http]") {
    // RFC 9112 §3.2.2: a server must accept absolute-form, use its path, and ignore the Host
    // header for the authority in the target.
    const Outcome outcome = parse_every_way(
        "GET http://example.test:8080/a/b.txt?x=1 HTTP/1.1\r\nHost: other.test\r\n\r\n"
        "GET HTTP://Example.TEST HTTP/1.1\r\nHost: example.test\r\n\r\n"
        "GET http://example.test?q HTTP/1.1\r\nHost: example.test\r\n\r\n"
        "GET http://[::1]:80/ HTTP/1.0\r\n\r\n");
    REQUIRE(outcome.requests.size() == 4);
    CHECK(outcome.requests[0].target == "/a/b.txt?x=1");
    REQUIRE(outcome.requests[0].header("Host"));
    CHECK(*outcome.requests[0].header("Host") == "example.test:8080");
    CHECK(outcome.requests[0].headers.size() == 1);
    CHECK(outcome.requests[1].target == "/");  // an empty path is "/"
    CHECK(*outcome.requests[1].header("Host") == "Example.TEST");
    CHECK(outcome.requests[2].target == "/?q");
    CHECK(outcome.requests[3].target == "/");  // HTTP/1.0 needs no Host; it gets the authority's
    REQUIRE(outcome.requests[3].header("Host"));
    CHECK(*outcome.requests[3].header("Host") == "[::1]:80");
}

TEST_CASE("found by the fuzzer: absolute-form in HTTP/1.0, without a Host, with a body", "[http]") {
    // The Host added for the authority once moved the headers while the Content-Length being
    // parsed still pointed into them (a use after free under AddressSanitizer).
    const Outcome outcome =
        parse_every_way("GET http://a.b:8/x?y HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc");
    REQUIRE(outcome.requests.size() == 1);
    CHECK(outcome.requests[0].body == "abc");
    CHECK(outcome.requests[0].target == "/x?y");
    CHECK(*outcome.requests[0].header("Host") == "a.b:8");
}

TEST_CASE("OPTIONS * (asterisk-form), and the asterisk for no other method", "[http]") {
    const Outcome options = parse_every_way("OPTIONS * HTTP/1.1\r\n" + host + "\r\n");
    REQUIRE(options.requests.size() == 1);
    CHECK(options.requests[0].method == "OPTIONS");
    CHECK(options.requests[0].target == "*");
    CHECK(parse_every_way("GET * HTTP/1.1\r\n" + host + "\r\n").error == Error::bad_request);
    CHECK(parse_every_way("OPTIONS *x HTTP/1.1\r\n" + host + "\r\n").error == Error::bad_request);
}

TEST_CASE("targets that are neither origin, absolute nor asterisk form are 400", "[http]") {
    for (const std::string target :
         {"https://example.test/", "ftp://example.test/", "http:/example.test/", "http://",
          "http:///path", "http://user@example.test/", "http://exa mple/", "example.test:443",
          "http://example.test:80x/", "http://a:1:2/"}) {
        INFO("target: " << target);
        const Outcome outcome = parse_every_way("GET " + target + " HTTP/1.1\r\n" + host + "\r\n");
        CHECK(outcome.error == Error::bad_request);
        CHECK(outcome.requests.empty());
    }
}

TEST_CASE("a Host must be uri-host [\":\" port]", "[http]") {
    // RFC 9112 §3.2: a Host header with an invalid value is answered 400.
    for (const std::string value :
         {"a b", "example.test/path", "user@example.test", "[::1", "[::1]x", "[example]",
          "example.test:80x", "example.test:80:80", "ex%zzample", "ex%4", "\"quoted\"", "a\tb",
          "[v1]", "[::1]:x", "a/b"}) {
        INFO("Host: " << value);
        const Outcome outcome = parse_every_way("GET / HTTP/1.1\r\nHost: " + value + "\r\n\r\n");
        CHECK(outcome.error == Error::bad_request);
    }
    for (const std::string value :
         {"example.test", "example.test:8080", "127.0.0.1", "[::1]", "[::1]:8080", "[2001:db8::7]",
          "[::ffff:192.0.2.1]:80", "[v1.x:y]", "a-b_c~d!$&'()*+,;=", "%41", "example.test:", ""}) {
        INFO("Host: " << value);
        const Outcome outcome = parse_every_way("GET / HTTP/1.1\r\nHost: " + value + "\r\n\r\n");
        REQUIRE(outcome.requests.size() == 1);
        CHECK(*outcome.requests[0].header("Host") == value);
    }
    // An invalid Host is refused in absolute-form too, though the authority replaces it.
    CHECK(parse_every_way("GET http://a/ HTTP/1.1\r\nHost: a b\r\n\r\n").error ==
          Error::bad_request);
}

TEST_CASE("device names: with spaces before the extension, and with superscript digits", "[http]") {
    // Windows strips the spaces at the end of the name before the extension ("CON .txt" is
    // CON), and counts the superscript digits ¹ ² ³ (U+00B9, U+00B2, U+00B3) as digits of COM
    // and LPT names.
    for (const std::string target :
         {"/CON%20.txt", "/nul%20%20.txt", "/Aux%20", "/prn%20.x.y", "/COM%C2%B9", "/com%C2%B2.log",
          "/LPT%C2%B3", "/lpt%C2%B2.txt", "/a/COM%C2%B9%20.txt", "/COM0", "/LPT0.txt", "/CONIN$",
          "/conout$.txt"}) {
        INFO("target: " << target);
        CHECK_FALSE(http::relative_path_for(target));
    }
    for (const std::string target : {"/CONSOLE.txt", "/COM10", "/LPT", "/COM%C2%B4", "/COM%C2%B9x",
                                     "/con-tact.txt", "/NULL"}) {
        INFO("target: " << target);
        CHECK(http::relative_path_for(target));
    }
}

// libFuzzer target for stage 09's HTTP code (stages/09_http_server/http.cpp), built natively on
// Linux with clang and the address and undefined-behaviour sanitizers by tests/fuzz/run.sh.
//
// The first byte of each input chooses the size of the pieces the rest is fed in, so the fuzzer
// explores splits as well as contents. Besides "no crash, no sanitizer report", it checks what
// must hold of every request that parses, and of every path the path rules accept.
#include "stages/09_http_server/http.h"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

void require(bool condition) {
    if (!condition) std::abort();  // libFuzzer reports it as a crash, with the input
}

void check_path(std::string_view target) {
    const auto path = http::relative_path_for(target);
    if (!path) return;
    // An accepted path never climbs, never names a drive, a stream or the other separator.
    require(path->find('\\') == std::string::npos && path->find(':') == std::string::npos);
    require(path->find('\0') == std::string::npos);
    std::string_view rest(*path);
    while (!rest.empty()) {
        const std::size_t slash = rest.find('/');
        const std::string_view segment = rest.substr(0, slash);
        require(!segment.empty() && segment != "." && segment != ".." && segment.front() != '.');
        if (slash == std::string_view::npos) break;
        rest.remove_prefix(slash + 1);
    }
    // The Location of a redirect is made from it: percent-encoded, it decodes back to it, and
    // starts no second slash ("//host" would name another host).
    const std::string location = "/" + http::percent_encode_path(*path);
    require(location.size() < 2 || location[1] != '/');
    require(http::percent_decode(location) == "/" + *path);
    for (char c : location) require(c > 0x20 && c < 0x7f);
}

void check_request(const http::Request& request) {
    require(!request.method.empty() && !request.target.empty());
    // Origin-form, or "*" for OPTIONS: an absolute-form target was turned into its path.
    require(request.target.front() == '/' ||
            (request.target == "*" && request.method == "OPTIONS"));
    // A Host that came through is a host and a port: nothing a URI's authority cannot hold.
    if (const std::string* host = request.header("Host")) {
        for (char c : *host) require(c > 0x20 && c < 0x7f && c != '/' && c != '@' && c != '"');
    }
    check_path(request.target);
}

// What one run of the parser over the input saw: the requests (bodies aside) and how it ended.
struct Run {
    std::string seen;  // "METHOD target keep-alive headers\n" per request
    http::RequestParser::Status status = http::RequestParser::Status::incomplete;
    http::Error error = http::Error::none;
};

Run parse(std::string_view input, std::size_t piece, const http::Limits& limits) {
    Run run;
    http::RequestParser parser(limits);
    for (std::size_t at = 0; at < input.size(); at += piece) {
        auto status = parser.feed(input.substr(at, piece));
        while (status == http::RequestParser::Status::complete) {
            require(!parser.take_continue_expectation());  // only while a body is to come
            const http::Request request = parser.take();
            check_request(request);
            require(request.body.size() <= limits.max_body);
            require(limits.keep_bodies || request.body.empty());
            // One more than the limit: an absolute-form HTTP/1.0 request gets a Host added.
            require(request.headers.size() <= limits.max_headers + 1);
            run.seen += request.method + " " + request.target +
                        (request.keep_alive ? " k " : " c ") +
                        std::to_string(request.headers.size()) + "\n";
            status = parser.feed({});
        }
        run.status = status;
        if (status == http::RequestParser::Status::error) {
            require(parser.error() != http::Error::none);
            break;
        }
    }
    run.error = parser.error();
    return run;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::size_t piece = 1 + data[0] % 64;
    const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);

    http::Limits limits;  // small limits, so that inputs reach them
    limits.max_request_line = 64;
    limits.max_header_bytes = 256;
    limits.max_headers = 8;
    limits.max_body = 128;
    const Run kept = parse(input, piece, limits);
    // A parser that drops bodies as they come must see the very same requests (stage 09's).
    limits.keep_bodies = false;
    const Run dropped = parse(input, piece, limits);
    require(kept.seen == dropped.seen && kept.status == dropped.status &&
            kept.error == dropped.error);

    check_path(input);
    (void)http::is_acceptable_name(input);
    (void)http::percent_decode(input);
    (void)http::content_type_for(input);
    return 0;
}

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
    http::RequestParser parser(limits);
    for (std::size_t at = 0; at < input.size(); at += piece) {
        auto status = parser.feed(input.substr(at, piece));
        while (status == http::RequestParser::Status::complete) {
            const http::Request request = parser.take();
            require(!request.method.empty() && !request.target.empty());
            require(request.target.front() == '/');
            require(request.body.size() <= limits.max_body);
            require(request.headers.size() <= limits.max_headers);
            check_path(request.target);
            status = parser.feed({});
        }
        if (status == http::RequestParser::Status::error) {
            require(parser.error() != http::Error::none);
            break;
        }
    }
    check_path(input);
    (void)http::percent_decode(input);
    (void)http::content_type_for(input);
    return 0;
}

// stages/09_http_server/http.h — HTTP/1.1 requests and responses, in plain C++.
//
// No Winsock, no Windows: bytes in, requests out; a request in, bytes out. That keeps the
// protocol testable on its own (tests/unit/test_http.cpp feeds every case at every split
// point) and fuzzable natively on Linux (tests/fuzz/). main.cpp does the I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace http {

struct Limits {
    std::size_t max_request_line = 8 * 1024;   // beyond: 414 URI Too Long
    std::size_t max_header_bytes = 16 * 1024;  // all header lines together; beyond: 431
    std::size_t max_headers = 100;             // header fields; beyond: 431
    std::size_t max_body = 1024 * 1024;        // Content-Length beyond: 413
};

struct Header {
    std::string name;   // as sent
    std::string value;  // without the optional whitespace around it
};

struct Request {
    std::string method;     // "GET"
    std::string target;     // "/index.html?x=1", as sent
    int minor_version = 1;  // HTTP/1.<minor>
    std::vector<Header> headers;
    std::string body;
    bool keep_alive = true;  // from the version and the Connection header

    // The value of the first header with this name (names compare case-insensitively).
    const std::string* header(std::string_view name) const;
};

// The status a malformed or unacceptable request is answered with. Each one ends the
// connection: after an error the parser cannot know where the next request would start.
enum class Error {
    none,
    bad_request,            // 400
    payload_too_large,      // 413
    uri_too_long,           // 414
    headers_too_large,      // 431
    not_implemented,        // 501: a Transfer-Encoding we do not implement
    version_not_supported,  // 505
};
int status_of(Error error);

// ANCHOR: request_parser
// Incremental: feed it bytes as they arrive, in pieces of any size. It keeps what it has not
// used, so pipelined requests (several in one read) come out one after the other.
class RequestParser {
public:
    enum class Status { incomplete, complete, error };

    explicit RequestParser(Limits limits = {}) : limits_(limits) {}

    // Appends `bytes` and parses as far as it can. `complete`: request() is ready and take()
    // hands it over; `error`: error() says why, and the parser stays in that state.
    Status feed(std::string_view bytes);

    const Request& request() const { return request_; }
    // Hands over the complete request and starts on the next one with the bytes left over.
    // Call feed({}) next to see whether they already hold another complete request.
    Request take();

    Error error() const { return error_; }
    // True when some bytes of the next request have arrived (the access log times a request
    // from then).
    bool started() const { return !buffer_.empty() || state_ != State::request_line; }

private:
    enum class State { request_line, headers, body, complete, error };

    Status fail(Error error);
    Status parse_request_line(std::string_view line);
    Status parse_header_line(std::string_view line);
    Status finish_headers();

    Limits limits_;
    State state_ = State::request_line;
    std::string buffer_;       // bytes not yet consumed
    std::size_t scanned_ = 0;  // how far buffer_ is known to hold no line end
    std::size_t header_bytes_ = 0;
    std::size_t body_length_ = 0;
    Request request_;
    Error error_ = Error::none;
};
// ANCHOR_END: request_parser

// --- responses --------------------------------------------------------------------------------

const char* reason_phrase(int status);

// "Wed, 25 Nov 2026 19:29:33 GMT", the format of the Date header (RFC 9110, IMF-fixdate).
std::string format_date(std::time_t time);

struct Response {
    int status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
    std::vector<Header> extra_headers;  // Allow, Location, ...
    bool close = false;                 // Connection: close, then close after sending
};

// The bytes on the wire: status line, headers (Date, Server, Content-Type, Content-Length,
// Connection, the extras), the blank line, and the body unless `head_only` (a HEAD request:
// the same headers, Content-Length included, and no body).
std::string serialize(const Response& response, bool head_only, bool keep_alive_header,
                      std::time_t now);

// --- paths ------------------------------------------------------------------------------------

// ANCHOR: safe_path
// The file a request target names under the served folder, as a relative path with '/'
// separators, or nothing when it must be refused. Refused: percent-escapes that are not two hex
// digits; names that are not valid UTF-8 once decoded (overlong forms included); a NUL; any backslash or colon (Windows' other separator, drive letters, alternate
// data streams); a "." or ".." segment (also spelled %2e); segments ending in a dot or a space
// (Windows drops those, so "x.txt." opens "x.txt"); names Windows reserves for devices (CON,
// NUL, COM1, ...); characters Windows forbids in names; and hidden names (a leading dot).
// The query string is ignored. "/" gives "".
std::optional<std::string> relative_path_for(std::string_view target);
// ANCHOR_END: safe_path

// Decodes %XX escapes; nothing when an escape is malformed.
std::optional<std::string> percent_decode(std::string_view text);

// Content-Type for a file name, by its extension; application/octet-stream when unknown.
const char* content_type_for(std::string_view file_name);

bool iequals(std::string_view a, std::string_view b);

}  // namespace http

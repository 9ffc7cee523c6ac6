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
#include <utility>
#include <vector>

namespace http {

struct Limits {
    std::size_t max_request_line = 8 * 1024;   // beyond: 414 URI Too Long
    std::size_t max_header_bytes = 16 * 1024;  // all header lines together; beyond: 431
    std::size_t max_headers = 100;             // header fields; beyond: 431
    std::size_t max_body = 1024 * 1024;        // Content-Length beyond: 413
    // Whether a body is kept (Request::body), or only counted and dropped as it arrives. A
    // server that answers no request from its body keeps none: then what one client can make
    // it hold is a read's worth of bytes, not max_body.
    bool keep_bodies = true;
};

struct Header {
    std::string name;   // as sent
    std::string value;  // without the optional whitespace around it
};

struct Request {
    std::string method;  // "GET"
    // "/index.html?x=1": the origin form, as sent; for an absolute-form target
    // ("http://host/index.html?x=1") its path and query, the authority going to Host; "*" for
    // OPTIONS *.
    std::string target;
    int minor_version = 1;  // HTTP/1.<minor>
    std::vector<Header> headers;
    std::string body;  // empty when the parser keeps no bodies (Limits::keep_bodies)
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

    // ANCHOR: take_continue_expectation
    // RFC 9110 §10.1.1: a client that sends `Expect: 100-continue` waits for an interim
    // "100 Continue" before it sends the body (curl for a second, a strict client for ever).
    // True, once per request, when such a request's headers are in and its body is still to
    // come: the server answers `continue_response` now. Ignored in HTTP/1.0, as the RFC says.
    bool take_continue_expectation() { return std::exchange(continue_expected_, false); }
    // ANCHOR_END: take_continue_expectation

private:
    enum class State { request_line, headers, body, complete, error };

    Status fail(Error error);
    Status parse_request_line(std::string_view line);
    Status parse_header_line(std::string_view line);
    Status parse_target(std::string_view method, std::string_view target);
    Status finish_headers();

    Limits limits_;
    State state_ = State::request_line;
    std::string buffer_;       // bytes not yet consumed
    std::size_t scanned_ = 0;  // how far buffer_ is known to hold no line end
    std::size_t header_bytes_ = 0;
    std::size_t body_length_ = 0;
    std::string authority_;  // an absolute-form target's "host:port", else empty
    bool continue_expected_ = false;
    Request request_;
    Error error_ = Error::none;
};
// ANCHOR_END: request_parser

// --- responses --------------------------------------------------------------------------------

const char* reason_phrase(int status);

// The interim response to `Expect: 100-continue` (see take_continue_expectation()).
constexpr std::string_view continue_response = "HTTP/1.1 100 Continue\r\n\r\n";

// "Wed, 25 Nov 2026 19:29:33 GMT", the format of the Date header (RFC 9110, IMF-fixdate).
std::string format_date(std::time_t time);

struct Response {
    int status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;  // made in memory...
    // ...or, when set, the body is a file of this many bytes, which the server streams after
    // the head (routes.h opens it; main.cpp sends it a chunk at a time).
    std::optional<std::uint64_t> file_size;
    std::vector<Header> extra_headers;  // Allow, Location, ...
    bool close = false;                 // Connection: close, then close after sending

    std::uint64_t content_length() const { return file_size ? *file_size : body.size(); }
};

// The bytes on the wire: status line, headers (Date, Server, Content-Type, Content-Length,
// Connection, the extras), the blank line, and the body made in memory unless `head_only` (a
// HEAD request: the same headers, Content-Length included, and no body). A file body is not
// included: it follows.
std::string serialize(const Response& response, bool head_only, bool keep_alive_header,
                      std::time_t now);

// --- paths ------------------------------------------------------------------------------------

// ANCHOR: safe_path
// The file a request target names under the served folder, as a relative path with '/'
// separators, or nothing when it must be refused. Refused: percent-escapes that are not two hex
// digits; names that are not valid UTF-8 once decoded (overlong forms included); and any
// segment that is_acceptable_name() refuses. The query string is ignored. "/" gives "".
std::optional<std::string> relative_path_for(std::string_view target);

// Whether one name (a path segment, decoded) may be served. Refused: a NUL or other control
// character; any backslash or colon (Windows' other separator, drive letters, alternate data
// streams); a "." or ".." (also spelled %2e); a name ending in a dot or a space (Windows drops
// those, so "x.txt." opens "x.txt"); names Windows reserves for devices (CON, NUL, COM1,
// "CON .txt", "COM¹"...); characters Windows forbids in names; and hidden names (a leading
// dot). routes.cpp applies it again to the long names of the file it opened, because a
// request can reach a file by another spelling (an 8.3 short name: GIT~1 is .git).
bool is_acceptable_name(std::string_view name);
// ANCHOR_END: safe_path

// A path for a Location header: every byte but the unreserved characters (RFC 3986: letters,
// digits, "-._~") and "/" percent-encoded.
std::string percent_encode_path(std::string_view path);

// Decodes %XX escapes; nothing when an escape is malformed.
std::optional<std::string> percent_decode(std::string_view text);

// Content-Type for a file name, by its extension; application/octet-stream when unknown.
const char* content_type_for(std::string_view file_name);

bool iequals(std::string_view a, std::string_view b);

}  // namespace http

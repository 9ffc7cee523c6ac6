#include "stages/09_http_server/http.h"

#include <algorithm>
#include <cstdio>

namespace http {

namespace {

bool is_tchar(char c) {  // RFC 9110 token characters
    const auto u = static_cast<unsigned char>(c);
    if ((u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), is_tchar);
}

char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view trim_ows(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

// Calls `each` for every comma-separated element of a header value, trimmed.
template <class Each>
void for_each_element(std::string_view list, Each each) {
    while (!list.empty()) {
        const std::size_t comma = list.find(',');
        each(trim_ows(list.substr(0, comma)));
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// RFC 3986's character classes, for hosts and for the paths of Location headers.
bool is_unreserved(char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

bool is_sub_delim(char c) {
    return std::string_view("!$&'()*+,;=").find(c) != std::string_view::npos;
}

// ANCHOR: host
// reg-name: unreserved characters, sub-delims and %XX escapes; empty is allowed. It covers
// IPv4 addresses and DNS names.
bool is_reg_name(std::string_view text) {
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (is_unreserved(text[i]) || is_sub_delim(text[i])) continue;
        if (text[i] != '%' || i + 2 >= text.size() || hex_value(text[i + 1]) < 0 ||
            hex_value(text[i + 2]) < 0)
            return false;
        i += 2;
    }
    return true;
}

// dec-octet "." dec-octet "." dec-octet "." dec-octet, each 0-255 without leading zeros.
bool is_ipv4(std::string_view text) {
    for (int part = 0; part < 4; ++part) {
        if (part > 0) {
            if (text.empty() || text.front() != '.') return false;
            text.remove_prefix(1);
        }
        std::size_t digits = 0;
        int value = 0;
        while (digits < text.size() && digits < 3 && is_digit(text[digits]))
            value = value * 10 + (text[digits++] - '0');
        if (digits == 0 || value > 255 || (digits > 1 && text.front() == '0')) return false;
        text.remove_prefix(digits);
    }
    return text.empty();
}

// Eight groups of one to four hex digits separated by ':'; the last two may be an IPv4
// address; one "::" stands for one or more groups of zeros.
bool is_ipv6(std::string_view text) {
    int groups = 0;
    bool elided = false;
    std::size_t at = 0;
    if (text.substr(0, 2) == "::") {
        elided = true;
        at = 2;
    } else if (text.empty() || text.front() == ':') {
        return false;
    }
    while (at < text.size()) {
        const std::size_t colon = text.find(':', at);
        const std::string_view group = text.substr(at, colon - at);
        if (colon == std::string_view::npos && group.find('.') != std::string_view::npos) {
            if (!is_ipv4(group)) return false;
            groups += 2;
            break;
        }
        if (group.empty() || group.size() > 4 ||
            !std::all_of(group.begin(), group.end(), [](char c) { return hex_value(c) >= 0; }))
            return false;
        ++groups;
        if (colon == std::string_view::npos) break;
        at = colon + 1;
        if (at < text.size() && text[at] == ':') {
            if (elided) return false;  // "::" only once
            elided = true;
            ++at;
        } else if (at == text.size()) {
            return false;  // a single ':' at the end
        }
    }
    return elided ? groups <= 7 : groups == 8;
}

// What may stand between '[' and ']': an IPv6 address, or "v" HEXDIG+ "." and more (IPvFuture).
bool is_ip_literal(std::string_view text) {
    if (!text.empty() && (text.front() == 'v' || text.front() == 'V')) {
        const std::size_t dot = text.find('.');
        if (dot == std::string_view::npos || dot < 2 || dot + 1 == text.size()) return false;
        const std::string_view version = text.substr(1, dot - 1), rest = text.substr(dot + 1);
        return std::all_of(version.begin(), version.end(),
                           [](char c) { return hex_value(c) >= 0; }) &&
               std::all_of(rest.begin(), rest.end(),
                           [](char c) { return is_unreserved(c) || is_sub_delim(c) || c == ':'; });
    }
    return is_ipv6(text);
}

// uri-host [":" port] (RFC 3986 §3.2.2, §3.2.3), what a Host header and an absolute-form
// target's authority hold: an IP literal in brackets or a reg-name, then maybe ':' and digits.
// No userinfo ("user@"): RFC 9110 §4.2.4 has it treated as an error in http URIs.
bool is_host_and_port(std::string_view text) {
    std::string_view port;
    if (!text.empty() && text.front() == '[') {
        const std::size_t close = text.find(']');
        if (close == std::string_view::npos || !is_ip_literal(text.substr(1, close - 1)))
            return false;
        port = text.substr(close + 1);
    } else {
        const std::size_t colon = text.find(':');
        if (!is_reg_name(text.substr(0, colon))) return false;
        if (colon != std::string_view::npos) port = text.substr(colon);
    }
    return port.empty() ||
           (port.front() == ':' && std::all_of(port.begin() + 1, port.end(), is_digit));
}
// ANCHOR_END: host

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (to_lower(a[i]) != to_lower(b[i])) return false;
    }
    return true;
}

const std::string* Request::header(std::string_view name) const {
    for (const Header& h : headers) {
        if (iequals(h.name, name)) return &h.value;
    }
    return nullptr;
}

int status_of(Error error) {
    switch (error) {
        case Error::none:
            return 200;
        case Error::bad_request:
            return 400;
        case Error::payload_too_large:
            return 413;
        case Error::uri_too_long:
            return 414;
        case Error::headers_too_large:
            return 431;
        case Error::not_implemented:
            return 501;
        case Error::version_not_supported:
            return 505;
    }
    return 400;
}

// --- the parser -------------------------------------------------------------------------------

RequestParser::Status RequestParser::fail(Error error) {
    state_ = State::error;
    error_ = error;
    buffer_.clear();
    return Status::error;
}

// ANCHOR: feed
RequestParser::Status RequestParser::feed(std::string_view bytes) {
    if (state_ == State::error) return Status::error;
    buffer_.append(bytes.data(), bytes.size());
    if (state_ == State::complete) return Status::complete;  // take() first

    std::size_t used = 0;  // bytes of buffer_ consumed by this call, erased at the end
    Status status = Status::incomplete;
    while (status == Status::incomplete) {
        if (state_ == State::body) {
            if (limits_.keep_bodies) {
                if (buffer_.size() - used < body_length_) break;
                request_.body.assign(buffer_, used, body_length_);
                used += body_length_;
            } else {  // counted, not kept: what has come of the body is dropped at once
                const std::size_t here = std::min(buffer_.size() - used, body_length_);
                used += here;
                body_length_ -= here;
                if (body_length_ > 0) break;
            }
            continue_expected_ = false;  // the body is here: no 100 needed
            state_ = State::complete;
            status = Status::complete;
            break;
        }
        // The request line and the headers are lines, ended by "\n" (with a "\r" before it,
        // normally; a lone "\n" is accepted, as RFC 9112 allows).
        const std::size_t end = buffer_.find('\n', std::max(used, scanned_));
        if (end == std::string::npos) {
            scanned_ = buffer_.size();
            const std::size_t pending = buffer_.size() - used;
            // Refuse a line that can no longer fit, without waiting for its end.
            if (state_ == State::request_line && pending > limits_.max_request_line + 1)
                return fail(Error::uri_too_long);
            if (state_ == State::headers && header_bytes_ + pending > limits_.max_header_bytes)
                return fail(Error::headers_too_large);
            break;
        }
        std::string_view line(buffer_.data() + used, end - used);
        const std::size_t raw_length = line.size() + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        used = end + 1;
        if (state_ == State::request_line) {
            status = parse_request_line(line);
        } else {
            header_bytes_ += raw_length;
            status = parse_header_line(line);
        }
        if (status == Status::error) return status;
    }
    buffer_.erase(0, used);
    scanned_ = 0;
    return status;
}
// ANCHOR_END: feed

RequestParser::Status RequestParser::parse_request_line(std::string_view line) {
    if (line.empty()) return Status::incomplete;  // empty lines before a request are ignored
    if (line.size() > limits_.max_request_line) return fail(Error::uri_too_long);

    // method SP request-target SP HTTP-version, single spaces
    const std::size_t first = line.find(' ');
    const std::size_t second = first == std::string_view::npos ? first : line.find(' ', first + 1);
    if (second == std::string_view::npos || line.find(' ', second + 1) != std::string_view::npos)
        return fail(Error::bad_request);
    const std::string_view method = line.substr(0, first);
    const std::string_view target = line.substr(first + 1, second - first - 1);
    const std::string_view version = line.substr(second + 1);

    if (!is_token(method)) return fail(Error::bad_request);
    if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
        version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9')
        return fail(Error::bad_request);
    if (version[5] != '1') return fail(Error::version_not_supported);

    request_ = Request{};
    request_.method.assign(method);
    request_.minor_version = version[7] == '0' ? 0 : 1;  // 1.2 and up: answered as 1.1
    if (parse_target(method, target) == Status::error) return Status::error;
    header_bytes_ = 0;
    state_ = State::headers;
    return Status::incomplete;
}

// ANCHOR: parse_target
// The request target (RFC 9112 §3.2), in the three forms a server can receive:
//   origin-form    "/path?query"               the usual one
//   absolute-form  "http://host:port/path?q"   what clients send to a proxy; a server must
//                                              accept it too (§3.2.2), use its path, and take
//                                              its authority as the Host
//   asterisk-form  "*"                         OPTIONS only: a question about the server
// (The fourth, authority-form "host:port", is CONNECT's, which this server does not do: 400.)
RequestParser::Status RequestParser::parse_target(std::string_view method,
                                                  std::string_view target) {
    // Visible ASCII only: no spaces, control characters or raw non-ASCII bytes.
    for (char c : target) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f) return fail(Error::bad_request);
    }
    authority_.clear();
    if (target == "*") {
        if (method != "OPTIONS") return fail(Error::bad_request);
    } else if (!target.empty() && target.front() == '/') {
        // origin-form: as it is
    } else if (target.size() >= 7 && iequals(target.substr(0, 7), "http://")) {
        const std::string_view rest = target.substr(7);
        const std::size_t path = std::min(rest.find_first_of("/?#"), rest.size());
        const std::string_view authority = rest.substr(0, path);
        // An http URI with an empty host is invalid (RFC 9110 §4.2.1).
        if (authority.empty() || authority.front() == ':' || !is_host_and_port(authority))
            return fail(Error::bad_request);
        authority_.assign(authority);
        // "http://host" and "http://host?q" have an empty path: it is "/" (RFC 9112 §3.2.1).
        const std::string_view path_and_query = rest.substr(path);
        request_.target = (!path_and_query.empty() && path_and_query.front() == '/')
                              ? std::string(path_and_query)
                              : "/" + std::string(path_and_query);
        return Status::incomplete;
    } else {
        return fail(Error::bad_request);
    }
    request_.target.assign(target);
    return Status::incomplete;
}
// ANCHOR_END: parse_target

RequestParser::Status RequestParser::parse_header_line(std::string_view line) {
    if (header_bytes_ > limits_.max_header_bytes) return fail(Error::headers_too_large);
    if (line.empty()) return finish_headers();
    // A line that starts with whitespace continues the previous one ("obsolete line folding"):
    // RFC 9112 lets a server reject it, and a parser that accepted it would disagree with
    // proxies about where headers end.
    if (line.front() == ' ' || line.front() == '\t') return fail(Error::bad_request);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return fail(Error::bad_request);
    const std::string_view name = line.substr(0, colon);
    if (!is_token(name)) return fail(Error::bad_request);  // also: no space before the colon
    const std::string_view value = trim_ows(line.substr(colon + 1));
    for (char c : value) {
        const auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && c != '\t') || u == 0x7f) return fail(Error::bad_request);
    }
    if (request_.headers.size() >= limits_.max_headers) return fail(Error::headers_too_large);
    request_.headers.push_back({std::string(name), std::string(value)});
    return Status::incomplete;
}

// ANCHOR: finish_headers
RequestParser::Status RequestParser::finish_headers() {
    std::size_t hosts = 0, lengths = 0;
    bool transfer_encoding = false;
    std::string_view length_text;
    Header* host = nullptr;
    for (Header& h : request_.headers) {
        if (iequals(h.name, "Host")) {
            ++hosts;
            host = &h;
        }
        if (iequals(h.name, "Transfer-Encoding")) transfer_encoding = true;
        if (iequals(h.name, "Content-Length")) {
            if (lengths++ > 0 && h.value != length_text) return fail(Error::bad_request);
            length_text = h.value;
        }
    }
    // HTTP/1.1 requires exactly one Host header, and any Host must be a host and a port
    // (RFC 9112 §3.2: 400 otherwise). With an absolute-form target, the target's authority is
    // the Host, whatever the header said (§3.2.2).
    if (hosts > 1 || (hosts == 0 && request_.minor_version == 1)) return fail(Error::bad_request);
    if (host && !is_host_and_port(host->value)) return fail(Error::bad_request);
    // Both framings at once is how requests are smuggled past proxies: refuse. And this server
    // implements no transfer coding (not even chunked), so any other one is "not implemented".
    if (transfer_encoding) return fail(lengths > 0 ? Error::bad_request : Error::not_implemented);

    body_length_ = 0;
    if (lengths > 0) {
        if (length_text.empty() || length_text.size() > 18) return fail(Error::bad_request);
        for (char c : length_text) {
            if (c < '0' || c > '9') return fail(Error::bad_request);
            body_length_ = body_length_ * 10 + static_cast<std::size_t>(c - '0');
        }
        if (body_length_ > limits_.max_body) return fail(Error::payload_too_large);
    }

    // Persistent by default in HTTP/1.1, not in 1.0; the Connection header says otherwise.
    request_.keep_alive = request_.minor_version == 1;
    for (const Header& h : request_.headers) {
        if (!iequals(h.name, "Connection")) continue;
        for_each_element(h.value, [this](std::string_view option) {
            if (iequals(option, "close")) request_.keep_alive = false;
            if (iequals(option, "keep-alive") && request_.minor_version == 0)
                request_.keep_alive = true;
        });
    }
    for (const Header& h : request_.headers) {  // "close" wins over "keep-alive"
        if (!iequals(h.name, "Connection")) continue;
        for_each_element(h.value, [this](std::string_view option) {
            if (iequals(option, "close")) request_.keep_alive = false;
        });
    }

    // Last, because adding a header moves them all (`host` and `length_text` point into them).
    if (!authority_.empty()) {
        if (host) {
            host->value = authority_;
        } else {
            request_.headers.push_back({"Host", authority_});
        }
    }

    // A body is coming, and the client may be waiting for our word to send it. (Any other
    // expectation is ignored: RFC 9110 lets a server answer 417 to it, or not.)
    continue_expected_ = false;
    if (body_length_ > 0 && request_.minor_version == 1) {
        for (const Header& h : request_.headers) {
            if (!iequals(h.name, "Expect")) continue;
            for_each_element(h.value, [this](std::string_view expectation) {
                if (iequals(expectation, "100-continue")) continue_expected_ = true;
            });
        }
    }

    state_ = body_length_ > 0 ? State::body : State::complete;
    return body_length_ > 0 ? Status::incomplete : Status::complete;
}
// ANCHOR_END: finish_headers

Request RequestParser::take() {
    Request taken = std::move(request_);
    request_ = Request{};
    state_ = State::request_line;
    header_bytes_ = 0;
    body_length_ = 0;
    scanned_ = 0;
    authority_.clear();
    return taken;
}

// --- responses --------------------------------------------------------------------------------

const char* reason_phrase(int status) {
    switch (status) {
        case 200:
            return "OK";
        case 301:
            return "Moved Permanently";
        case 400:
            return "Bad Request";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 408:
            return "Request Timeout";
        case 413:
            return "Content Too Large";
        case 414:
            return "URI Too Long";
        case 431:
            return "Request Header Fields Too Large";
        case 500:
            return "Internal Server Error";
        case 501:
            return "Not Implemented";
        case 503:
            return "Service Unavailable";
        case 505:
            return "HTTP Version Not Supported";
        default:
            return "Unknown";
    }
}

std::string format_date(std::time_t time) {
    // Days since 1970-01-01 to a civil date (the algorithm of Howard Hinnant's "chrono-compatible
    // low-level date algorithms"), so that no thread-unsafe gmtime() is needed.
    const long long seconds = static_cast<long long>(time);
    long long days = seconds / 86400;
    long long rest = seconds % 86400;
    if (rest < 0) {
        rest += 86400;
        --days;
    }
    const long long weekday = ((days % 7) + 11) % 7;  // 1970-01-01 was a Thursday (4)
    const long long z = days + 719468;
    const long long era = (z >= 0 ? z : z - 146096) / 146097;
    const long long doe = z - era * 146097;
    const long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const long long mp = (5 * doy + 2) / 153;
    const long long day = doy - (153 * mp + 2) / 5 + 1;
    const long long month = mp < 10 ? mp + 3 : mp - 9;
    const long long year = yoe + era * 400 + (month <= 2 ? 1 : 0);

    static const char* const weekdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char* const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char text[64];
    std::snprintf(text, sizeof text, "%s, %02lld %s %04lld %02lld:%02lld:%02lld GMT",
                  weekdays[weekday], day, months[month - 1], year, rest / 3600, rest % 3600 / 60,
                  rest % 60);
    return text;
}

std::string serialize(const Response& response, bool head_only, bool keep_alive_header,
                      std::time_t now) {
    std::string out;
    const bool with_body = !head_only && !response.file_size;
    out.reserve(256 + (with_body ? response.body.size() : 0));
    out += "HTTP/1.1 " + std::to_string(response.status) + " " + reason_phrase(response.status);
    out += "\r\nDate: " + format_date(now);
    out += "\r\nServer: iocp-tutorial-stage09";
    out += "\r\nContent-Type: " + response.content_type;
    out += "\r\nContent-Length: " + std::to_string(response.content_length());
    for (const Header& h : response.extra_headers) out += "\r\n" + h.name + ": " + h.value;
    if (response.close) {
        out += "\r\nConnection: close";
    } else if (keep_alive_header) {
        out += "\r\nConnection: keep-alive";  // an HTTP/1.0 client asked for it
    }
    out += "\r\n\r\n";
    if (with_body) out += response.body;
    return out;
}

// --- paths ------------------------------------------------------------------------------------

std::optional<std::string> percent_decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out += text[i];
            continue;
        }
        if (i + 2 >= text.size()) return std::nullopt;  // "%" needs two more characters
        const int high = hex_value(text[i + 1]), low = hex_value(text[i + 2]);
        if (high < 0 || low < 0) return std::nullopt;
        out += static_cast<char>(high * 16 + low);
        i += 2;
    }
    return out;
}

namespace {

// ANCHOR: device_names
// Names Windows keeps for devices (CON, NUL, COM1, ...): opening one opens the device, whatever
// follows the first dot ("nul.txt"), and after the spaces before that dot are stripped
// ("CON .txt" is CON). COM and LPT take a digit, and the superscript digits ¹ ² ³ count as
// digits too ("COM¹"). See Microsoft's "Naming Files, Paths, and Namespaces".
bool is_reserved_device_name(std::string_view name) {
    std::string_view base = name.substr(0, name.find('.'));
    while (!base.empty() && base.back() == ' ') base.remove_suffix(1);
    std::string upper;
    for (char c : base) upper += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    if (upper == "CON" || upper == "PRN" || upper == "AUX" || upper == "NUL" || upper == "CONIN$" ||
        upper == "CONOUT$")
        return true;
    if (upper.size() < 4 || (upper.compare(0, 3, "COM") != 0 && upper.compare(0, 3, "LPT") != 0))
        return false;
    const std::string_view digit = std::string_view(upper).substr(3);
    return (digit.size() == 1 && is_digit(digit[0])) || digit == "\xC2\xB9" ||
           digit == "\xC2\xB2" || digit == "\xC2\xB3";  // ¹ ² ³ in UTF-8
}
// ANCHOR_END: device_names

// Strict UTF-8: no overlong forms (%c0%ae is an old way to spell '.'), no surrogates, nothing
// past U+10FFFF.
bool is_valid_utf8(std::string_view text) {
    for (std::size_t i = 0; i < text.size();) {
        const auto byte = [&](std::size_t at) { return static_cast<unsigned char>(text[at]); };
        const unsigned char lead = byte(i);
        std::size_t length = 1;
        unsigned char low = 0x80, high = 0xBF;  // the allowed range of the second byte
        if (lead < 0x80) {
            ++i;
            continue;
        } else if (lead >= 0xC2 && lead <= 0xDF) {
            length = 2;
        } else if (lead >= 0xE0 && lead <= 0xEF) {
            length = 3;
            if (lead == 0xE0) low = 0xA0;
            if (lead == 0xED) high = 0x9F;
        } else if (lead >= 0xF0 && lead <= 0xF4) {
            length = 4;
            if (lead == 0xF0) low = 0x90;
            if (lead == 0xF4) high = 0x8F;
        } else {
            return false;
        }
        if (i + length > text.size()) return false;
        if (byte(i + 1) < low || byte(i + 1) > high) return false;
        for (std::size_t k = 2; k < length; ++k) {
            if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return false;
        }
        i += length;
    }
    return true;
}

}  // namespace

bool is_acceptable_name(std::string_view name) {
    if (name.empty()) return false;
    if (name.front() == '.') return false;  // ".", "..", and hidden names
    if (name.back() == '.' || name.back() == ' ') return false;
    for (char c : name) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || std::string_view("<>:\"|?*\\/").find(c) != std::string_view::npos)
            return false;
    }
    return !is_reserved_device_name(name);
}

std::optional<std::string> relative_path_for(std::string_view target) {
    target = target.substr(0, target.find_first_of("?#"));
    if (target.empty() || target.front() != '/') return std::nullopt;
    const std::optional<std::string> decoded = percent_decode(target);
    if (!decoded || !is_valid_utf8(*decoded)) return std::nullopt;
    std::string path;
    std::string_view rest(*decoded);
    while (!rest.empty()) {
        const std::size_t slash = rest.find('/');
        const std::string_view segment = rest.substr(0, slash);
        if (!segment.empty()) {
            if (!is_acceptable_name(segment)) return std::nullopt;
            if (!path.empty()) path += '/';
            path.append(segment);
        }
        if (slash == std::string_view::npos) break;
        rest.remove_prefix(slash + 1);
    }
    return path;
}

std::string percent_encode_path(std::string_view path) {
    static const char hex[] = "0123456789ABCDEF";
    std::string out;
    for (char c : path) {
        if (is_unreserved(c) || c == '/') {
            out += c;
        } else {
            const auto u = static_cast<unsigned char>(c);
            out += '%';
            out += hex[u >> 4];
            out += hex[u & 0x0f];
        }
    }
    return out;
}

const char* content_type_for(std::string_view file_name) {
    const std::size_t dot = file_name.rfind('.');
    if (dot == std::string_view::npos) return "application/octet-stream";
    std::string extension;
    for (char c : file_name.substr(dot + 1)) extension += to_lower(c);
    struct Type {
        const char* extension;
        const char* type;
    };
    static const Type types[] = {
        {"html", "text/html; charset=utf-8"},
        {"htm", "text/html; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},
        {"js", "text/javascript; charset=utf-8"},
        {"json", "application/json"},
        {"txt", "text/plain; charset=utf-8"},
        {"md", "text/markdown; charset=utf-8"},
        {"svg", "image/svg+xml"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"ico", "image/x-icon"},
        {"webp", "image/webp"},
        {"wasm", "application/wasm"},
        {"pdf", "application/pdf"},
    };
    for (const Type& type : types) {
        if (extension == type.extension) return type.type;
    }
    return "application/octet-stream";
}

}  // namespace http

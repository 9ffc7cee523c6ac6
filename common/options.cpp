#include "common/options.h"

#include "common/winsock.h"

#include <algorithm>
#include <cstdio>
#include <utility>

namespace net {

namespace {

// Strictly decimal digits, no sign, no spaces, no "0x": what a user means by a port number.
std::optional<unsigned long long> parse_decimal(const std::string& text) {
    if (text.empty() || text.size() > 18) return std::nullopt;  // 18 digits cannot overflow
    unsigned long long value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    return value;
}

std::string whole_number_error(const std::string& value, unsigned long long min,
                               unsigned long long max) {
    return "'" + value + "' is not a whole number from " + std::to_string(min) + " to " +
           std::to_string(max);
}

bool is_numeric_address(const std::string& text) {
    // inet_pton parses without touching the network, so it also works before WSAStartup.
    in6_addr buffer{};
    return ::inet_pton(AF_INET, text.c_str(), &buffer) == 1 ||
           ::inet_pton(AF_INET6, text.c_str(), &buffer) == 1;
}

}  // namespace

CommandLine::CommandLine(std::string program, std::string summary, ServerOptions& options)
    : program_(std::move(program)), summary_(std::move(summary)) {
    std::string& host = options.host;
    options_.push_back({"--host", "ADDR",
                        "numeric IPv4 or IPv6 address to listen on (default " + host + ")",
                        [&host](const std::string& value) -> std::string {
                            if (!is_numeric_address(value))
                                return "'" + value +
                                       "' is not a numeric IPv4 or IPv6 address, such as "
                                       "127.0.0.1 or ::1";
                            host = value;
                            return "";
                        }});
    std::uint16_t& port = options.port;
    options_.push_back({"--port", "N",
                        "TCP port; 0 picks a free one (default " + std::to_string(port) + ")",
                        [&port](const std::string& value) -> std::string {
                            const auto number = parse_decimal(value);
                            if (!number || *number > 65535)
                                return whole_number_error(value, 0, 65535);
                            port = static_cast<std::uint16_t>(*number);
                            return "";
                        }});
}

void CommandLine::add_option(std::string name, std::string value_name, std::string help,
                             unsigned& target, unsigned min, unsigned max) {
    help += " (default " + std::to_string(target) + ")";
    options_.push_back({std::move(name), std::move(value_name), std::move(help),
                        [&target, min, max](const std::string& value) -> std::string {
                            const auto number = parse_decimal(value);
                            if (!number || *number < min || *number > max)
                                return whole_number_error(value, min, max);
                            target = static_cast<unsigned>(*number);
                            return "";
                        }});
}

void CommandLine::add_option(std::string name, std::string value_name, std::string help,
                             std::string& target) {
    if (!target.empty()) help += " (default " + target + ")";
    options_.push_back({std::move(name), std::move(value_name), std::move(help),
                        [&target](const std::string& value) -> std::string {
                            if (value.empty()) return "the value is empty";
                            target = value;
                            return "";
                        }});
}

ParseResult CommandLine::parse(const std::vector<std::string>& args) {
    for (const std::string& arg : args) {
        if (arg == "--help" || arg == "-h") return {ParseStatus::help, ""};
    }
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        // "--port=8080" or "--port 8080"
        const std::size_t equals = arg.find('=');
        const std::string name = arg.substr(0, equals);
        const Option* option = nullptr;
        for (const Option& candidate : options_) {
            if (candidate.name == name) option = &candidate;
        }
        if (!option) {
            if (arg.rfind("-", 0) == 0)
                return {ParseStatus::error, "unknown option '" + name + "'"};
            return {ParseStatus::error, "unexpected argument '" + arg + "'"};
        }
        std::string value;
        if (equals != std::string::npos) {
            value = arg.substr(equals + 1);
        } else if (i + 1 < args.size()) {
            value = args[++i];
        } else {
            return {ParseStatus::error, name + " needs a value (" + option->value_name + ")"};
        }
        const std::string problem = option->store(value);
        if (!problem.empty()) return {ParseStatus::error, name + ": " + problem};
    }
    return {ParseStatus::ok, ""};
}

std::string CommandLine::usage() const {
    std::string text = "usage: " + program_;
    for (const Option& option : options_)
        text += " [" + option.name + " " + option.value_name + "]";
    text += " [--help]\n\n" + summary_ + "\n\noptions:\n";
    std::size_t width = 0;
    for (const Option& option : options_)
        width = std::max(width, option.name.size() + 1 + option.value_name.size());
    auto line = [&](const std::string& left, const std::string& help) {
        text += "  " + left + std::string(width - left.size() + 3, ' ') + help + "\n";
    };
    for (const Option& option : options_) line(option.name + " " + option.value_name, option.help);
    line("--help", "print this help and exit");
    return text;
}

std::optional<int> CommandLine::parse_or_exit_code(int argc, char* argv[]) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    const ParseResult result = parse(args);
    switch (result.status) {
        case ParseStatus::ok:
            return std::nullopt;
        case ParseStatus::help:
            std::fputs(usage().c_str(), stdout);
            return 0;
        case ParseStatus::error:
            std::fprintf(stderr, "%s: %s\n\n%s", program_.c_str(), result.error.c_str(),
                         usage().c_str());
            return 2;
    }
    return 2;
}

}  // namespace net

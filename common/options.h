// common/options.h — the command line every stage shares.
//
// Every stage takes --host ADDR (default 127.0.0.1), --port N (default 8080; 0 lets the system
// pick a free port) and --help. A stage may add options of its own (stage 07's --max-clients,
// for example). Bad arguments print the usage to stderr and exit with code 2; --help prints
// it to stdout and exits with 0.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace net {

struct ServerOptions {
    std::string host = "127.0.0.1";  // a numeric IPv4 or IPv6 address
    std::uint16_t port = 8080;       // 0: any free port; the stage prints the one it got
};

enum class ParseStatus { ok, help, error };

struct ParseResult {
    ParseStatus status = ParseStatus::ok;
    std::string error;  // one line saying what was wrong, when status is error
};

class CommandLine {
public:
    // `program` and `summary` start the usage text; --host and --port write into `options`,
    // which must outlive this object.
    CommandLine(std::string program, std::string summary, ServerOptions& options);

    // A stage's own option taking a whole number from min to max; the target's value when
    // this is called is the default shown in the usage.
    void add_option(std::string name, std::string value_name, std::string help, unsigned& target,
                    unsigned min, unsigned max);
    // A stage's own option taking any non-empty text.
    void add_option(std::string name, std::string value_name, std::string help,
                    std::string& target);

    // Pure parsing, for tests: no output. `args` excludes the program name. Accepts
    // "--name value" and "--name=value"; a later repeat of an option wins.
    ParseResult parse(const std::vector<std::string>& args);

    std::string usage() const;

    // For main(): parses argv, prints what must be printed, and returns the exit code when
    // the program should stop now (0 after --help, 2 after a bad argument).
    std::optional<int> parse_or_exit_code(int argc, char* argv[]);

private:
    struct Option {
        std::string name, value_name, help;
        // Checks a value and stores it in the option's target; returns "" on success, or
        // what is wrong with the value.
        std::function<std::string(const std::string&)> store;
    };

    std::string program_, summary_;
    std::vector<Option> options_;
};

}  // namespace net

// The command line every stage shares: defaults, every accepted form, every kind of bad input.
#include "common/options.h"

#include "catch.hpp"

#include <string>
#include <vector>

namespace {

// A command line like a stage's that adds options of its own (stage 07 and 08 do).
struct StageCommandLine {
    net::ServerOptions options;
    unsigned max_clients = 100;
    std::string root = "www";
    net::CommandLine command_line{"stage99_test", "A stage for testing.", options};

    StageCommandLine() {
        command_line.add_option("--max-clients", "N", "refuse clients beyond N", max_clients, 1,
                                1000);
        command_line.add_option("--root", "DIR", "folder to serve", root);
    }
    net::ParseResult parse(const std::vector<std::string>& args) {
        return command_line.parse(args);
    }
};

}  // namespace

TEST_CASE("no arguments keep the defaults", "[options]") {
    StageCommandLine cli;
    const auto result = cli.parse({});
    REQUIRE(result.status == net::ParseStatus::ok);
    CHECK(cli.options.host == "127.0.0.1");
    CHECK(cli.options.port == 8080);
    CHECK(cli.max_clients == 100);
    CHECK(cli.root == "www");
}

TEST_CASE("accepted forms", "[options]") {
    StageCommandLine cli;
    SECTION("port 0 asks for any free port") {
        REQUIRE(cli.parse({"--port", "0"}).status == net::ParseStatus::ok);
        CHECK(cli.options.port == 0);
    }
    SECTION("the highest port") {
        REQUIRE(cli.parse({"--port", "65535"}).status == net::ParseStatus::ok);
        CHECK(cli.options.port == 65535);
    }
    SECTION("--name=value") {
        REQUIRE(cli.parse({"--port=9000", "--host=0.0.0.0"}).status == net::ParseStatus::ok);
        CHECK(cli.options.port == 9000);
        CHECK(cli.options.host == "0.0.0.0");
    }
    SECTION("an IPv6 address") {
        REQUIRE(cli.parse({"--host", "::1"}).status == net::ParseStatus::ok);
        CHECK(cli.options.host == "::1");
    }
    SECTION("a later repeat wins") {
        REQUIRE(cli.parse({"--port", "1", "--port", "2"}).status == net::ParseStatus::ok);
        CHECK(cli.options.port == 2);
    }
    SECTION("a stage's own options, at their bounds") {
        REQUIRE(cli.parse({"--max-clients", "1000", "--root", "C:\\site"}).status ==
                net::ParseStatus::ok);
        CHECK(cli.max_clients == 1000);
        CHECK(cli.root == "C:\\site");
        REQUIRE(cli.parse({"--max-clients=1"}).status == net::ParseStatus::ok);
        CHECK(cli.max_clients == 1);
    }
}

TEST_CASE("--help and -h ask for the usage, wherever they stand", "[options]") {
    StageCommandLine cli;
    CHECK(cli.parse({"--help"}).status == net::ParseStatus::help);
    CHECK(cli.parse({"-h"}).status == net::ParseStatus::help);
    CHECK(cli.parse({"--port", "bad", "--help"}).status == net::ParseStatus::help);
}

TEST_CASE("bad arguments are errors that name the option", "[options]") {
    struct Case {
        std::vector<std::string> args;
        std::string must_mention;
    };
    const std::vector<Case> cases = {
        {{"--port"}, "--port"},   // no value
        {{"--port="}, "--port"},  // empty value
        {{"--port", ""}, "--port"},
        {{"--port", "abc"}, "--port"},
        {{"--port", "-1"}, "--port"},
        {{"--port", "+80"}, "--port"},
        {{"--port", " 80"}, "--port"},
        {{"--port", "80 "}, "--port"},
        {{"--port", "0x50"}, "--port"},
        {{"--port", "8080abc"}, "--port"},
        {{"--port", "65536"}, "--port"},
        {{"--port", "99999999999999999999999"}, "--port"},
        {{"--port", "80.5"}, "--port"},
        {{"--host"}, "--host"},
        {{"--host", ""}, "--host"},
        {{"--host", "localhost"}, "--host"},  // a name, not an address
        {{"--host", "1.2.3"}, "--host"},
        {{"--host", "256.1.1.1"}, "--host"},
        {{"--host", "::g"}, "--host"},
        {{"--host", "127.0.0.1:80"}, "--host"},
        {{"--bogus"}, "--bogus"},      // unknown option
        {{"--PORT", "80"}, "--PORT"},  // options are case-sensitive
        {{"-p", "80"}, "-p"},
        {{"extra"}, "extra"},  // stray argument
        {{"--port=80", "stray"}, "stray"},
        {{"--max-clients", "0"}, "--max-clients"},     // below the stage's minimum
        {{"--max-clients", "1001"}, "--max-clients"},  // above its maximum
        {{"--root", ""}, "--root"},
    };
    for (const Case& c : cases) {
        StageCommandLine cli;
        std::string joined;
        for (const auto& arg : c.args) joined += "[" + arg + "] ";
        INFO("arguments: " << joined);
        const auto result = cli.parse(c.args);
        CHECK(result.status == net::ParseStatus::error);
        CHECK(result.error.find(c.must_mention) != std::string::npos);
    }
}

TEST_CASE("the usage names every option and its default", "[options]") {
    StageCommandLine cli;
    const std::string usage = cli.command_line.usage();
    for (const char* expected :
         {"usage: stage99_test", "A stage for testing.", "--host ADDR", "127.0.0.1", "--port N",
          "8080", "--max-clients N", "100", "--root DIR", "www", "--help"}) {
        INFO("expected in the usage: " << expected);
        CHECK(usage.find(expected) != std::string::npos);
    }
}

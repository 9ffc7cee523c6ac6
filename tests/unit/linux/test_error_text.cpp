// net::error_text (stages/linux/common/error_text.h): errno as "NAME (number): sentence".
#include "stages/linux/common/error_text.h"

#include "catch.hpp"

#include <cerrno>
#include <string>

TEST_CASE("a known errno gets its name, its number and the C library's sentence", "[error_text]") {
    CHECK(net::error_text(ECONNRESET) == "ECONNRESET (104): Connection reset by peer");
    CHECK(net::error_text(EADDRINUSE) == "EADDRINUSE (98): Address already in use");
    CHECK(std::string(net::error_name(EMFILE)) == "EMFILE");
}

TEST_CASE("an unknown code still gets a line, never an empty one", "[error_text]") {
    const std::string text = net::error_text(99999);
    CHECK(text.rfind("error 99999: ", 0) == 0);
    CHECK(text.size() > std::string("error 99999: ").size());
    CHECK(std::string(net::error_name(99999)).empty());
}

// Error text: a name for the common codes, the system's sentence, never an empty string.
#include "common/error_text.h"
#include "common/winsock.h"

#include "catch.hpp"

#include <string>

namespace {
bool starts_with(const std::string& text, const std::string& prefix) {
    return text.rfind(prefix, 0) == 0;
}
}  // namespace

TEST_CASE("a Winsock code gets its name, its number and a sentence", "[error_text]") {
    const std::string text = net::error_text(WSAECONNRESET);
    INFO(text);
    CHECK(starts_with(text, "WSAECONNRESET (10054): "));
    CHECK(text.size() > std::string("WSAECONNRESET (10054): ").size());
    CHECK(text.back() != '\n');  // FormatMessage's line break is trimmed
}

TEST_CASE("the Win32 codes of failed completions have names too", "[error_text]") {
    CHECK(std::string(net::error_name(ERROR_NETNAME_DELETED)) == "ERROR_NETNAME_DELETED");
    CHECK(std::string(net::error_name(ERROR_OPERATION_ABORTED)) == "ERROR_OPERATION_ABORTED");
    CHECK(std::string(net::error_name(WSA_IO_PENDING)) == "ERROR_IO_PENDING");  // the same 997
    CHECK(starts_with(net::error_text(ERROR_NETNAME_DELETED), "ERROR_NETNAME_DELETED (64): "));
}

TEST_CASE("an unknown code still gets a readable line", "[error_text]") {
    const std::string text = net::error_text(123456789);
    INFO(text);
    CHECK(starts_with(text, "error 123456789: "));
    CHECK(text.size() > std::string("error 123456789: ").size());
    CHECK(std::string(net::error_name(123456789)).empty());
}

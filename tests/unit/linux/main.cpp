// The test runner's main(), for Catch2 v2 and v3 alike (as tests/unit/main.cpp).
#if __has_include(<catch2/catch_session.hpp>)
#include <catch2/catch_session.hpp>  // Catch2 v3
#else
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>  // Catch2 v2
#endif

int main(int argc, char* argv[]) { return Catch::Session().run(argc, argv); }

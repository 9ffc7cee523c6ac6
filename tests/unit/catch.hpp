// tests/unit/catch.hpp — the one Catch2 include of every test file, for Catch2 v2 and v3.
#pragma once

#if __has_include(<catch2/catch_test_macros.hpp>)
#include <catch2/catch_test_macros.hpp>  // Catch2 v3
#include <catch2/matchers/catch_matchers_string.hpp>
#else
#include <catch2/catch.hpp>  // Catch2 v2, a single header
#endif

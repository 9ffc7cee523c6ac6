// tests/unit/catch.hpp — the one Catch2 include of every test file, for Catch2 v2 and v3.
#pragma once

#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>  // Catch2 v3 (FetchContent or vcpkg on Windows)
#else
#include <catch2/catch.hpp>  // Catch2 v2, a single header (Debian's catch2 package)
#endif

// WinsockSession and the RAII owners of sockets and handles.
#include "common/winsock.h"

#include "catch.hpp"
#include "support.h"

#include <utility>

TEST_CASE("sockets work only while a WinsockSession lives, and sessions nest", "[winsock]") {
    // No session yet in this test: Winsock refuses.
    CHECK(::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) == INVALID_SOCKET);
    CHECK(::WSAGetLastError() == WSANOTINITIALISED);
    {
        net::WinsockSession outer;
        {
            net::WinsockSession inner;
            net::UniqueSocket s(::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP));
            CHECK(s);
        }
        // WSAStartup/WSACleanup are counted: the outer session still holds Winsock open.
        net::UniqueSocket s(::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP));
        CHECK(s);
    }
    CHECK(::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP) == INVALID_SOCKET);
    CHECK(::WSAGetLastError() == WSANOTINITIALISED);
}

TEST_CASE("UniqueSocket closes once, on reset or at the end of its scope", "[winsock]") {
    net::WinsockSession winsock;
    SOCKET raw = INVALID_SOCKET;
    {
        net::UniqueSocket s(::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP));
        raw = s.get();
        REQUIRE(test::is_open_socket(raw));
        net::UniqueSocket moved = std::move(s);  // the new owner; the old one is empty
        CHECK_FALSE(s);
        CHECK(moved.get() == raw);
        CHECK(test::is_open_socket(raw));
    }
    CHECK_FALSE(test::is_open_socket(raw));

    net::UniqueSocket s(::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP));
    raw = s.get();
    s.reset();
    CHECK_FALSE(s);
    CHECK_FALSE(test::is_open_socket(raw));

    net::UniqueSocket kept(::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP));
    raw = kept.release();  // handed on: no longer ours to close
    CHECK_FALSE(kept);
    CHECK(test::is_open_socket(raw));
    ::closesocket(raw);
}

TEST_CASE("UniqueHandle closes its handle", "[winsock]") {
    HANDLE raw = nullptr;
    {
        net::UniqueHandle event(::CreateEventW(nullptr, TRUE, FALSE, nullptr));
        REQUIRE(event);
        raw = event.get();
        DWORD flags = 0;
        CHECK(::GetHandleInformation(raw, &flags));
    }
    DWORD flags = 0;
    CHECK_FALSE(::GetHandleInformation(raw, &flags));
}

TEST_CASE("addresses print as ADDR:PORT, IPv6 in brackets", "[winsock]") {
    net::WinsockSession winsock;
    sockaddr_in v4{};
    v4.sin_family = AF_INET;
    v4.sin_port = htons(8080);
    REQUIRE(::inet_pton(AF_INET, "127.0.0.1", &v4.sin_addr) == 1);
    CHECK(net::address_to_string(reinterpret_cast<sockaddr*>(&v4)) == "127.0.0.1:8080");

    sockaddr_in6 v6{};
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(443);
    REQUIRE(::inet_pton(AF_INET6, "::1", &v6.sin6_addr) == 1);
    CHECK(net::address_to_string(reinterpret_cast<sockaddr*>(&v6)) == "[::1]:443");

    sockaddr unknown{};
    unknown.sa_family = AF_UNSPEC;
    CHECK(net::address_to_string(&unknown) == "?");
}

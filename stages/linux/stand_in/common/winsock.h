// stages/linux/stand_in/common/winsock.h — stands in for common/winsock.h when the Linux twins
// compile common/options.cpp, the command line that every stage shares.
//
// options.cpp needs one thing of Winsock: inet_pton, to check that --host is a numeric address.
// On Linux that function (and in6_addr, AF_INET, AF_INET6) comes with the C library, declared in
// <arpa/inet.h>; there is no WSAStartup to call first. stages/linux/CMakeLists.txt puts this
// folder before the repository root on the include path of options.cpp alone, so that its
// #include "common/winsock.h" finds this file: the Windows stages and the twins then parse
// their command lines with the very same code, and the tests of the contract hold both to it.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>

// common/error_text.h — readable text for a Windows or Winsock error code.
#pragma once

#include <string>

namespace net {

// "WSAECONNRESET (10054): An existing connection was forcibly closed by the remote host."
// The symbolic name is added for the codes a socket program meets most; the sentence comes
// from the system (FormatMessage), in the user's language, or from a short built-in meaning
// where the system has none. Never empty, even for a code nobody knows. Works for Winsock
// codes (WSAGetLastError) and for the Win32 codes that overlapped I/O reports (GetLastError,
// GetQueuedCompletionStatus).
std::string error_text(int code);

// The symbolic name alone ("WSAECONNRESET"), or "" when the code is not in the table.
const char* error_name(int code);

}  // namespace net

#pragma once
// Byte-level rules for request header fields (RFC 9110 §5), shared by the head builder
// and its tests. Internal to kc_enclave_proxy; nothing here touches a secret except
// CheckFieldValue, which only reads.

#include <cstdint>
#include <string_view>

#include "common/bytes.h"

namespace keycell::enclave::proxy {

// RFC 9110 tchar: ALPHA DIGIT and !#$%&'*+-.^_`|~ .
bool IsTokenChar(uint8_t c);
// A non-empty run of tchar (header names, methods, Connection options).
bool IsToken(std::string_view s);

// ASCII case-insensitive equality (header names).
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// What is wrong with a field value, if anything. Allowed: HTAB, SP, VCHAR and obs-text
// (0x80-0xff). CR, LF and NUL are reported apart from the other controls (and DEL)
// because they are the ones that split or truncate a header line.
enum class ValueFault { kNone, kCrLfNul, kControl };
ValueFault CheckFieldValue(ByteView value);

// The value without leading and trailing SP/HTAB (RFC 9110 §5.5: not part of the value).
std::string_view TrimOws(std::string_view s);

// Whether a caller-supplied header of this name is dropped because the enclave sets it
// itself or it concerns only the hop to us (the table in header_rules.cc gives the
// reason for each): Connection, Keep-Alive, Proxy-*, TE, Trailer, Transfer-Encoding,
// Upgrade, Host, Content-Length, Accept-Encoding. Case-insensitive.
bool IsStrippedHeader(std::string_view name);

// Whether `name` is listed in a Connection header value (comma-separated options,
// case-insensitive, OWS around each; elements that are not tokens match nothing).
bool ConnectionLists(std::string_view connection_value, std::string_view name);

}  // namespace keycell::enclave::proxy

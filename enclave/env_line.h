#pragma once
// One `NAME=value` line of a .env file, quoted so that the value reads back
// byte-for-byte in the common dotenv parsers (python-dotenv, Node's dotenv, Ruby's
// dotenv, docker compose). The quoting is chosen per value:
//   1. '...'  when the value has no ', no \ and no CR: literal in every parser.
//   2. "..."  when it has ' but no ", no \, no CR and no $: literal in every parser.
//   3. "..." with \\ \" \n \r escapes otherwise: python-dotenv, Ruby, compose.
// Newlines stay raw in 1 and 2 (multi-line values). A value with NUL or invalid
// UTF-8 cannot be an environment variable value and is refused.

#include <string_view>

#include "common/result.h"
#include "common/secure_buffer.h"

namespace keycell::enclave {

// Formats "NAME=<quoted value>\n" into locked memory.
// Errors: kInvalidArgument (bad name, NUL or invalid UTF-8 in the value).
Result<SecureBuffer> FormatEnvLine(std::string_view name, SecretView value);

// Formats "NAME\0value\0": the exact bytes, for a process environment built by
// `keycell run`. Errors: kInvalidArgument (bad name, NUL in the value).
Result<SecureBuffer> FormatNulRecord(std::string_view name, SecretView value);

}  // namespace keycell::enclave

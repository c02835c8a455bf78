#pragma once
// Reading environment entries that hold secrets: dotenv files (`keycell import`) and
// the enclave's NUL-separated records (`keycell run`). Values are plaintext secrets
// and only ever live in SecureBuffers; names are plain strings. Error messages carry
// a line (or record) number in Status::detail() and never any file content.
//
// ---- The dotenv dialect ------------------------------------------------------------
// The common dialect (python-dotenv, Node's dotenv, Ruby's dotenv, docker compose),
// strict where those parsers disagree: input they would read differently is refused
// with a line number instead of being guessed at. python-dotenv (interpolate=False) is
// the reference for everything accepted; the cross-check test runs it.
//
//   file      = [UTF-8 BOM] *record
//   record    = blank-line | comment-line | entry
//   entry     = *blank ["export" 1*blank] NAME *blank "=" *blank value
//   blank     = space or tab.  Lines end in \n, \r\n or a lone \r (python's universal
//               newlines); every one of them counts as a line for error numbers.
//   comment   = a line whose first non-blank byte is '#'.
//   NAME      = [A-Za-z_][A-Za-z0-9_]*, at most kMaxEnvNameBytes. (The lexer also
//               accepts '.', '-' and a leading digit, Node's set, so that the merge can
//               keep such lines; ParseDotenv refuses them: they cannot be exported.)
//   value:
//    - '...'  literal, may span lines. A backslash is literal, except that \\ and \'
//             are refused: python and Node treat \' as not closing the quote and
//             python decodes \\, bash does neither.
//    - "..."  may span lines; escapes decoded as python-dotenv does: \\ \' \" \a \b \f
//             \n \r \t \v; any other backslash stays as is (`"\d"` is backslash, d).
//             A backslash always escapes the next byte when finding the closing quote,
//             so `"a\\"` ends there (python-dotenv's regex is wrong about that case).
//    - after a closing quote only blanks and an optional `#` comment may follow.
//    - unquoted: the rest of the line; a `#` preceded by a blank starts a comment
//             (`A=x#y` is "x#y", `A=x #y` is "x"); trailing blanks are trimmed. A value
//             starting with '#' (`A=#x`, `A= # note`) is refused: python reads the
//             text as the value, bash and Node as a comment. So is one starting with
//             '`' (Node strips backtick quotes, python keeps them).
//   Line breaks inside quoted values are decoded as \n whatever the file uses.
//   Never done: `${VAR}` / `$VAR` interpolation (keycell files are data, not
//   templates), `NAME: value` (YAML style), keys in quotes.
//   Also refused: a bare `NAME` without '=', duplicate names, NUL bytes anywhere,
//   values that are not UTF-8.
//
// ParseDotenv reads every FormatEnvLine output (enclave/env_line.h, all three quoting
// styles) back to the original bytes.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"
#include "common/secure_buffer.h"

namespace keycell::broker::envfile {

inline constexpr size_t kMaxDotenvBytes = size_t{1} << 20;     // whole file
inline constexpr size_t kMaxEnvEntries = 1024;                 // per file / record stream
inline constexpr size_t kMaxEnvValueBytes = size_t{64} << 10;  // decoded value
inline constexpr size_t kMaxEnvNameBytes = 256;

struct EnvEntry {
  std::string name;
  SecureBuffer value;  // plaintext secret, decoded; wiped when the entry dies
  size_t line = 0;     // 1-based line of the entry (record index for NUL records)
};

// Whether `name` is [A-Za-z_][A-Za-z0-9_]* and at most kMaxEnvNameBytes long.
bool IsEnvName(std::string_view name);

// Parses a whole dotenv file (the dialect above) into its entries, in file order.
// `file_bytes` is not retained; the caller owns (and should wipe) it. Never blocks.
// Errors, detail = 1-based line of the offending entry (0 for whole-file errors):
//   kTooLarge        file over kMaxDotenvBytes, more than kMaxEnvEntries entries, or
//                    a decoded value over kMaxEnvValueBytes
//   kInvalidArgument any syntax the dialect refuses (see above), an invalid or
//                    duplicate name, a value that is not UTF-8
//   kNoMem           SecureBuffer allocation failed
// On error no entry is returned (already decoded values are wiped).
Result<std::vector<EnvEntry>> ParseDotenv(ByteView file_bytes);

// Parses the enclave's ENV_NUL_RECORDS output: zero or more `NAME\0value\0` records,
// values as exact bytes (no quoting, no UTF-8 requirement). A value containing NUL
// cannot be represented: it shifts the stream, which then fails as a truncated
// record or a bad name. Same limits as above; detail = 1-based record index.
// Errors: kInvalidArgument (bad/duplicate name, truncated record), kTooLarge, kNoMem.
Result<std::vector<EnvEntry>> ParseNulRecords(ByteView records);

// One line for humans from any kc_envfile error, e.g. "line 7: unterminated double
// quote", "record 3: truncated record", "refusing a symlink: Too many levels of
// symbolic links"; foreign Statuses come back as their `where()` text. Never includes
// file content (the Status holds none).
std::string DescribeEnvfileError(const Status& status);

}  // namespace keycell::broker::envfile

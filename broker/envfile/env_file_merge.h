#pragma once
// Updating a project's `.env` (`keycell env PATH`): the entries keycell manages are
// replaced, everything else in the file survives byte for byte.
//
// The new file is: the old file minus every entry whose name keycell is about to write
// (its "kept part": comments, blank lines, unrelated entries including multi-line
// quoted values, in their order and with their original line endings), followed by
// the lines the enclave writes. A managed entry therefore moves to the end of the file,
// and a comment line above it stays where it was.

#include <sys/types.h>

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"
#include "common/secure_buffer.h"

namespace keycell::broker::envfile {

inline constexpr char kEnvFileName[] = ".env";
// Mode of a new `.env`. An existing file's stricter mode (e.g. 0400) is kept; wider
// bits (group, other, execute) are never carried over.
inline constexpr mode_t kEnvFileMode = 0600;

// The kept part of `old_file` (see above): every record except entries (`NAME=...` or
// `export NAME=...`) named in `names`. If the result is non-empty and does not end in a
// line break, "\n" is appended so that appended lines start on a line of their own.
// The result is secret (unrelated entries are other credentials) and lives in locked
// memory; `old_file` is neither kept nor wiped. `names` are compared exactly.
// Errors: those of the dotenv lexer (dotenv_parser.h), detail = line: a file whose
// record boundaries are unclear (unterminated quote, garbage line, NUL) is refused,
// because guessing could cut an unrelated multi-line value in half. kNoMem.
Result<SecureBuffer> KeepUnmanagedLines(ByteView old_file, std::span<const std::string> names);

// Replaces dir/.env atomically:
//   1. takes an advisory lock on `dir` (blocks while another keycell updates it);
//   2. opens dir/.env with O_NOFOLLOW (absent is fine), refusing a symlink or anything
//      but a regular file, reads it (at most kMaxDotenvBytes) into locked memory;
//   3. writes its kept part to a new temp file in `dir` (mode kEnvFileMode, or the
//      old file's mode if stricter) and wipes the broker's copies;
//   4. calls `write_new_entries(fd)` with the temp file's fd positioned after the kept
//      part: the callback appends the new lines (typically by handing the fd to the
//      enclave's WriteEnv) and must not close the fd; any writes through a duplicate
//      of it must be finished when it returns;
//   5. fsyncs, renames over dir/.env, fsyncs `dir`.
// On any error the temp file is removed and dir/.env is untouched.
// Errors: kInvalidArgument (a name that is not [A-Za-z_][A-Za-z0-9_]*, `dir` not a
// directory, .env a symlink / not a regular file, .env unparseable with detail = line),
// kTooLarge (.env over 1 MiB), kUpstreamIo (detail errno), kNoMem, or whatever the
// callback returns. Blocks on disk I/O, the lock, and the callback.
Status ReplaceEnvFile(const std::string& dir, const std::vector<std::string>& names,
                      const std::function<Status(int fd)>& write_new_entries);

}  // namespace keycell::broker::envfile

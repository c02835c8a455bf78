#pragma once
// Keeping a project's `.env` out of git: `keycell env PATH` adds `.env` to
// PATH/.gitignore when PATH is in a git work tree and nothing ignores it yet.
//
// Git is not executed. A work tree is found by walking up from `dir` (after
// realpath) to the first ancestor holding a `.git` directory or `.git` file (linked
// work trees and submodules use a file); a `dir` inside a `.git` directory is not a
// work tree.
//
// "Already ignored" means: evaluating, as git does, every `.gitignore` from the work
// tree root down to `dir` (deeper files and later lines win; `!` re-includes), the
// last pattern that matches dir/<entry> is not a negation. Patterns are matched with
// fnmatch(3), which implements git's `*`, `?`, `[...]` and `\` rules:
//   - a pattern without '/' matches the file name at any depth: `.env`, `*.env`,
//     `.env*`, `.e?v`, `*`, `**/.env` (a leading `**/` is dropped);
//   - a pattern with a leading or inner '/' is relative to its `.gitignore`'s
//     directory: `/.env` in dir/.gitignore, `/app/.env` or `app/.env` in the parent's;
//   - a trailing '/' matches directories only, so it never counts.
// Deliberately not considered: `.git/info/exclude` and core.excludesFile (local to one
// clone or user, not shared with whoever else checks the project out), an ignored
// parent directory, core.ignoreCase, and `**` anywhere but a leading `**/` (a positive
// pattern we cannot evaluate is taken as not matching; a negation as matching). Each of
// these can only make us add an entry git did not strictly need, never skip one it did.

#include <cstddef>
#include <string>
#include <string_view>

#include "common/result.h"

namespace keycell::broker::envfile {

inline constexpr size_t kMaxGitignoreBytes = size_t{1} << 20;
// Mode of a newly created .gitignore; an existing file keeps its mode.
inline constexpr unsigned kGitignoreMode = 0644;

// Ensures dir/<entry> is ignored by git (see above). When it is not, appends `entry`
// as a line to dir/.gitignore, creating the file if needed, keeping its content as is
// and adding the missing final newline first; written to a temp file, fsynced and
// renamed over. Returns true if it changed dir/.gitignore, false if `dir` is not in a
// work tree or the entry is already ignored.
// `entry` must be a plain file name: [A-Za-z0-9._-]+, not "." or "..".
// Errors: kInvalidArgument (bad entry; `dir` missing or not a directory; dir/.gitignore
// a symlink or not a regular file), kTooLarge (a .gitignore over 1 MiB), kUpstreamIo
// (detail errno), kNoMem. Blocks on disk I/O and on the directory lock that
// ReplaceEnvFile also takes (so never call it from ReplaceEnvFile's callback).
Result<bool> EnsureGitignored(const std::string& dir, std::string_view entry = ".env");

}  // namespace keycell::broker::envfile

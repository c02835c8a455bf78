#pragma once
// File-system helpers for the store's private files. Modes are set with chmod/fchmod
// after creation, so the result is exactly 0700/0600 whatever the process umask is.
// Errors are kUpstreamIo with the errno in detail. All calls block on file I/O.

#include <string>

#include "common/result.h"
#include "common/unique_fd.h"

namespace keycell::broker::store {

// Creates every missing directory of `dir` (like mkdir -p) with mode 0700. Existing
// directories are left as they are.
Status MakePrivateDirs(const std::string& dir);

// Makes sure `path` is a regular file (not a symlink) with no group/other permission
// bits: creates it 0600 if missing, narrows an existing one to 0600.
Status EnsurePrivateFile(const std::string& path);

// Creates a new, empty, unique 0600 file "<path>.tmp-XXXXXX" next to `path` and returns
// its name in *tmp_path.
Result<UniqueFd> CreatePrivateTemp(const std::string& path, std::string* tmp_path);

// fsync of the directory holding `path`, so a create or rename in it is durable.
Status FsyncParentDir(const std::string& path);

}  // namespace keycell::broker::store

#pragma once
// Private directories for runtime_dir (the control socket) and data_dir.

#include <string>

#include "common/result.h"

namespace keycell::broker {

// Creates `path` and any missing parents with mode 0700, then checks that the final
// component is a real directory (not a symlink), owned by our effective uid, with no
// group/other permission bits. Existing directories are never chmod'ed or chown'ed: a
// directory someone else could enter may already hold their files, so it is refused
// with a message saying what to fix. This is what makes the runtime_dir fallback
// /tmp/keycell-<uid> safe in a shared /tmp (another user can pre-create that name, but
// cannot make it ours). The daemon calls it before binding its socket; LoadConfig does
// not (it creates nothing). Errors: kUpstreamIo (mkdir/open failed; detail errno),
// kPolicyDenied (symlink, not a directory, wrong owner, mode too open). *why gets the
// message. May block on a slow filesystem.
Status EnsurePrivateDir(const std::string& path, std::string* why = nullptr);

}  // namespace keycell::broker

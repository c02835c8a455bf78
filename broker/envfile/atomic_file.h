#pragma once
// Symlink-safe file primitives relative to a directory fd, for replacing a small file
// atomically (temp file in the same directory, fsync, rename, fsync the directory).
// Used for `.env` and `.gitignore`. Internal to kc_envfile.
//
// Every name is opened with openat() on a directory fd held for the whole operation,
// so a directory rename or a swapped symlink in the path between the steps cannot
// redirect a later step. All functions may block on disk I/O.

#include <sys/stat.h>
#include <sys/types.h>

#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/result.h"
#include "common/secure_buffer.h"
#include "common/unique_fd.h"

namespace keycell::broker::envfile {

// Opens `dir` (following symlinks in the path: the user chose it) as a directory.
// Errors: kInvalidArgument (not a directory, detail errno), kUpstreamIo (detail errno).
Result<UniqueFd> OpenDirectory(const std::string& dir);

// Takes an exclusive advisory flock on the directory so that two keycell processes
// updating files in it run one after the other instead of losing an update. Blocks
// while another holder has it; released when `dirfd` is closed. Best effort: on file
// systems without flock support it silently does nothing.
void LockDirectory(int dirfd);

// Opens dirfd/`name` read-only without following a symlink (O_NOFOLLOW) and without
// blocking on a FIFO, and fills `*st`. Returns an invalid UniqueFd if the name does
// not exist. Errors: kInvalidArgument if it is a symlink or not a regular file (`where`
// says which), kUpstreamIo (detail errno).
Result<UniqueFd> OpenRegularNoFollow(int dirfd, const char* name, struct stat* st);

// Reads the rest of `fd` into locked memory. `expected_size` is the fstat size;
// errors: kTooLarge if the content is over `max_bytes`, kInvalidArgument if it grew
// while being read, kUpstreamIo (detail errno), kNoMem.
Result<SecureBuffer> ReadAllSecret(int fd, size_t expected_size, size_t max_bytes);

// write() until done, retrying on EINTR. Errors: kUpstreamIo (detail errno).
Status WriteAll(int fd, ByteView data);

// A new file in the same directory as `target` (so the rename is atomic), with
// exactly `mode` (fchmod, so the umask cannot widen or narrow it). Unnamed (O_TMPFILE)
// where the file system supports it, and linked under a random name only in Commit(),
// after it is written and synced; otherwise created as `<target>.keycell-<hex>` with
// O_EXCL|O_NOFOLLOW. Removed on destruction unless Commit() renamed it over the target.
// Borrows `dirfd`: it must stay open for the TempFile's lifetime.
class TempFile {
 public:
  // Errors: kUpstreamIo (detail errno), kInternal (getrandom failed).
  static Result<TempFile> Create(int dirfd, std::string_view target, mode_t mode);

  TempFile(TempFile&& other) noexcept;
  TempFile& operator=(TempFile&&) = delete;
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile();

  int fd() const { return fd_.get(); }
  // fsync, name it if unnamed (needs /proc), close, rename it over the target, fsync
  // the directory.
  // Errors: kUpstreamIo (detail errno). If only the final directory fsync fails the
  // new file is already in place; the error still says the rename may not be durable.
  Status Commit();

 private:
  TempFile(int dirfd, std::string name, std::string target, UniqueFd fd)
      : dirfd_(dirfd), name_(std::move(name)), target_(std::move(target)), fd_(std::move(fd)) {}

  int dirfd_ = -1;
  std::string name_;  // empty while the file is an unnamed O_TMPFILE
  std::string target_;
  UniqueFd fd_;
  bool done_ = false;  // committed or moved from: nothing to unlink
};

}  // namespace keycell::broker::envfile

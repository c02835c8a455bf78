#include "broker/envfile/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <unistd.h>

#include <utility>

namespace keycell::broker::envfile {

Result<UniqueFd> OpenDirectory(const std::string& dir) {
  UniqueFd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.valid()) return fd;
  if (errno == ENOTDIR || errno == ENOENT)
    return Status(Err::kInvalidArgument, "envfile: not a directory", errno);
  return Status(Err::kUpstreamIo, "envfile: open directory", errno);
}

void LockDirectory(int dirfd) {
  while (flock(dirfd, LOCK_EX) != 0 && errno == EINTR) {
  }
}

Result<UniqueFd> OpenRegularNoFollow(int dirfd, const char* name, struct stat* st) {
  // O_NONBLOCK: opening a FIFO planted under the name must not hang the daemon.
  UniqueFd fd(openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return UniqueFd();
    // A symlink could point the rewrite at any file the user can write (or make us
    // read another project's secrets into this one): refuse rather than follow.
    if (errno == ELOOP) return Status(Err::kInvalidArgument, "envfile: refusing a symlink", ELOOP);
    return Status(Err::kUpstreamIo, "envfile: open", errno);
  }
  if (fstat(fd.get(), st) != 0) return Status(Err::kUpstreamIo, "envfile: fstat", errno);
  if (!S_ISREG(st->st_mode)) return Status(Err::kInvalidArgument, "envfile: not a regular file");
  return fd;
}

Result<SecureBuffer> ReadAllSecret(int fd, size_t expected_size, size_t max_bytes) {
  if (expected_size > max_bytes) return Status(Err::kTooLarge, "envfile: file too large");
  // One byte of slack tells "grew while we read" apart from "exactly as large".
  KC_ASSIGN_OR_RETURN(SecureBuffer buf, SecureBuffer::Allocate(expected_size + 1));
  size_t done = 0;
  while (done < buf.size()) {
    const ssize_t n = read(fd, buf.data() + done, buf.size() - done);
    if (n == 0) break;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status(Err::kUpstreamIo, "envfile: read", errno);
    done += static_cast<size_t>(n);
  }
  if (done > expected_size)
    return Status(Err::kInvalidArgument, "envfile: file changed while read");
  buf.resize(done);
  return buf;
}

Status WriteAll(int fd, ByteView data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status(Err::kUpstreamIo, "envfile: write", n < 0 ? errno : EIO);
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

namespace {

// "<target>.keycell-<16 hex>": next to the target, and matched by a `.env*` ignore.
Result<std::string> RandomTempName(std::string_view target) {
  static constexpr char kHex[] = "0123456789abcdef";
  uint8_t rnd[8];
  if (getrandom(rnd, sizeof(rnd), 0) != static_cast<ssize_t>(sizeof(rnd)))
    return Status(Err::kInternal, "envfile: getrandom", errno);
  std::string name = std::string(target) + ".keycell-";
  for (uint8_t b : rnd) name += {kHex[b >> 4], kHex[b & 15]};
  return name;
}

// Gives `fd` (an O_TMPFILE) a random name in `dirfd`. Through /proc because
// linkat(AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH.
Result<std::string> LinkUnnamed(int dirfd, int fd, std::string_view target) {
  const std::string self = "/proc/self/fd/" + std::to_string(fd);
  for (int attempt = 0; attempt < 8; ++attempt) {
    KC_ASSIGN_OR_RETURN(std::string name, RandomTempName(target));
    if (linkat(AT_FDCWD, self.c_str(), dirfd, name.c_str(), AT_SYMLINK_FOLLOW) == 0) return name;
    if (errno != EEXIST) return Status(Err::kUpstreamIo, "envfile: link temp file", errno);
  }
  return Status(Err::kUpstreamIo, "envfile: link temp file", EEXIST);
}

Result<UniqueFd> CreateNamed(int dirfd, std::string_view target, std::string* name) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    KC_ASSIGN_OR_RETURN(*name, RandomTempName(target));
    UniqueFd fd(
        openat(dirfd, name->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (fd.valid()) return fd;
    if (errno != EEXIST) return Status(Err::kUpstreamIo, "envfile: create temp file", errno);
  }
  return Status(Err::kUpstreamIo, "envfile: create temp file", EEXIST);
}

}  // namespace

Result<TempFile> TempFile::Create(int dirfd, std::string_view target, mode_t mode) {
  // Preferred: an unnamed file (O_TMPFILE). If the daemon dies mid-write, the
  // half-written secrets vanish with it instead of lingering under a temp name.
  // File systems without O_TMPFILE get a named temp file, unlinked on failure.
  // Naming it later goes through /proc (see LinkUnnamed), so that must be mounted.
  std::string name;
  UniqueFd fd;
  if (access("/proc/self/fd", X_OK) == 0)
    fd.reset(openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600));
  if (!fd.valid()) {
    KC_ASSIGN_OR_RETURN(fd, CreateNamed(dirfd, target, &name));
  }
  TempFile tmp(dirfd, std::move(name), std::string(target), std::move(fd));
  // The fd stays writable whatever the mode; fchmod now so the file never has more
  // permissions than it will end with (and the umask does not decide them).
  if (fchmod(tmp.fd(), mode) != 0) return Status(Err::kUpstreamIo, "envfile: fchmod", errno);
  return tmp;
}

TempFile::TempFile(TempFile&& other) noexcept
    : dirfd_(other.dirfd_),
      name_(std::move(other.name_)),
      target_(std::move(other.target_)),
      fd_(std::move(other.fd_)),
      done_(std::exchange(other.done_, true)) {}

TempFile::~TempFile() {
  if (!done_ && !name_.empty()) (void)unlinkat(dirfd_, name_.c_str(), 0);
}

Status TempFile::Commit() {
  if (fsync(fd_.get()) != 0) return Status(Err::kUpstreamIo, "envfile: fsync", errno);
  if (name_.empty()) {
    // Named only now, fully written and synced, for the moment before the rename.
    KC_ASSIGN_OR_RETURN(name_, LinkUnnamed(dirfd_, fd_.get(), target_));
  }
  // close() can report a deferred write error (NFS); check it before the rename.
  if (close(fd_.release()) != 0) return Status(Err::kUpstreamIo, "envfile: close", errno);
  if (renameat(dirfd_, name_.c_str(), dirfd_, target_.c_str()) != 0)
    return Status(Err::kUpstreamIo, "envfile: rename", errno);
  done_ = true;
  if (fsync(dirfd_) != 0) return Status(Err::kUpstreamIo, "envfile: fsync directory", errno);
  return Status::Ok();
}

}  // namespace keycell::broker::envfile

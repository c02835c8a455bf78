#include "broker/store/private_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <vector>

namespace keycell::broker::store {
namespace {

std::string ParentDir(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  return dir.empty() ? "." : dir;
}

Status MakeOneDir(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) == 0) {
    // mkdir honours the umask; a umask such as 0277 would leave us a directory we
    // cannot write.
    if (chmod(dir.c_str(), 0700) != 0) return Status(Err::kUpstreamIo, "store: chmod dir", errno);
    return Status::Ok();
  }
  if (errno != EEXIST) return Status(Err::kUpstreamIo, "store: mkdir", errno);
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) return Status(Err::kUpstreamIo, "store: stat dir", errno);
  if (!S_ISDIR(st.st_mode)) return Status(Err::kUpstreamIo, "store: mkdir", ENOTDIR);
  return Status::Ok();
}

}  // namespace

Status MakePrivateDirs(const std::string& dir) {
  std::vector<std::string> missing;
  std::filesystem::path p = std::filesystem::path(dir).lexically_normal();
  while (!p.empty() && p != p.root_path()) {
    struct stat st {};
    if (stat(p.c_str(), &st) == 0) break;
    if (errno != ENOENT) return Status(Err::kUpstreamIo, "store: stat dir", errno);
    missing.push_back(p.string());
    p = p.parent_path();
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) KC_RETURN_IF_ERROR(MakeOneDir(*it));
  return Status::Ok();
}

Status EnsurePrivateFile(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  const bool created = fd.valid();
  if (!created) {
    if (errno != EEXIST) return Status(Err::kUpstreamIo, "store: create db file", errno);
    fd.reset(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) return Status(Err::kUpstreamIo, "store: open db file", errno);
  }
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return Status(Err::kUpstreamIo, "store: stat db file", errno);
  if (!S_ISREG(st.st_mode)) return Status(Err::kUpstreamIo, "store: db path is not a regular file");
  if ((created && (st.st_mode & 0777) != 0600) || (st.st_mode & 0077) != 0) {
    if (fchmod(fd.get(), 0600) != 0) return Status(Err::kUpstreamIo, "store: chmod db file", errno);
  }
  if (created) return FsyncParentDir(path);
  return Status::Ok();
}

Result<UniqueFd> CreatePrivateTemp(const std::string& path, std::string* tmp_path) {
  std::string name = path + ".tmp-XXXXXX";
  // mkostemp creates the file 0600 (not subject to the umask's group/other bits).
  UniqueFd fd(mkostemp(name.data(), O_CLOEXEC));
  if (!fd) return Status(Err::kUpstreamIo, "store: create temp file", errno);
  if (fchmod(fd.get(), 0600) != 0) {
    const int err = errno;
    unlink(name.c_str());
    return Status(Err::kUpstreamIo, "store: chmod temp file", err);
  }
  *tmp_path = std::move(name);
  return fd;
}

Status FsyncParentDir(const std::string& path) {
  UniqueFd dir(open(ParentDir(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return Status(Err::kUpstreamIo, "store: open dir", errno);
  if (fsync(dir.get()) != 0) return Status(Err::kUpstreamIo, "store: fsync dir", errno);
  return Status::Ok();
}

}  // namespace keycell::broker::store

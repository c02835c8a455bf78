#include "broker/config/private_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/config/config_error.h"
#include "common/unique_fd.h"

namespace keycell::broker {
namespace {

Status MakeDirs(const std::string& path, std::string* why) {
  for (size_t pos = 1; pos <= path.size(); ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    const std::string prefix = path.substr(0, pos);
    if (mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      const int err = errno;
      return Fail(why, Status(Err::kUpstreamIo, "private dir: mkdir", err),
                  "cannot create " + prefix + ": " + strerror(err));
    }
  }
  return Status::Ok();
}

}  // namespace

Status EnsurePrivateDir(const std::string& path, std::string* why) {
  if (path.empty() || path[0] != '/') {
    return Fail(why, Status(Err::kInvalidArgument, "private dir: not absolute"),
                "private directory must be an absolute path: " + path);
  }
  KC_RETURN_IF_ERROR(MakeDirs(path, why));
  // O_NOFOLLOW on the last component: a symlink planted in /tmp is refused, not followed.
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    const int err = errno;
    if (err == ELOOP || err == ENOTDIR) {
      return Fail(why, Status(Err::kPolicyDenied, "private dir: not a directory", err),
                  path + " is a symlink or not a directory; remove it");
    }
    return Fail(why, Status(Err::kUpstreamIo, "private dir: open", err),
                "cannot open " + path + ": " + strerror(err));
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) {
    return Fail(why, Status(Err::kUpstreamIo, "private dir: fstat", errno),
                "cannot stat " + path + ": " + strerror(errno));
  }
  if (st.st_uid != geteuid()) {
    return Fail(why, Status(Err::kPolicyDenied, "private dir: wrong owner"),
                path + " is owned by uid " + std::to_string(st.st_uid) + ", not by you");
  }
  if ((st.st_mode & 077) != 0) {
    return Fail(why, Status(Err::kPolicyDenied, "private dir: mode too open"),
                path + " is accessible by group or others; run: chmod 700 " + path);
  }
  return Status::Ok();
}

}  // namespace keycell::broker

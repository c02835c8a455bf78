#include "broker/config/config_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/config/config.h"
#include "broker/config/config_error.h"
#include "common/unique_fd.h"

namespace keycell::broker {
namespace {

Status IoError(std::string* why, const char* where, const std::string& path, int err) {
  return Fail(why, Status(Err::kUpstreamIo, where, err),
              "cannot read config file " + path + ": " + strerror(err));
}

Status CheckTrusted(const struct stat& st, const std::string& path, std::string* why) {
  if (!S_ISREG(st.st_mode)) {
    return Fail(why, Status(Err::kPolicyDenied, "config: not a regular file"),
                "config file " + path + " is not a regular file");
  }
  if (st.st_uid != geteuid() && st.st_uid != 0) {
    return Fail(why, Status(Err::kPolicyDenied, "config: file owned by another user"),
                "config file " + path + " is owned by uid " + std::to_string(st.st_uid) +
                    ", not by you or root");
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return Fail(why, Status(Err::kPolicyDenied, "config: file writable by others"),
                "config file " + path + " is writable by group or others; run: chmod go-w " + path);
  }
  if (st.st_size > static_cast<off_t>(kMaxConfigBytes)) {
    return Fail(
        why, Status(Err::kTooLarge, "config: file too large"),
        "config file " + path + " is larger than " + std::to_string(kMaxConfigBytes) + " bytes");
  }
  return Status::Ok();
}

}  // namespace

std::string ConfigFilePath(const Environment& env, bool* required) {
  *required = false;
  if (std::optional<std::string> p = env.Get("KEYCELL_CONFIG"); p && !p->empty()) {
    *required = true;  // named explicitly: a missing file is a mistake, not "defaults"
    return *p;
  }
  if (std::optional<std::string> x = env.Get("XDG_CONFIG_HOME");
      x && !x->empty() && (*x)[0] == '/') {
    return *x + "/keycell/config.json";
  }
  if (std::optional<std::string> h = env.Get("HOME"); h && !h->empty() && (*h)[0] == '/') {
    return *h + "/.config/keycell/config.json";
  }
  return "";
}

Result<std::optional<std::string>> ReadConfigFile(const std::string& path, bool required,
                                                  std::string* why) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd) {
    if (errno == ENOENT && !required) return std::optional<std::string>();
    return IoError(why, "config: cannot open file", path, errno);
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return IoError(why, "config: fstat", path, errno);
  KC_RETURN_IF_ERROR(CheckTrusted(st, path, why));
  // Read one byte past the cap, so a file that grew after fstat is still refused.
  std::string text(kMaxConfigBytes + 1, '\0');
  size_t used = 0;
  while (used < text.size()) {
    const ssize_t n = read(fd.get(), text.data() + used, text.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError(why, "config: read", path, errno);
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  if (used > kMaxConfigBytes) {
    return Fail(
        why, Status(Err::kTooLarge, "config: file too large"),
        "config file " + path + " is larger than " + std::to_string(kMaxConfigBytes) + " bytes");
  }
  text.resize(used);
  return std::optional<std::string>(std::move(text));
}

}  // namespace keycell::broker

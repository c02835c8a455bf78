#include "broker/envfile/env_file_merge.h"

#include <string.h>

#include <algorithm>

#include "broker/envfile/atomic_file.h"
#include "broker/envfile/dotenv_lexer.h"
#include "broker/envfile/dotenv_parser.h"
#include "common/unique_fd.h"

namespace keycell::broker::envfile {
namespace {

bool IsManaged(std::string_view name, std::span<const std::string> names) {
  return std::any_of(names.begin(), names.end(), [&](const std::string& n) { return n == name; });
}

// Reads the old .env into locked memory and returns its kept part; the full copy
// (which holds the managed secrets being replaced) is wiped on return.
Result<SecureBuffer> ReadKeptPart(int fd, const struct stat& st,
                                  std::span<const std::string> names) {
  KC_ASSIGN_OR_RETURN(SecureBuffer old_file,
                      ReadAllSecret(fd, static_cast<size_t>(st.st_size), kMaxDotenvBytes));
  return KeepUnmanagedLines(old_file.view().bytes(), names);
}

}  // namespace

Result<SecureBuffer> KeepUnmanagedLines(ByteView old_file, std::span<const std::string> names) {
  // The kept part is a subsequence of the old file plus at most one '\n'.
  KC_ASSIGN_OR_RETURN(SecureBuffer kept, SecureBuffer::Allocate(old_file.size() + 1));
  size_t n = 0;
  DotenvLexer lexer(old_file);
  DotenvRecord rec;
  while (true) {
    KC_ASSIGN_OR_RETURN(const bool more, lexer.Next(&rec));
    if (!more) break;
    if (rec.kind == RecordKind::kEntry && IsManaged(rec.name, names)) continue;
    memcpy(kept.data() + n, old_file.data() + rec.begin, rec.end - rec.begin);
    n += rec.end - rec.begin;
  }
  // A lone '\r' already ends a line for every dotenv parser; only add to a bare end.
  if (n > 0 && kept.data()[n - 1] != '\n' && kept.data()[n - 1] != '\r') kept.data()[n++] = '\n';
  kept.resize(n);
  return kept;
}

Status ReplaceEnvFile(const std::string& dir, const std::vector<std::string>& names,
                      const std::function<Status(int fd)>& write_new_entries) {
  for (const std::string& name : names) {
    if (!IsEnvName(name)) return Status(Err::kInvalidArgument, "envfile: invalid variable name");
  }
  KC_ASSIGN_OR_RETURN(UniqueFd dirfd, OpenDirectory(dir));
  LockDirectory(dirfd.get());
  struct stat st {};
  KC_ASSIGN_OR_RETURN(UniqueFd old_fd, OpenRegularNoFollow(dirfd.get(), kEnvFileName, &st));
  mode_t mode = kEnvFileMode;
  SecureBuffer kept;
  if (old_fd.valid()) {
    mode = st.st_mode & kEnvFileMode;  // keep 0400, drop group/other/exec bits
    KC_ASSIGN_OR_RETURN(kept, ReadKeptPart(old_fd.get(), st, names));
    old_fd.reset();
  }
  KC_ASSIGN_OR_RETURN(TempFile tmp, TempFile::Create(dirfd.get(), kEnvFileName, mode));
  KC_RETURN_IF_ERROR(WriteAll(tmp.fd(), kept.view().bytes()));
  kept.clear();
  KC_RETURN_IF_ERROR(write_new_entries(tmp.fd()));
  return tmp.Commit();
}

}  // namespace keycell::broker::envfile

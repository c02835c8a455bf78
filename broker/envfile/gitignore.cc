#include "broker/envfile/gitignore.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "broker/envfile/atomic_file.h"
#include "common/secure_buffer.h"
#include "common/unique_fd.h"

namespace keycell::broker::envfile {
namespace {

constexpr char kGitignoreName[] = ".gitignore";

enum class Verdict { kNone, kIgnore, kUnignore };

struct GitignoreFile {
  bool exists = false;
  mode_t mode = 0;
  std::string text;
};

bool ValidEntry(std::string_view e) {
  if (e.empty() || e == "." || e == "..") return false;
  for (char c : e) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<std::string> RealDir(const std::string& dir) {
  char* p = realpath(dir.c_str(), nullptr);
  if (p == nullptr) {
    const Err code = errno == ENOENT || errno == ENOTDIR ? Err::kInvalidArgument : Err::kUpstreamIo;
    return Status(code, "gitignore: realpath", errno);
  }
  std::string out(p);
  free(p);
  return out;
}

std::string Join(const std::string& dir, std::string_view name) {
  return (dir == "/" ? std::string() : dir) + "/" + std::string(name);
}

// `path` relative to its ancestor `root` ("" when equal). Both are realpath()s.
std::string RelativeTo(const std::string& root, const std::string& path) {
  if (path.size() == root.size()) return std::string();
  return path.substr(root == "/" ? 1 : root.size() + 1);
}

// The work tree root holding `dir` (a realpath), or "" if there is none.
std::string FindWorkTree(const std::string& dir) {
  std::string d = dir;
  while (true) {
    struct stat st {};
    const std::string marker = Join(d, ".git");
    if (stat(marker.c_str(), &st) == 0 && (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode))) break;
    if (d == "/") return std::string();
    const size_t slash = d.rfind('/');
    d = slash == 0 ? "/" : d.substr(0, slash);
  }
  // Inside the repository's own .git directory is not part of the work tree.
  const std::string rel = "/" + RelativeTo(d, dir) + "/";
  return rel.find("/.git/") == std::string::npos ? d : std::string();
}

// git trims the CR of CRLF files and unescaped trailing spaces.
std::string_view TrimPattern(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  while (!line.empty() && line.back() == ' ' &&
         !(line.size() >= 2 && line[line.size() - 2] == '\\'))
    line.remove_suffix(1);
  return line;
}

// One .gitignore line against <rel_dir>/<entry>, rel_dir being the target directory
// relative to that .gitignore's directory.
Verdict Evaluate(std::string_view line, const std::string& rel_dir, const std::string& entry) {
  std::string_view p = TrimPattern(line);
  if (p.empty() || p[0] == '#') return Verdict::kNone;
  const bool negate = p[0] == '!';
  if (negate) p.remove_prefix(1);
  const Verdict hit = negate ? Verdict::kUnignore : Verdict::kIgnore;
  // Anything we cannot evaluate exactly errs towards "not ignored" (see the header).
  const Verdict unsure = negate ? Verdict::kUnignore : Verdict::kNone;
  if (p.empty() || p.back() == '/') return Verdict::kNone;  // directories only
  if (p.starts_with("**/")) p.remove_prefix(3);
  if (p.find("**") != std::string_view::npos) return unsure;
  std::string pattern(p);
  if (pattern.find('/') == std::string::npos)
    return fnmatch(pattern.c_str(), entry.c_str(), 0) == 0 ? hit : Verdict::kNone;
  if (pattern[0] == '/') pattern.erase(0, 1);
  const std::string path = rel_dir.empty() ? entry : rel_dir + "/" + entry;
  return fnmatch(pattern.c_str(), path.c_str(), FNM_PATHNAME) == 0 ? hit : Verdict::kNone;
}

Verdict ApplyFile(std::string_view text, const std::string& rel_dir, const std::string& entry,
                  Verdict v) {
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    const Verdict line_v = Evaluate(text.substr(0, nl), rel_dir, entry);
    if (line_v != Verdict::kNone) v = line_v;  // the last matching line wins
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
  }
  return v;
}

Result<GitignoreFile> ReadGitignore(int dirfd) {
  GitignoreFile f;
  struct stat st {};
  KC_ASSIGN_OR_RETURN(UniqueFd fd, OpenRegularNoFollow(dirfd, kGitignoreName, &st));
  if (!fd.valid()) return f;
  KC_ASSIGN_OR_RETURN(SecureBuffer text,
                      ReadAllSecret(fd.get(), static_cast<size_t>(st.st_size), kMaxGitignoreBytes));
  f.exists = true;
  f.mode = st.st_mode & 0777;
  f.text.assign(AsChars(text.view().bytes()));
  return f;
}

// The verdict of the .gitignore files from the work tree root down to, not
// including, `dir`. git does not follow a symlinked .gitignore: neither do we.
Result<Verdict> EvaluateAncestors(const std::string& root, const std::string& dir,
                                  const std::string& entry) {
  Verdict v = Verdict::kNone;
  std::string ancestor = root;
  while (ancestor != dir) {
    KC_ASSIGN_OR_RETURN(UniqueFd fd, OpenDirectory(ancestor));
    auto file = ReadGitignore(fd.get());
    if (!file.ok() && file.status().code() != Err::kInvalidArgument) return file.status();
    if (file.ok()) v = ApplyFile(file->text, RelativeTo(ancestor, dir), entry, v);
    const std::string rel = RelativeTo(ancestor, dir);
    ancestor = Join(ancestor, rel.substr(0, rel.find('/')));
  }
  return v;
}

Status AppendEntry(int dirfd, const GitignoreFile& old, std::string_view entry) {
  // Follow the file's own line ending style so a CRLF file stays uniform.
  const std::string_view eol = old.text.find("\r\n") != std::string::npos ? "\r\n" : "\n";
  std::string text = old.text;
  if (!text.empty() && text.back() != '\n') text += eol;
  text += entry;
  text += eol;
  KC_ASSIGN_OR_RETURN(TempFile tmp, TempFile::Create(dirfd, kGitignoreName,
                                                     old.exists ? old.mode : kGitignoreMode));
  KC_RETURN_IF_ERROR(WriteAll(tmp.fd(), AsBytes(text)));
  return tmp.Commit();
}

}  // namespace

Result<bool> EnsureGitignored(const std::string& dir, std::string_view entry) {
  if (!ValidEntry(entry))
    return Status(Err::kInvalidArgument, "gitignore: entry is not a file name");
  KC_ASSIGN_OR_RETURN(const std::string real, RealDir(dir));
  const std::string root = FindWorkTree(real);
  if (root.empty()) return false;
  const std::string name(entry);
  KC_ASSIGN_OR_RETURN(UniqueFd dirfd, OpenDirectory(real));
  LockDirectory(dirfd.get());
  KC_ASSIGN_OR_RETURN(const Verdict inherited, EvaluateAncestors(root, real, name));
  // Errors here are real: we are about to replace this file.
  KC_ASSIGN_OR_RETURN(GitignoreFile own, ReadGitignore(dirfd.get()));
  // An explicit `!.env` is overridden too: a .env written by keycell holds secrets.
  if (ApplyFile(own.text, std::string(), name, inherited) == Verdict::kIgnore) return false;
  KC_RETURN_IF_ERROR(AppendEntry(dirfd.get(), own, entry));
  return true;
}

}  // namespace keycell::broker::envfile

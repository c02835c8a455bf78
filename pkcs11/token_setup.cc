#include "pkcs11/token_setup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/unique_fd.h"
#include "pkcs11/rv_string.h"
#include "pkcs11/session.h"

namespace keycell::pkcs11 {
namespace {

// SoftHSM's config reader cuts lines at '#', '\n', '\r', splits on '=', trims blanks and
// reads at most 1023 bytes per line. A path that trips any of these would silently
// point the token directory somewhere else.
constexpr size_t kMaxConfigDirBytes = 900;

bool IsConfigSafePath(const std::string& dir) {
  if (dir.empty() || dir.front() != '/' || dir.size() > kMaxConfigDirBytes) return false;
  if (dir.find_first_of("#=\n\r") != std::string::npos) return false;
  return dir.back() != ' ' && dir.back() != '\t';
}

Status MakeDir0700(const std::string& path) {
  if (mkdir(path.c_str(), 0700) == 0) return Status::Ok();
  if (errno != EEXIST) return Status(Err::kUpstreamIo, "mkdir", errno);
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return Status(Err::kUpstreamIo, "lstat", errno);
  if (!S_ISDIR(st.st_mode)) return Status(Err::kUpstreamIo, "not a directory", ENOTDIR);
  return Status::Ok();
}

Status WriteAll(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status(Err::kUpstreamIo, "write softhsm2.conf", n < 0 ? errno : EIO);
    text.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

// The existing KEK must still be what GenerateKek makes: a sensitive, never-extractable
// key. Anything else (e.g. a key imported in the clear) could already be known outside.
Status CheckKekAttributes(const Session& session, ObjectHandle kek) {
  KC_ASSIGN_OR_RETURN(const bool sensitive, session.GetBoolAttribute(kek, CKA_SENSITIVE));
  KC_ASSIGN_OR_RETURN(const bool extractable, session.GetBoolAttribute(kek, CKA_EXTRACTABLE));
  if (!sensitive || extractable) {
    return Status(Err::kPolicyDenied, "EnsureKek: existing KEK is extractable or not sensitive");
  }
  return Status::Ok();
}

}  // namespace

Status InitSoftToken(const Module& module, std::string_view token_label, SecretView so_pin,
                     SecretView user_pin) {
  Result<CK_SLOT_ID> existing = module.FindSlotByTokenLabel(token_label);
  if (existing.ok()) return Status(Err::kInvalidArgument, "InitSoftToken: token label in use");
  if (existing.status().code() != Err::kToken ||
      existing.status().detail() != static_cast<int32_t>(CKR_TOKEN_NOT_PRESENT)) {
    return existing.status();
  }
  KC_ASSIGN_OR_RETURN(const CK_SLOT_ID free_slot, module.FindUninitializedSlot());
  KC_RETURN_IF_ERROR(module.InitToken(free_slot, so_pin, token_label));
  // SoftHSM keeps the slot id until the next C_Initialize, then renumbers it from the
  // token serial. Look it up by label rather than assume either.
  KC_ASSIGN_OR_RETURN(const CK_SLOT_ID slot, module.FindSlotByTokenLabel(token_label));
  KC_ASSIGN_OR_RETURN(Session session, Session::Open(module, slot, /*read_write=*/true));
  KC_RETURN_IF_ERROR(session.LoginSo(so_pin));
  KC_RETURN_IF_ERROR(session.InitPin(user_pin));
  return session.Logout();
}

Status EnsureKek(const Module& module, std::string_view token_label, SecretView user_pin,
                 bool* created) {
  if (created != nullptr) *created = false;
  KC_ASSIGN_OR_RETURN(const CK_SLOT_ID slot, module.FindSlotByTokenLabel(token_label));
  KC_ASSIGN_OR_RETURN(Session session, Session::Open(module, slot, /*read_write=*/true));
  KC_RETURN_IF_ERROR(session.Login(user_pin));
  Result<ObjectHandle> kek = session.FindSecretKey(kKekLabel);
  if (kek.ok()) return CheckKekAttributes(session, *kek);
  if (kek.status().code() != Err::kUnknownKey) return kek.status();
  KC_RETURN_IF_ERROR(session.GenerateKek(kKekLabel).status());
  if (created != nullptr) *created = true;
  return Status::Ok();
}

Status WriteSoftHsmConfig(const std::string& dir) {
  if (!IsConfigSafePath(dir)) {
    return Status(Err::kInvalidArgument, "SoftHSM config dir must be absolute, without #=\\n");
  }
  KC_RETURN_IF_ERROR(MakeDir0700(dir));
  const std::string tokens = dir + "/tokens";
  KC_RETURN_IF_ERROR(MakeDir0700(tokens));
  const std::string conf = dir + "/softhsm2.conf";
  // O_NOFOLLOW: a planted symlink must not redirect the write.
  UniqueFd fd(open(conf.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return Status(Err::kUpstreamIo, "open softhsm2.conf", errno);
  if (fchmod(fd.get(), 0600) != 0) return Status(Err::kUpstreamIo, "fchmod softhsm2.conf", errno);
  const std::string text = "directories.tokendir = " + tokens + "\n" +
                           "objectstore.backend = file\n"
                           "log.level = ERROR\n"
                           "slots.removable = false\n"
                           "slots.mechanisms = ALL\n"
                           "library.reset_on_fork = false\n";
  KC_RETURN_IF_ERROR(WriteAll(fd.get(), text));
  if (fsync(fd.get()) != 0) return Status(Err::kUpstreamIo, "fsync softhsm2.conf", errno);
  if (close(fd.release()) != 0) return Status(Err::kUpstreamIo, "close softhsm2.conf", errno);
  return Status::Ok();
}

}  // namespace keycell::pkcs11

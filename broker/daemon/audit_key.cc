#include "broker/daemon/audit_key.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/daemon/vault.h"
#include "broker/store/private_files.h"

namespace keycell::broker::daemon {
namespace {

constexpr size_t kAuditKeyBytes = 32;
constexpr size_t kMaxSealedKeyBytes = 4096;
constexpr char kRecordId[] = "audit-key";
constexpr char kRecordName[] = "keycell/audit-key";

keycell_ipc_RecordRef KeyRef() { return RefOf(kRecordId, 1, kRecordName); }

// Nothing may be done with the key but HMAC: no host, no reveal, no .env export.
keycell_ipc_Policy KeyPolicy() {
  keycell_ipc_Policy p = keycell_ipc_Policy_init_zero;
  p.has_injection = true;
  return p;
}

Status WriteFileDurably(const std::string& path, const std::vector<uint8_t>& data) {
  std::string tmp;
  KC_ASSIGN_OR_RETURN(UniqueFd fd, store::CreatePrivateTemp(path, &tmp));
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(fd.get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = errno;
      unlink(tmp.c_str());
      return Status(Err::kUpstreamIo, "audit key: write", e);
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd.get()) != 0 || rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    unlink(tmp.c_str());
    return Status(Err::kUpstreamIo, "audit key: commit", e);
  }
  return store::FsyncParentDir(path);
}

}  // namespace

AuditKey::AuditKey(const std::string& data_dir) : path_(data_dir + "/audit-key.sealed") {}

Status AuditKey::LoadLocked() {
  if (!blob_.empty()) return Status::Ok();
  UniqueFd fd(open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return Status(errno == ENOENT ? Err::kUnavailable : Err::kUpstreamIo, "audit key: open", errno);
  std::vector<uint8_t> data(kMaxSealedKeyBytes + 1);
  size_t got = 0;
  for (;;) {
    const ssize_t n = read(fd.get(), data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status(Err::kUpstreamIo, "audit key: read", errno);
    if (n == 0) break;
    got += static_cast<size_t>(n);
    if (got > kMaxSealedKeyBytes) return Status(Err::kTampered, "audit key: file too large");
  }
  if (got == 0) return Status(Err::kTampered, "audit key: empty file");
  data.resize(got);
  blob_ = std::move(data);
  return Status::Ok();
}

Status AuditKey::Ensure(EnclaveClient& enclave) {
  std::lock_guard<std::mutex> lock(mu_);
  Status st = LoadLocked();
  if (st.code() != Err::kUnavailable) return st;
  KC_ASSIGN_OR_RETURN(Sealed sealed, enclave.Generate(KeyRef(), KeyPolicy(), kAuditKeyBytes, ""));
  KC_RETURN_IF_ERROR(WriteFileDurably(path_, sealed.blob));
  blob_ = std::move(sealed.blob);
  return Status::Ok();
}

Result<audit::Hash> AuditKey::Mac(EnclaveClient& enclave, ByteView message) {
  std::vector<uint8_t> blob;
  {
    std::lock_guard<std::mutex> lock(mu_);
    KC_RETURN_IF_ERROR(LoadLocked());
    blob = blob_;
  }
  return enclave.Hmac(KeyRef(), blob, message);
}

bool AuditKey::loaded() {
  std::lock_guard<std::mutex> lock(mu_);
  return LoadLocked().ok();
}

}  // namespace keycell::broker::daemon

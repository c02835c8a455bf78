#include "broker/store/types.h"

#include <sys/random.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace keycell::broker::store {
namespace {

bool HasControlChar(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

bool IsTagChar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::strchr("._:/@+-", c) != nullptr;
}

Status CheckText(std::string_view s, size_t max, const char* too_large) {
  if (s.size() > max) return Status(Err::kTooLarge, too_large, static_cast<int32_t>(s.size()));
  return Status::Ok();
}

Status ValidateTags(const std::vector<std::string>& tags) {
  if (tags.size() > kMaxTagsPerCredential) return Status(Err::kTooLarge, "store: too many tags");
  for (const std::string& t : tags) KC_RETURN_IF_ERROR(ValidateTag(t));
  return Status::Ok();
}

}  // namespace

bool IsNameExists(const Status& s) {
  return s.code() == Err::kInvalidArgument && std::strcmp(s.where(), kNameExists) == 0;
}

bool IsConflict(const Status& s) {
  return s.code() == Err::kUnavailable && std::strcmp(s.where(), kConflict) == 0;
}

Result<std::string> NewRecordId() {
  uint8_t raw[kRecordIdHexChars / 2];
  size_t got = 0;
  while (got < sizeof(raw)) {
    const ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status(Err::kInternal, "getrandom", errno);
    got += static_cast<size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  id.reserve(kRecordIdHexChars);
  for (uint8_t b : raw) {
    id.push_back(kHex[b >> 4]);
    id.push_back(kHex[b & 0xf]);
  }
  return id;
}

Status ValidateName(std::string_view name) {
  if (name.empty()) return Status(Err::kInvalidArgument, "store: empty name");
  KC_RETURN_IF_ERROR(CheckText(name, kMaxNameBytes, "store: name too long"));
  // Control characters would corrupt one-line logs and listings (and 0x1f is the
  // separator of the list queries).
  if (HasControlChar(name))
    return Status(Err::kInvalidArgument, "store: control character in name");
  return Status::Ok();
}

Status ValidateRecordId(std::string_view record_id) {
  if (record_id.size() != kRecordIdHexChars) {
    return Status(Err::kInvalidArgument, "store: record id is not 32 hex chars");
  }
  for (char c : record_id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return Status(Err::kInvalidArgument, "store: record id is not 32 hex chars");
    }
  }
  return Status::Ok();
}

Status ValidateTag(std::string_view tag) {
  if (tag.empty()) return Status(Err::kInvalidArgument, "store: empty tag");
  KC_RETURN_IF_ERROR(CheckText(tag, kMaxTagBytes, "store: tag too long"));
  for (unsigned char c : tag) {
    if (!IsTagChar(c)) return Status(Err::kInvalidArgument, "store: bad character in tag");
  }
  return Status::Ok();
}

Status ValidateMeta(const CredentialMeta& meta) {
  KC_RETURN_IF_ERROR(ValidateName(meta.name));
  KC_RETURN_IF_ERROR(CheckText(meta.provider, kMaxProviderBytes, "store: provider too long"));
  KC_RETURN_IF_ERROR(CheckText(meta.env, kMaxEnvBytes, "store: env too long"));
  KC_RETURN_IF_ERROR(CheckText(meta.notes, kMaxNotesBytes, "store: notes too long"));
  if (HasControlChar(meta.provider) || HasControlChar(meta.env)) {
    return Status(Err::kInvalidArgument, "store: control character in provider or env");
  }
  return ValidateTags(meta.tags);
}

Status ValidateVersionWrite(const VersionWrite& write) {
  if (write.version == 0) return Status(Err::kInvalidArgument, "store: version 0");
  if (write.sealed.empty()) return Status(Err::kInvalidArgument, "store: empty sealed blob");
  if (write.sealed.size() > kMaxSealedBytes) {
    return Status(Err::kTooLarge, "store: sealed blob too large",
                  static_cast<int32_t>(write.sealed.size()));
  }
  KC_RETURN_IF_ERROR(
      CheckText(write.fingerprint, kMaxFingerprintBytes, "store: fingerprint too long"));
  if (HasControlChar(write.fingerprint)) {
    return Status(Err::kInvalidArgument, "store: control character in fingerprint");
  }
  // Whether policy_json is valid JSON is checked by the table's json_valid() CHECK.
  return CheckText(write.policy_json, kMaxPolicyJsonBytes, "store: policy json too long");
}

Result<std::string> NormalizeProjectPath(std::string_view path) {
  if (path.empty() || path.front() != '/') {
    return Status(Err::kInvalidArgument, "store: project path not absolute");
  }
  if (path.size() > kMaxProjectPathBytes)
    return Status(Err::kTooLarge, "store: project path too long");
  if (HasControlChar(path)) {
    return Status(Err::kInvalidArgument, "store: control character in project path");
  }
  std::string norm = std::filesystem::path(path).lexically_normal().string();
  // lexically_normal keeps a trailing separator ("/a/b/" -> "/a/b/"); "/" stays "/".
  while (norm.size() > 1 && norm.back() == '/') norm.pop_back();
  return norm;
}

}  // namespace keycell::broker::store

#pragma once
// Value types of the credential store, its limits, and the validators the store applies
// to everything it writes. Nothing here is secret: sealed blobs are ciphertext bound to
// (record_id, version, name) by the enclave (docs/sealed-format.md).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"

namespace keycell::broker::store {

// Limits, enforced on every write (and as CHECK constraints on the tables, so an imported
// backup is held to them too). Names and record ids match enclave.options.
inline constexpr size_t kMaxNameBytes = 128;
inline constexpr size_t kRecordIdHexChars = 32;  // 128 random bits
inline constexpr size_t kMaxProviderBytes = 64;
inline constexpr size_t kMaxEnvBytes = 64;
inline constexpr size_t kMaxNotesBytes = 4096;
inline constexpr size_t kMaxTagBytes = 64;
inline constexpr size_t kMaxTagsPerCredential = 32;
inline constexpr size_t kMaxFingerprintBytes = 64;
inline constexpr size_t kMaxPolicyJsonBytes = 32 * 1024;
inline constexpr size_t kMaxSealedBytes = 128 * 1024;  // a v1 record is at most ~78 KiB
inline constexpr size_t kMaxProjectPathBytes = 4096;   // PATH_MAX

// Status::where() values with a meaning, as above. Compare with std::string_view(...)
// or IsNameExists()/IsConflict(); the pointers themselves are literals and may differ.
inline constexpr const char* kNameExists = "store: name exists";
inline constexpr const char* kConflict = "store: concurrent update, retry";
inline constexpr const char* kNoSuchCredential = "store: no such credential";
inline constexpr const char* kNoSuchVersion = "store: no such version";
inline constexpr const char* kNotAssigned = "store: not assigned";
inline constexpr const char* kNoSuchProject = "store: no such project";
inline constexpr const char* kSchemaTooNew = "store: database written by a newer keycell";
inline constexpr const char* kImportConflict = "store: import conflicts with stored records";

bool IsNameExists(const Status& s);
bool IsConflict(const Status& s);

// Descriptive metadata of a credential; everything the CLI's `add` flags set.
struct CredentialMeta {
  std::string name;      // 1..kMaxNameBytes, no control characters
  std::string provider;  // "" = none
  std::string env;       // "" = none
  std::string notes;
  std::vector<std::string> tags;      // see ValidateTag; stored sorted, duplicates dropped
  std::optional<int64_t> expires_at;  // unix seconds
};

// One sealed version to store. The enclave sealed `sealed` for exactly
// (record_id, version, name); the store keeps that binding intact.
struct VersionWrite {
  uint32_t version = 1;          // 1 for a new credential; else Credential::latest_version + 1
  ByteView sealed;               // 1..kMaxSealedBytes; copied by the store
  std::string_view fingerprint;  // enclave HMAC (hex); safe to show
  std::string_view policy_json;  // informational copy of the sealed policy; "" or valid JSON
  int64_t now = 0;               // unix seconds: the version's created_at
};

struct Credential {
  int64_t id = 0;         // local row id; differs between stores, never exported
  std::string record_id;  // 32 lower-case hex chars; stable across backups
  std::string name;
  std::string provider;
  std::string env;
  std::string notes;
  std::vector<std::string> tags;  // sorted
  int64_t created_at = 0;
  std::optional<int64_t> rotated_at;  // nullopt = never rotated
  std::optional<int64_t> expires_at;
  uint32_t current_version = 0;       // the version in use (rollback can lower it)
  uint32_t latest_version = 0;        // the highest stored version
  std::string policy_json;            // of the current version ("" if none was given)
  std::vector<std::string> projects;  // assigned project paths, sorted
};

// Filters for ListCredentials; an unset field matches everything, set fields combine
// with AND. Matching is exact (project paths are normalised first).
struct CredentialFilter {
  std::optional<std::string> env;
  std::optional<std::string> provider;
  std::optional<std::string> project;
  std::optional<std::string> tag;
};

// Partial metadata update: only the fields that are set change.
struct MetadataUpdate {
  std::optional<std::string> provider;
  std::optional<std::string> env;
  std::optional<std::string> notes;
  std::optional<std::vector<std::string>> tags;  // replaces the whole set
  std::optional<int64_t> expires_at;
  bool clear_expires_at = false;  // wins over expires_at
};

struct VersionInfo {
  uint32_t version = 0;
  int64_t created_at = 0;
  std::string fingerprint;
  size_t sealed_bytes = 0;
  bool current = false;
};

// What the enclave needs to unseal one version: the blob and what it is bound to.
struct SealedVersion {
  std::string record_id;
  std::string name;
  uint32_t version = 0;
  int64_t created_at = 0;
  std::string fingerprint;
  std::string policy_json;
  std::vector<uint8_t> sealed;
};

struct Project {
  int64_t id = 0;
  std::string path;                      // absolute, normalised
  std::vector<std::string> credentials;  // assigned credential names, sorted
};

struct ImportReport {
  uint32_t credentials_added = 0;
  uint32_t credentials_updated = 0;  // already stored; gained versions they lacked
  uint32_t versions_added = 0;       // including the versions of added credentials
  uint32_t unchanged = 0;            // already stored with all their versions
};

// A fresh record id: 32 lower-case hex characters from getrandom(2).
// Errors: kInternal ("getrandom") if the kernel has no entropy source. Never blocks
// after early boot.
Result<std::string> NewRecordId();

// Validators (each returns kInvalidArgument or kTooLarge with a "store: ..." where).
Status ValidateName(std::string_view name);
Status ValidateRecordId(std::string_view record_id);
// Tags: 1..kMaxTagBytes of [A-Za-z0-9._:/@+-], so they are safe in shells and lists.
Status ValidateTag(std::string_view tag);
Status ValidateMeta(const CredentialMeta& meta);
Status ValidateVersionWrite(const VersionWrite& write);

// Lexical normalisation of a project path: must be absolute; "." and ".." segments and
// repeated or trailing slashes are resolved without touching the file system (symlinks
// are the caller's business). Errors: kInvalidArgument ("store: project path not
// absolute", "store: control character in project path"), kTooLarge.
Result<std::string> NormalizeProjectPath(std::string_view path);

}  // namespace keycell::broker::store

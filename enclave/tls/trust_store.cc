#include "enclave/tls/trust_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "common/unique_fd.h"

namespace keycell::enclave::tls {
namespace {

// The `where` literals for one source, so an operator's message names the file at fault.
struct SourceWords {
  const char* unreadable;
  const char* too_large;
  const char* empty;
  const char* unparseable;
  bool tolerate_partial;  // a system bundle may hold roots mbedTLS 2.28 cannot parse
};

constexpr SourceWords kSystemWords = {
    "tls: cannot read system CA bundle", "tls: system CA bundle too large",
    "tls: system CA bundle is empty", "tls: system CA bundle has no parseable certificate", true};
constexpr SourceWords kExtraWords = {
    "tls: cannot read tls.extra_ca_file", "tls: tls.extra_ca_file too large",
    "tls: tls.extra_ca_file is empty", "tls: tls.extra_ca_file has an unparseable certificate",
    false};

// The whole file plus a terminating NUL (mbedtls_x509_crt_parse wants one for PEM).
// Our own read rather than mbedtls_x509_crt_parse_file, for distinct errors and a size cap.
Result<std::vector<unsigned char>> ReadCaFile(const std::string& path, const SourceWords& words) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) return Status(Err::kInvalidArgument, words.unreadable, errno);
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return Status(Err::kInvalidArgument, words.unreadable, errno);
  if (!S_ISREG(st.st_mode)) return Status(Err::kInvalidArgument, words.unreadable, EINVAL);
  if (static_cast<uint64_t>(st.st_size) > kMaxCaFileBytes)
    return Status(Err::kTooLarge, words.too_large);
  std::vector<unsigned char> data;
  data.reserve(static_cast<size_t>(st.st_size) + 1);
  unsigned char chunk[16384];
  while (true) {
    const ssize_t n = read(fd.get(), chunk, sizeof(chunk));
    if (n == 0) break;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status(Err::kInvalidArgument, words.unreadable, errno);
    if (data.size() + static_cast<size_t>(n) > kMaxCaFileBytes)
      return Status(Err::kTooLarge, words.too_large);  // grew while we read it
    data.insert(data.end(), chunk, chunk + n);
  }
  if (data.empty()) return Status(Err::kInvalidArgument, words.empty);
  data.push_back('\0');
  return data;
}

// Appends the file's certificates to `chain`; returns how many were added.
Result<size_t> AppendCaFile(mbedtls_x509_crt* chain, size_t count_before, const std::string& path,
                            const SourceWords& words) {
  KC_ASSIGN_OR_RETURN(std::vector<unsigned char> data, ReadCaFile(path, words));
  // > 0: that many PEM certificates failed while others parsed; < 0: nothing usable
  // (or a DER file that failed).
  const int rc = mbedtls_x509_crt_parse(chain, data.data(), data.size());
  size_t count = 0;
  for (const mbedtls_x509_crt* c = chain; c != nullptr && c->raw.len != 0; c = c->next) ++count;
  const size_t added = count - count_before;
  if (rc < 0 || added == 0)
    return Status(Err::kInvalidArgument, words.unparseable, rc < 0 ? rc : 0);
  if (rc > 0 && !words.tolerate_partial)
    return Status(Err::kInvalidArgument, words.unparseable, rc);
  return added;
}

}  // namespace

Result<std::unique_ptr<TrustStore>> TrustStore::Load(const TrustStoreOptions& options) {
  if (options.system_bundle.empty() && options.extra_ca_file.empty())
    return Status(Err::kInvalidArgument, "tls: no CA certificates configured");
  std::unique_ptr<TrustStore> store(new TrustStore());
  if (!options.system_bundle.empty()) {
    KC_ASSIGN_OR_RETURN(const size_t added, AppendCaFile(store->chain_.get(), store->count_,
                                                         options.system_bundle, kSystemWords));
    store->count_ += added;
  }
  if (!options.extra_ca_file.empty()) {
    KC_ASSIGN_OR_RETURN(const size_t added, AppendCaFile(store->chain_.get(), store->count_,
                                                         options.extra_ca_file, kExtraWords));
    store->count_ += added;
  }
  return store;
}

}  // namespace keycell::enclave::tls

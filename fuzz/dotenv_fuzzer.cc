// libFuzzer harness for kc_envfile's untrusted-input parsers: ParseDotenv (`keycell
// import` reads any file a user points it at), ParseNulRecords (the `keycell run` pipe)
// and KeepUnmanagedLines (the `.env` merge keeps other people's lines). Links only
// kc_envfile + kc_common. Properties checked, aborting on violation:
//   - ParseDotenv: every entry has a valid name and a UTF-8 value of at most 64 KiB;
//     re-quoting each value with the enclave's rules (enclave/env_line.cc, re-stated
//     here so the broker never links enclave code) and parsing again gives it back;
//   - ParseNulRecords: an accepted stream re-serializes to exactly the input;
//   - KeepUnmanagedLines: with no names it returns the input (plus a final '\n' if
//     one was missing); it is idempotent; and when the input parses, the kept part
//     parses to exactly the unmanaged entries with the same values.

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <string>
#include <vector>

#include "broker/envfile/dotenv_parser.h"
#include "broker/envfile/env_file_merge.h"

namespace keycell::broker::envfile {
namespace {

void Require(bool cond) {
  if (!cond) abort();
}

bool SameBytes(SecretView a, SecretView b) {
  return a.size() == b.size() && (a.empty() || memcmp(a.data(), b.data(), a.size()) == 0);
}

// FormatEnvLine's three quoting styles (docs/env-files.md).
std::string QuoteLikeEnclave(const EnvEntry& e) {
  const std::string_view v = AsChars(e.value.view().bytes());
  const bool single = v.find('\'') != v.npos, dbl = v.find('"') != v.npos;
  const bool bs = v.find('\\') != v.npos, cr = v.find('\r') != v.npos,
             dollar = v.find('$') != v.npos;
  if (!single && !bs && !cr) return e.name + "='" + std::string(v) + "'\n";
  if (!dbl && !bs && !cr && !dollar) return e.name + "=\"" + std::string(v) + "\"\n";
  std::string out = e.name + "=\"";
  for (char c : v) {
    if (c == '\\' || c == '"')
      out += {'\\', c};
    else if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else
      out += c;
  }
  return out + "\"\n";
}

void CheckDotenv(ByteView in) {
  auto parsed = ParseDotenv(in);
  if (!parsed.ok()) return;
  for (const EnvEntry& e : *parsed) {
    Require(IsEnvName(e.name) && e.value.size() <= kMaxEnvValueBytes);
    const std::string line = QuoteLikeEnclave(e);  // test-only copy of fuzz data, not a real secret
    auto again = ParseDotenv(AsBytes(line));
    Require(again.ok() && again->size() == 1);
    Require((*again)[0].name == e.name && SameBytes((*again)[0].value.view(), e.value.view()));
  }
}

void CheckNulRecords(ByteView in) {
  auto parsed = ParseNulRecords(in);
  if (!parsed.ok()) return;
  std::string out;
  for (const EnvEntry& e : *parsed) {
    out += e.name;
    out += '\0';
    out += AsChars(e.value.view().bytes());
    out += '\0';
  }
  Require(out == AsChars(in));
}

// Names to remove: a fixed pair plus every other entry name the input itself has.
std::vector<std::string> PickNames(ByteView in) {
  std::vector<std::string> names = {"A", "KEY"};
  auto parsed = ParseDotenv(in);
  if (!parsed.ok()) return names;
  for (size_t i = 0; i < parsed->size(); i += 2) names.push_back((*parsed)[i].name);
  return names;
}

void CheckKeptPart(ByteView in) {
  auto all = KeepUnmanagedLines(in, {});
  if (!all.ok()) return;
  const std::string_view kept_all = AsChars(all->view().bytes());
  const bool add_nl = !in.empty() && in.back() != '\n' && in.back() != '\r';
  Require(kept_all == std::string(AsChars(in)) + (add_nl ? "\n" : ""));

  const std::vector<std::string> names = PickNames(in);
  auto kept = KeepUnmanagedLines(in, names);
  Require(kept.ok());
  auto twice = KeepUnmanagedLines(kept->view().bytes(), names);
  Require(twice.ok() && SameBytes(twice->view(), kept->view()));

  auto before = ParseDotenv(in);
  if (!before.ok()) return;
  auto after = ParseDotenv(kept->view().bytes());
  Require(after.ok());
  size_t j = 0;
  for (const EnvEntry& e : *before) {
    bool managed = false;
    for (const std::string& n : names) managed = managed || n == e.name;
    if (managed) continue;
    Require(j < after->size() && (*after)[j].name == e.name);
    Require(SameBytes((*after)[j].value.view(), e.value.view()));
    ++j;
  }
  Require(j == after->size());
}

}  // namespace
}  // namespace keycell::broker::envfile

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace keycell::broker::envfile;  // NOLINT: harness entry point only
  const keycell::ByteView in(data, size);
  CheckDotenv(in);
  CheckNulRecords(in);
  CheckKeptPart(in);
  return 0;
}

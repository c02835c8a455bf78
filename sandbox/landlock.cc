#include "sandbox/landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <vector>

#include "common/unique_fd.h"

namespace keycell::sandbox {
namespace {

// Debian 12's <linux/landlock.h> (linux-libc-dev 6.1) knows only ABI <= 2 and a
// one-field ruleset attr, so the whole uapi subset we use is spelled out here, with
// our own names so a newer header cannot clash with it.
constexpr long kSysCreateRuleset = 444;
constexpr long kSysAddRule = 445;
constexpr long kSysRestrictSelf = 446;
#ifdef __NR_landlock_create_ruleset
static_assert(__NR_landlock_create_ruleset == kSysCreateRuleset);
static_assert(__NR_landlock_add_rule == kSysAddRule);
static_assert(__NR_landlock_restrict_self == kSysRestrictSelf);
#endif

constexpr uint32_t kCreateRulesetVersion = 1u << 0;
constexpr int kRulePathBeneath = 1;

constexpr uint64_t kFsExecute = 1ull << 0;
constexpr uint64_t kFsWriteFile = 1ull << 1;
constexpr uint64_t kFsReadFile = 1ull << 2;
constexpr uint64_t kFsReadDir = 1ull << 3;
constexpr uint64_t kFsRemoveFile = 1ull << 5;
constexpr uint64_t kFsMakeReg = 1ull << 8;
constexpr uint64_t kFsAbi1All = (1ull << 13) - 1;   // EXECUTE .. MAKE_SYM
constexpr uint64_t kFsRefer = 1ull << 13;           // ABI 2
constexpr uint64_t kFsTruncate = 1ull << 14;        // ABI 3
constexpr uint64_t kFsIoctlDev = 1ull << 15;        // ABI 5
constexpr uint64_t kNetBindTcp = 1ull << 0;         // ABI 4
constexpr uint64_t kNetConnectTcp = 1ull << 1;      // ABI 4
constexpr uint64_t kScopeAbstractUnix = 1ull << 0;  // ABI 6
constexpr uint64_t kScopeSignal = 1ull << 1;        // ABI 6

// struct landlock_ruleset_attr as of ABI 6. The kernel accepts a prefix of it, so the
// size passed follows the ABI: an older kernel rejects (E2BIG) fields it does not know.
struct RulesetAttr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};
static_assert(sizeof(RulesetAttr) == 24);

struct __attribute__((packed)) PathBeneathAttr {
  uint64_t allowed_access;
  int32_t parent_fd;
};
static_assert(sizeof(PathBeneathAttr) == 12);

uint64_t HandledFs(int abi) {
  uint64_t fs = kFsAbi1All;
  if (abi >= 2) fs |= kFsRefer;
  if (abi >= 3) fs |= kFsTruncate;
  if (abi >= 5) fs |= kFsIoctlDev;
  return fs;
}

size_t RulesetAttrSize(int abi) {
  if (abi >= 6) return 24;
  if (abi >= 4) return 16;
  return 8;
}

// Rights for one rule, masked to what this kernel handles (an unhandled right in a
// rule is EINVAL). File rules may only carry file rights, also EINVAL otherwise.
uint64_t AccessFor(const PathRule& rule, int abi) {
  uint64_t access = kFsReadFile;
  if (rule.is_dir) access |= kFsReadDir;
  if (rule.writable) access |= kFsWriteFile | kFsTruncate;
  // SoftHSM creates token.lock/<uuid>.lock (O_CREAT|O_TRUNC) and new object files;
  // REMOVE_FILE is for C_DestroyObject on token objects, which the enclave does not do
  // today (its seccomp policy does not admit unlink), so it is defence in depth only.
  if (rule.is_dir && rule.writable) access |= kFsMakeReg | kFsRemoveFile;
  return access & HandledFs(abi) & ~kFsExecute;
}

Result<UniqueFd> CreateRuleset(int abi) {
  RulesetAttr attr{};
  attr.handled_access_fs = HandledFs(abi);
  // Handled with no rule = denied: the enclave never binds or connects TCP itself;
  // upstream sockets arrive connected from the broker.
  if (abi >= 4) attr.handled_access_net = kNetBindTcp | kNetConnectTcp;
  if (abi >= 6) attr.scoped = kScopeAbstractUnix | kScopeSignal;
  const long fd = syscall(kSysCreateRuleset, &attr, RulesetAttrSize(abi), 0);
  if (fd < 0) return Status(Err::kInternal, "landlock_create_ruleset", errno);
  return UniqueFd(static_cast<int>(fd));
}

// Opens the rule's path before anything is enforced, so configuration mistakes show
// up as errors instead of as a half-applied sandbox.
Result<UniqueFd> OpenRulePath(const PathRule& rule) {
  const int flags = O_PATH | O_CLOEXEC | (rule.is_dir ? O_DIRECTORY : 0);
  UniqueFd fd(open(rule.path.c_str(), flags));
  if (!fd) return Status(Err::kInvalidArgument, "landlock rule path", errno);
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return Status(Err::kInvalidArgument, "landlock rule stat", errno);
  if (!rule.is_dir && !S_ISREG(st.st_mode)) {
    return Status(Err::kInvalidArgument, "landlock file rule is not a regular file", EINVAL);
  }
  return fd;
}

Status Enforce(const UniqueFd& ruleset) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return Status(Err::kInternal, "landlock: PR_SET_NO_NEW_PRIVS", errno);
  }
  if (syscall(kSysRestrictSelf, ruleset.get(), 0) != 0) {
    return Status(Err::kInternal, "landlock_restrict_self", errno);
  }
  return Status::Ok();
}

Status UnavailableStatus() { return Status(Err::kUnavailable, "landlock unavailable", ENOSYS); }

}  // namespace

int LandlockAbi() {
  const long abi = syscall(kSysCreateRuleset, nullptr, 0, kCreateRulesetVersion);
  return abi > 0 ? static_cast<int>(abi) : 0;  // ENOSYS / EOPNOTSUPP -> 0
}

Status RestrictFilesystem(std::span<const PathRule> rules) {
  const int abi = LandlockAbi();
  if (abi == 0) return UnavailableStatus();
  std::vector<UniqueFd> parents;
  parents.reserve(rules.size());
  for (const PathRule& rule : rules) {
    KC_ASSIGN_OR_RETURN(UniqueFd fd, OpenRulePath(rule));
    parents.push_back(std::move(fd));
  }
  KC_ASSIGN_OR_RETURN(UniqueFd ruleset, CreateRuleset(abi));
  for (size_t i = 0; i < rules.size(); ++i) {
    const PathBeneathAttr attr{AccessFor(rules[i], abi), parents[i].get()};
    if (syscall(kSysAddRule, ruleset.get(), kRulePathBeneath, &attr, 0) != 0) {
      return Status(Err::kInternal, "landlock_add_rule", errno);
    }
  }
  return Enforce(ruleset);
}

Status ForbidAllFilesystem() {
  const int abi = LandlockAbi();
  if (abi == 0) return UnavailableStatus();
  KC_ASSIGN_OR_RETURN(UniqueFd ruleset, CreateRuleset(abi));
  return Enforce(ruleset);
}

}  // namespace keycell::sandbox

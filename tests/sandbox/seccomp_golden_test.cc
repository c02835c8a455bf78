// The compiled filters pinned as golden PFC files, plus consistency checks on the rule
// tables. Nothing here loads a filter: the test runner stays unsandboxed.
//
// After a reviewed policy change, regenerate and review the diff:
//   KEYCELL_UPDATE_GOLDEN=1 ctest --test-dir <build> -R SeccompGolden
//   git diff tests/sandbox/testdata/
#include <gtest/gtest.h>
#include <seccomp.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "sandbox/seccomp_policy.h"

namespace keycell::sandbox {
namespace {

// Fixed so the export is reproducible: fd 3 as in the enclave's launch, any pid.
constexpr SeccompOptions kGoldenOptions{3, 4242};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// "line N: expected '...' got '...'" for the first differing line.
std::string FirstDifference(const std::string& want, const std::string& got) {
  std::istringstream a(want), b(got);
  std::string la, lb;
  for (int line = 1;; ++line) {
    const bool more_a = static_cast<bool>(std::getline(a, la));
    const bool more_b = static_cast<bool>(std::getline(b, lb));
    if (!more_a && !more_b) return "identical";
    if (!more_a || !more_b || la != lb) {
      return "line " + std::to_string(line) + ": golden '" + (more_a ? la : "<eof>") +
             "' vs now '" + (more_b ? lb : "<eof>") + "'";
    }
  }
}

void CheckGolden(Stage stage, const std::string& file) {
  if (SeccompDebugEnabled()) GTEST_SKIP() << "debug build traps instead of killing";
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "sanitizer builds add the sanitizer runtime's syscalls";
#endif
  auto pfc = ExportPfc(stage, kGoldenOptions);
  ASSERT_TRUE(pfc.ok()) << pfc.status().where();
  const std::string path = std::string(KC_SANDBOX_TESTDATA_DIR) + "/" + file;
  if (const char* update = std::getenv("KEYCELL_UPDATE_GOLDEN"); update && *update == '1') {
    std::ofstream(path) << *pfc;
    GTEST_SKIP() << "rewrote " << path;
  }
  const std::string golden = ReadFile(path);
  EXPECT_EQ(golden, *pfc) << "The " << file
                          << " seccomp policy changed: " << FirstDifference(golden, *pfc)
                          << "\nIf intended, regenerate with "
                          << "KEYCELL_UPDATE_GOLDEN=1 ctest --test-dir <build> -R SeccompGolden, "
                          << "review `git diff " << path << "` and update docs/sandbox.md.";
}

TEST(SeccompGolden, Locked) { CheckGolden(Stage::kLocked, "locked.pfc"); }
TEST(SeccompGolden, Serving) { CheckGolden(Stage::kServing, "serving.pfc"); }

std::string Name(int nr) {
  char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
  std::string out = name ? name : "?" + std::to_string(nr);
  free(name);
  return out;
}

std::set<std::string> AllowedNames(Stage stage) {
  std::set<std::string> names;
  for (const SyscallRule& r : AllowRules(stage)) names.insert(Name(r.nr));
  for (const ArgRule& r : ArgRules(stage)) names.insert(Name(r.nr));
  return names;
}

std::set<std::string> ErrnoNames(Stage stage) {
  std::set<std::string> names;
  for (const ErrnoRule& r : ErrnoRules(stage)) names.insert(Name(r.nr));
  return names;
}

TEST(SeccompTables, EveryRowHasAReason) {
  for (Stage stage : {Stage::kLocked, Stage::kServing}) {
    for (const SyscallRule& r : AllowRules(stage))
      EXPECT_GT(std::string(r.why).size(), 8u) << Name(r.nr);
    for (const ArgRule& r : ArgRules(stage)) EXPECT_GT(std::string(r.why).size(), 8u) << Name(r.nr);
    for (const ErrnoRule& r : ErrnoRules(stage))
      EXPECT_GT(std::string(r.why).size(), 8u) << Name(r.nr);
  }
}

TEST(SeccompTables, NoSyscallIsBothUnconditionalAndArgumentFiltered) {
  for (Stage stage : {Stage::kLocked, Stage::kServing}) {
    std::set<int> plain;
    for (const SyscallRule& r : AllowRules(stage))
      EXPECT_TRUE(plain.insert(r.nr).second) << Name(r.nr);
    for (const ArgRule& r : ArgRules(stage)) EXPECT_FALSE(plain.count(r.nr)) << Name(r.nr);
  }
}

// An errno row is the only verdict for its syscall: never also allowed, and once only.
TEST(SeccompTables, ErrnoRowsAreNeverAllowed) {
  for (Stage stage : {Stage::kLocked, Stage::kServing}) {
    const std::set<std::string> allowed = AllowedNames(stage);
    std::set<int> seen;
    for (const ErrnoRule& r : ErrnoRules(stage)) {
      EXPECT_TRUE(seen.insert(r.nr).second) << Name(r.nr);
      EXPECT_FALSE(allowed.count(Name(r.nr))) << Name(r.nr);
      EXPECT_GT(r.err, 0) << Name(r.nr);
    }
  }
}

// Both filters run, so an errno row must be in both stages to mean the same thing.
TEST(SeccompTables, ErrnoRowsAreTheSameInBothStages) {
  EXPECT_EQ(ErrnoNames(Stage::kLocked), ErrnoNames(Stage::kServing));
}

// clone creates threads only: one row per stage, exactly glibc's
// pthread_create flags in argument 0. Processes (fork, vfork, posix_spawn) stay killed.
TEST(SeccompTables, CloneOnlyWithPthreadFlags) {
  EXPECT_EQ(kPthreadCloneFlags, 0x3d0f00u);  // glibc 2.36 create_thread(), strace-measured
  for (Stage stage : {Stage::kLocked, Stage::kServing}) {
    int rows = 0;
    for (const SyscallRule& r : AllowRules(stage)) EXPECT_NE(Name(r.nr), "clone");
    for (const ArgRule& r : ArgRules(stage)) {
      if (Name(r.nr) != "clone") continue;
      ++rows;
      EXPECT_TRUE(r.checks[0].used && r.checks[0].arg == 0 && r.checks[0].cmp == Cmp::kEq &&
                  r.checks[0].datum == Datum::kLiteral && r.checks[0].value == kPthreadCloneFlags);
      EXPECT_FALSE(r.checks[1].used);
    }
    EXPECT_EQ(rows, 1);
    EXPECT_EQ(ErrnoNames(stage).count("clone3"), 1u);
  }
}

// The serving filter is stacked on the locked one, so a syscall the locked filter
// kills can never be reached: a serving-only syscall would be a dead (misleading) row.
TEST(SeccompTables, ServingIsASubsetOfLocked) {
  const std::set<std::string> locked = AllowedNames(Stage::kLocked);
  for (const std::string& name : AllowedNames(Stage::kServing))
    EXPECT_TRUE(locked.count(name)) << name;
}

// rt_sigaction only for glibc's internal SIGSETXID (33 = __SIGRTMIN + 1), which the
// first pthread_create installs; a handler for any other signal is killed.
TEST(SeccompTables, SigactionOnlyForGlibcSetxid) {
  for (Stage stage : {Stage::kLocked, Stage::kServing}) {
    int rows = 0;
    for (const SyscallRule& r : AllowRules(stage)) EXPECT_NE(Name(r.nr), "rt_sigaction");
    for (const ArgRule& r : ArgRules(stage)) {
      if (Name(r.nr) != "rt_sigaction") continue;
      ++rows;
      EXPECT_TRUE(r.checks[0].used && r.checks[0].arg == 0 && r.checks[0].cmp == Cmp::kEq &&
                  r.checks[0].datum == Datum::kLiteral && r.checks[0].value == 33u);
      EXPECT_FALSE(r.checks[1].used);
    }
    EXPECT_EQ(rows, 1);
  }
}

TEST(SeccompTables, DeniedClassesAppearInNoStage) {
  const char* const kNever[] = {"socket",
                                "socketpair",
                                "connect",
                                "bind",
                                "listen",
                                "accept",
                                "accept4",
                                "execve",
                                "execveat",
                                "ptrace",
                                "fork",
                                "vfork",
                                "clone3",  // answered ENOSYS (errno row), never allowed
                                "process_vm_readv",
                                "process_vm_writev",
                                "kill",
                                "tkill",
                                "mount",
                                "umount2",
                                "keyctl",
                                "add_key",
                                "request_key",
                                "bpf",
                                "userfaultfd",
                                "perf_event_open",
                                "io_uring_setup",
                                "io_uring_enter",
                                "io_uring_register",
                                "open",
                                "creat",
                                "openat2",
                                "memfd_create",
                                "pkey_mprotect",
                                "setuid",
                                "chmod",
                                "mkdir",
                                "rename",
                                "unlink",
                                "unlinkat",
                                "rmdir",
                                "renameat2",
                                "symlink",
                                "link",
                                "mknod",
                                "pidfd_open",
                                "pidfd_getfd",
                                "unshare",
                                "setns",
                                "init_module",
                                "finit_module",
                                "kexec_load",
                                "reboot",
                                "mlockall"};
  for (Stage stage : {Stage::kLocked, Stage::kServing}) {
    const std::set<std::string> allowed = AllowedNames(stage);
    for (const char* name : kNever) EXPECT_FALSE(allowed.count(name)) << name;
  }
}

TEST(SeccompTables, ServingHasNoFileOpeningSyscall) {
  const std::set<std::string> serving = AllowedNames(Stage::kServing);
  for (const char* name :
       {"openat", "getdents64", "ftruncate", "truncate", "landlock_create_ruleset",
        "landlock_restrict_self", "seccomp", "prctl"}) {
    EXPECT_FALSE(serving.count(name)) << name;
  }
}

// docs/sandbox.md lists every allowed or errno-answered syscall as `name`; keep it in
// step with the tables.
TEST(SeccompTables, DocumentedInSandboxMd) {
  const std::string doc = ReadFile(KC_SANDBOX_DOC);
  ASSERT_FALSE(doc.empty()) << KC_SANDBOX_DOC;
  for (Stage stage : {Stage::kLocked, Stage::kServing}) {
    std::set<std::string> names = AllowedNames(stage);
    names.merge(ErrnoNames(stage));
    for (const std::string& name : names) {
      EXPECT_NE(doc.find("`" + name + "`"), std::string::npos)
          << name << " missing from docs/sandbox.md";
    }
  }
}

}  // namespace
}  // namespace keycell::sandbox

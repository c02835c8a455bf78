// The `.env` merge: unrelated lines survive byte for byte, managed entries are replaced
// and appended, the file operation is atomic, symlink-safe and keeps modes tight.

#include "broker/envfile/env_file_merge.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "broker/envfile/dotenv_parser.h"
#include "tests/broker/envfile/test_util.h"
#include "tests/support/status_testing.h"

namespace keycell::broker::envfile {
namespace {

using namespace std::string_literals;
using test::ReadFile;
using test::WriteFile;

std::string Kept(const std::string& old_file, const std::vector<std::string>& names) {
  auto kept = KeepUnmanagedLines(AsBytes(old_file), names);
  EXPECT_TRUE(kept.ok()) << DescribeEnvfileError(kept.status());
  return kept.ok() ? std::string(AsChars(kept->view().bytes())) : "<error>";
}

// An unrelated multi-line value whose inner lines look like managed entries: cutting
// on lines instead of records would corrupt it.
const std::string kTricky =
    "\xEF\xBB\xBF# project settings\r\n"
    "\n"
    "  export DB_URL=\"postgres://u:p@h/db\"   # keep me\r\n"
    "OPENAI_API_KEY='old-openai'\n"
    "CERT=\"-----BEGIN-----\nOPENAI_API_KEY=not-a-line\n-----END-----\"\n"
    "\t# indented comment\n"
    "export STRIPE_KEY=old stripe # note\n"
    "my.setting=kept-too\n"
    "PEM='a\r\nSTRIPE_KEY=inside\r\nb'\n"
    "LAST=x";

TEST(EnvfileKeepUnmanagedLines, KeepsEverythingElseByteForByte) {
  EXPECT_EQ(Kept(kTricky, {"OPENAI_API_KEY", "STRIPE_KEY"}),
            "\xEF\xBB\xBF# project settings\r\n"
            "\n"
            "  export DB_URL=\"postgres://u:p@h/db\"   # keep me\r\n"
            "CERT=\"-----BEGIN-----\nOPENAI_API_KEY=not-a-line\n-----END-----\"\n"
            "\t# indented comment\n"
            "my.setting=kept-too\n"
            "PEM='a\r\nSTRIPE_KEY=inside\r\nb'\n"
            "LAST=x\n");
}

TEST(EnvfileKeepUnmanagedLines, NoNamesIsIdentityPlusFinalNewline) {
  EXPECT_EQ(Kept(kTricky, {}), kTricky + "\n");
  EXPECT_EQ(Kept("A=1\n", {}), "A=1\n");
  EXPECT_EQ(Kept("A=1\r", {}), "A=1\r");
  EXPECT_EQ(Kept("", {"A"}), "");
}

TEST(EnvfileKeepUnmanagedLines, RemovesEveryCopyAndMultiLineValues) {
  EXPECT_EQ(Kept("A=1\nB=2\nexport A='x\ny'\nC=3", {"A"}), "B=2\nC=3\n");
  EXPECT_EQ(Kept("B=2\nA=\"x\ny\"", {"A"}), "B=2\n");
  EXPECT_EQ(Kept("A=1\n", {"A"}), "");
  // Names match exactly: no prefixes, no case folding.
  EXPECT_EQ(Kept("AB=1\na=2\n", {"A"}), "AB=1\na=2\n");
}

TEST(EnvfileKeepUnmanagedLines, RefusesFilesWithUnclearRecords) {
  auto kept = KeepUnmanagedLines(AsBytes("A=1\nB=\"open\nC=2\n"s), std::vector<std::string>{"C"});
  ASSERT_FALSE(kept.ok());
  EXPECT_EQ(DescribeEnvfileError(kept.status()), "line 2: unterminated double quote");
  EXPECT_FALSE(KeepUnmanagedLines(AsBytes("garbage line\n"s), {}).ok());
}

// Writes `lines` into the temp file, as the enclave's WriteEnv would.
std::function<Status(int)> Writer(std::string lines) {
  return [lines](int fd) {
    return write(fd, lines.data(), lines.size()) == static_cast<ssize_t>(lines.size())
               ? Status::Ok()
               : Status(Err::kUpstreamIo, "test write", errno);
  };
}

TEST(EnvfileReplaceEnvFile, CreatesAMissingFile0600) {
  test::TempDir dir;
  const mode_t old_umask = umask(0);  // the mode must not depend on the umask
  KC_ASSERT_OK(ReplaceEnvFile(dir.path(), {"A"}, Writer("A='1'\n")));
  umask(old_umask);
  EXPECT_EQ(ReadFile(dir / ".env"), "A='1'\n");
  EXPECT_EQ(test::ModeOf(dir / ".env"), 0600u);
  EXPECT_EQ(test::ListDir(dir.path()), std::vector<std::string>{".env"});
}

TEST(EnvfileReplaceEnvFile, ReplacesManagedAndAppendsAfterKeptPart) {
  test::TempDir dir;
  WriteFile(dir / ".env", kTricky, 0600);
  KC_ASSERT_OK(ReplaceEnvFile(dir.path(), {"OPENAI_API_KEY", "STRIPE_KEY", "NEW_KEY"},
                              Writer("OPENAI_API_KEY='new'\nSTRIPE_KEY='s'\nNEW_KEY='n'\n")));
  const std::string now = ReadFile(dir / ".env");
  EXPECT_EQ(now, Kept(kTricky, {"OPENAI_API_KEY", "STRIPE_KEY"}) +
                     "OPENAI_API_KEY='new'\nSTRIPE_KEY='s'\nNEW_KEY='n'\n");
  // Replacing again with the same names is stable: only the new lines change.
  KC_ASSERT_OK(ReplaceEnvFile(dir.path(), {"OPENAI_API_KEY", "STRIPE_KEY", "NEW_KEY"},
                              Writer("OPENAI_API_KEY='newer'\nSTRIPE_KEY='s'\nNEW_KEY='n'\n")));
  EXPECT_EQ(ReadFile(dir / ".env"), Kept(kTricky, {"OPENAI_API_KEY", "STRIPE_KEY"}) +
                                        "OPENAI_API_KEY='newer'\nSTRIPE_KEY='s'\nNEW_KEY='n'\n");
}

TEST(EnvfileReplaceEnvFile, ModeIsNeverWiderThan0600AndStricterIsKept) {
  test::TempDir dir;
  WriteFile(dir / ".env", "X=1\n", 0664);
  KC_ASSERT_OK(ReplaceEnvFile(dir.path(), {"A"}, Writer("A='1'\n")));
  EXPECT_EQ(test::ModeOf(dir / ".env"), 0600u);
  chmod((dir / ".env").c_str(), 0400);
  KC_ASSERT_OK(ReplaceEnvFile(dir.path(), {"A"}, Writer("A='2'\n")));
  EXPECT_EQ(test::ModeOf(dir / ".env"), 0400u);
  EXPECT_EQ(ReadFile(dir / ".env"), "X=1\nA='2'\n");
}

TEST(EnvfileReplaceEnvFile, RefusesSymlinksAndNonRegularFiles) {
  test::TempDir dir;
  WriteFile(dir / "target", "SECRET_ELSEWHERE=1\n", 0600);
  ASSERT_EQ(symlink((dir / "target").c_str(), (dir / ".env").c_str()), 0);
  Status st = ReplaceEnvFile(dir.path(), {"A"}, Writer("A='1'\n"));
  EXPECT_EQ(st.code(), Err::kInvalidArgument);
  EXPECT_EQ(DescribeEnvfileError(st).rfind("refusing a symlink", 0), 0u)
      << DescribeEnvfileError(st);
  EXPECT_EQ(ReadFile(dir / "target"), "SECRET_ELSEWHERE=1\n");
  EXPECT_TRUE(S_ISLNK([&] {
    struct stat s {};
    lstat((dir / ".env").c_str(), &s);
    return s.st_mode;
  }()));

  test::TempDir fifo_dir;  // must be refused without blocking in open()
  ASSERT_EQ(mkfifo((fifo_dir / ".env").c_str(), 0600), 0);
  EXPECT_EQ(ReplaceEnvFile(fifo_dir.path(), {"A"}, Writer("")).code(), Err::kInvalidArgument);
  test::TempDir dir_dir;
  ASSERT_EQ(mkdir((dir_dir / ".env").c_str(), 0700), 0);
  EXPECT_EQ(ReplaceEnvFile(dir_dir.path(), {"A"}, Writer("")).code(), Err::kInvalidArgument);
}

TEST(EnvfileReplaceEnvFile, FailureLeavesTheOldFileAndNoTempFile) {
  test::TempDir dir;
  WriteFile(dir / ".env", "KEEP=1\nA='old'\n", 0600);
  const Status st = ReplaceEnvFile(dir.path(), {"A"}, [](int fd) {
    (void)!write(fd, "A='half", 7);
    return Status(Err::kUnavailable, "enclave died");
  });
  EXPECT_EQ(st.code(), Err::kUnavailable);
  EXPECT_EQ(ReadFile(dir / ".env"), "KEEP=1\nA='old'\n");
  EXPECT_EQ(test::ListDir(dir.path()), std::vector<std::string>{".env"});
}

TEST(EnvfileReplaceEnvFile, RefusesBadInputBeforeTouchingAnything) {
  test::TempDir dir;
  WriteFile(dir / ".env", "B=\"unterminated\n", 0600);
  const Status bad_file = ReplaceEnvFile(dir.path(), {"A"}, Writer("A='1'\n"));
  EXPECT_EQ(DescribeEnvfileError(bad_file), "line 1: unterminated double quote");
  EXPECT_EQ(ReadFile(dir / ".env"), "B=\"unterminated\n");
  EXPECT_EQ(ReplaceEnvFile(dir.path(), {"BAD NAME"}, Writer("")).code(), Err::kInvalidArgument);
  EXPECT_EQ(ReplaceEnvFile(dir / "missing", {"A"}, Writer("")).code(), Err::kInvalidArgument);
  WriteFile(dir / ".env", "# " + std::string(kMaxDotenvBytes, 'x') + "\n", 0600);
  EXPECT_EQ(ReplaceEnvFile(dir.path(), {"A"}, Writer("")).code(), Err::kTooLarge);
  EXPECT_EQ(test::ListDir(dir.path()), std::vector<std::string>{".env"});
}

TEST(EnvfileReplaceEnvFile, CallbackFdIsPositionedAfterTheKeptPart) {
  test::TempDir dir;
  WriteFile(dir / ".env", "KEEP=1", 0600);  // no final newline: one is added
  off_t offset = -1;
  std::vector<std::string> names_during_write;
  KC_ASSERT_OK(ReplaceEnvFile(dir.path(), {"A"}, [&](int fd) {
    offset = lseek(fd, 0, SEEK_CUR);
    names_during_write = test::ListDir(dir.path());
    return Writer("A='1'\n")(fd);
  }));
  EXPECT_EQ(offset, 7);
  // Where O_TMPFILE works, the half-written file has no name a crash could leave.
  const int probe = open(dir.path().c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
  if (probe >= 0) {
    close(probe);
    EXPECT_EQ(names_during_write, std::vector<std::string>{".env"});
  }
  EXPECT_EQ(ReadFile(dir / ".env"), "KEEP=1\nA='1'\n");
}

}  // namespace
}  // namespace keycell::broker::envfile

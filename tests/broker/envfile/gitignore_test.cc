// EnsureGitignored: work tree detection, which existing patterns count, and how the
// file is updated. Where git is installed, every pattern case is also checked against
// `git check-ignore` (the implementation itself never runs git).

#include "broker/envfile/gitignore.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/broker/envfile/test_util.h"
#include "tests/support/status_testing.h"

namespace keycell::broker::envfile {
namespace {

using test::ReadFile;
using test::WriteFile;

// A directory with a `.git` directory: all EnsureGitignored looks for.
struct FakeRepo {
  FakeRepo() { mkdir((dir / ".git").c_str(), 0700); }
  test::TempDir dir;
};

bool Changed(const std::string& dir, std::string_view entry = ".env") {
  auto r = EnsureGitignored(dir, entry);
  EXPECT_TRUE(r.ok()) << ::keycell::test::Describe(r.status());
  return r.ok() && *r;
}

TEST(EnvfileGitignore, OutsideAWorkTreeNothingChanges) {
  test::TempDir dir;
  for (std::filesystem::path p = dir.path(); p != p.parent_path(); p = p.parent_path()) {
    if (std::filesystem::exists(p / ".git")) GTEST_SKIP() << "temp dir is inside a repository";
  }
  EXPECT_FALSE(Changed(dir.path()));
  EXPECT_TRUE(test::ListDir(dir.path()).empty());
}

TEST(EnvfileGitignore, CreatesTheFileWhenMissing) {
  FakeRepo repo;
  const mode_t old_umask = umask(0077);  // a new .gitignore is 0644 regardless
  EXPECT_TRUE(Changed(repo.dir.path()));
  umask(old_umask);
  EXPECT_EQ(ReadFile(repo.dir / ".gitignore"), ".env\n");
  EXPECT_EQ(test::ModeOf(repo.dir / ".gitignore"), 0644u);
  EXPECT_FALSE(Changed(repo.dir.path()));  // idempotent
}

TEST(EnvfileGitignore, KeepsContentAndAddsTheMissingNewline) {
  FakeRepo repo;
  WriteFile(repo.dir / ".gitignore", "node_modules\n# build\ndist", 0600);
  EXPECT_TRUE(Changed(repo.dir.path()));
  EXPECT_EQ(ReadFile(repo.dir / ".gitignore"), "node_modules\n# build\ndist\n.env\n");
  EXPECT_EQ(test::ModeOf(repo.dir / ".gitignore"), 0600u);  // existing mode kept

  WriteFile(repo.dir / ".gitignore", "a\r\nb", 0644);  // CRLF file stays CRLF
  EXPECT_TRUE(Changed(repo.dir.path()));
  EXPECT_EQ(ReadFile(repo.dir / ".gitignore"), "a\r\nb\r\n.env\r\n");
  EXPECT_EQ(test::ListDir(repo.dir.path()).size(), 2u);  // .git, .gitignore: no temp left
}

TEST(EnvfileGitignore, ExistingEquivalentPatternsCount) {
  const char* const kIgnoring[] = {".env",    "/.env",           "*.env",      ".env*",
                                   "**/.env", ".env   ",         "*",          ".e?v",
                                   ".e[n]v",  "# c\r\n.env\r\n", "!.env\n.env"};
  for (const char* content : kIgnoring) {
    FakeRepo repo;
    WriteFile(repo.dir / ".gitignore", content);
    EXPECT_FALSE(Changed(repo.dir.path())) << content;
    EXPECT_EQ(ReadFile(repo.dir / ".gitignore"), content);
  }
  const char* const kNotIgnoring[] = {".env/",     "# .env", ".env\n!.env", ".ENV",
                                      "x.env.bak", " .env",  "/sub/.env",   "env"};
  for (const char* content : kNotIgnoring) {
    FakeRepo repo;
    WriteFile(repo.dir / ".gitignore", content);
    EXPECT_TRUE(Changed(repo.dir.path())) << content;
  }
}

TEST(EnvfileGitignore, ParentGitignoresCountWithAnchoring) {
  struct Case {
    const char* root;
    const char* app;
    bool changed;
  };
  const Case cases[] = {
      {".env\n", "", false},       {"/.env\n", "", true},        {"app/.env\n", "", false},
      {"/app/.env\n", "", false},  {"*/.env\n", "", false},      {"other/.env\n", "", true},
      {".env\n", "!.env\n", true}, {"!.env\n", ".env\n", false}, {"app/\n", "", true},
  };
  for (const Case& c : cases) {
    FakeRepo repo;
    mkdir((repo.dir / "app").c_str(), 0755);
    WriteFile(repo.dir / ".gitignore", c.root);
    if (*c.app != '\0') WriteFile(repo.dir / "app/.gitignore", c.app);
    EXPECT_EQ(Changed(repo.dir / "app"), c.changed) << c.root << " | " << c.app;
  }
}

TEST(EnvfileGitignore, WorkTreeDetection) {
  FakeRepo repo;  // .git dir at the root; a deeper directory is inside the tree
  std::filesystem::create_directories(repo.dir / "a/b");
  EXPECT_TRUE(Changed(repo.dir / "a/b"));
  EXPECT_EQ(ReadFile(repo.dir / "a/b/.gitignore"), ".env\n");
  EXPECT_FALSE(Changed(repo.dir / ".git"));  // the git dir is not the work tree

  test::TempDir linked;  // linked work trees and submodules have a `.git` file
  WriteFile(linked / ".git", "gitdir: /elsewhere\n");
  EXPECT_TRUE(Changed(linked.path()));
}

TEST(EnvfileGitignore, SymlinksAndBadArguments) {
  FakeRepo repo;
  WriteFile(repo.dir / "elsewhere", "x\n");
  ASSERT_EQ(symlink((repo.dir / "elsewhere").c_str(), (repo.dir / ".gitignore").c_str()), 0);
  auto r = EnsureGitignored(repo.dir.path());
  EXPECT_EQ(r.status().code(), Err::kInvalidArgument);
  EXPECT_EQ(ReadFile(repo.dir / "elsewhere"), "x\n");

  // git does not follow a symlinked .gitignore in a parent; neither do we.
  mkdir((repo.dir / "app").c_str(), 0755);
  WriteFile(repo.dir / "elsewhere", ".env\n");
  EXPECT_TRUE(Changed(repo.dir / "app"));

  EXPECT_EQ(EnsureGitignored(repo.dir.path(), "a/b").status().code(), Err::kInvalidArgument);
  EXPECT_EQ(EnsureGitignored(repo.dir.path(), "..").status().code(), Err::kInvalidArgument);
  EXPECT_EQ(EnsureGitignored(repo.dir.path(), "").status().code(), Err::kInvalidArgument);
  EXPECT_EQ(EnsureGitignored(repo.dir / "missing").status().code(), Err::kInvalidArgument);
  EXPECT_TRUE(Changed((repo.dir / "app"), ".env.local"));
  EXPECT_EQ(ReadFile(repo.dir / "app/.gitignore"), ".env\n.env.local\n");
}

// Runs git with no user or system configuration (no global excludes file).
int Git(const std::string& dir, const std::string& args) {
  const std::string cmd = "cd '" + dir + "' && GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null " +
                          "HOME=/nonexistent git " + args + " >/dev/null 2>&1";
  const int rc = system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(EnvfileGitignore, AgreesWithGitCheckIgnore) {
  if (access("/usr/bin/git", X_OK) != 0) GTEST_SKIP() << "git not installed";
  const char* const kRoots[] = {
      ".env",      "/.env",  "*.env",       ".env*",       "**/.env",
      ".env/",     "# .env", ".env\n!.env", "!.env\n.env", ".ENV",
      " .env",     ".env  ", "*",           ".e[n]v",      "app/.env",
      "/app/.env", "*/.env", "app/",        ".env\r\n",    "/.env\n!/app/.env",
      ""};
  for (const char* root : kRoots) {
    for (const char* sub : {"", "app"}) {
      test::TempDir dir;
      ASSERT_EQ(Git(dir.path(), "init -q ."), 0);
      mkdir((dir / "app").c_str(), 0755);
      WriteFile(dir / ".gitignore", root);
      const std::string target = *sub == '\0' ? dir.path() : dir / sub;
      const std::string rel = *sub == '\0' ? ".env" : std::string(sub) + "/.env";
      const bool git_ignored = Git(dir.path(), "check-ignore -q " + rel) == 0;
      // Documented, harmless difference: an ignored parent directory is not looked at,
      // so the entry is added although git already ignores the whole directory.
      const bool parent_dir_ignored = std::string(root) == "app/" && *sub != '\0';
      EXPECT_EQ(Changed(target), !git_ignored || parent_dir_ignored)
          << "'" << root << "' in " << rel;
      EXPECT_EQ(Git(dir.path(), "check-ignore -q " + rel), 0) << "added entry does not work";
    }
  }
}

}  // namespace
}  // namespace keycell::broker::envfile

// LoadConfig against real files in a temp dir: path resolution, missing/unreadable/
// untrusted/huge/special files, and EnsurePrivateDir.

#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "broker/config/config.h"
#include "broker/config/private_dir.h"
#include "tests/support/status_testing.h"

namespace keycell::broker {
namespace {

class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kc_config_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    env_ = MapEnvironment(
        MapEnvironment::Vars{{"HOME", dir_ + "/home"}, {"XDG_CONFIG_HOME", dir_ + "/xdg"}},
        "/opt/kc/bin", geteuid());
  }
  void TearDown() override {
    chmod((dir_ + "/xdg/keycell/config.json").c_str(), 0600);
    std::filesystem::remove_all(dir_);
  }

  std::string Write(const std::string& rel, const std::string& content, mode_t mode = 0600) {
    const std::string path = dir_ + "/" + rel;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path, std::ios::binary) << content;
    chmod(path.c_str(), mode);
    return path;
  }

  Result<Config> Load() { return LoadConfig(env_, &why_); }

  std::string dir_;
  MapEnvironment env_;
  std::string why_;
};

TEST_F(ConfigFileTest, PathResolution) {
  bool required = true;
  EXPECT_EQ(ConfigFilePath(env_, &required), dir_ + "/xdg/keycell/config.json");
  EXPECT_FALSE(required);
  env_.Unset("XDG_CONFIG_HOME");
  EXPECT_EQ(ConfigFilePath(env_, &required), dir_ + "/home/.config/keycell/config.json");
  env_.Set("KEYCELL_CONFIG", "/etc/kc.json");
  EXPECT_EQ(ConfigFilePath(env_, &required), "/etc/kc.json");
  EXPECT_TRUE(required);
  EXPECT_EQ(ConfigFilePath(MapEnvironment(), &required), "");
}

TEST_F(ConfigFileTest, MissingDefaultFileMeansDefaults) {
  auto c = Load();
  KC_ASSERT_OK(c);
  EXPECT_EQ(c->config_file, "");
  EXPECT_EQ(c->idle_lock_seconds, 900);
  EXPECT_EQ(c->data_dir, dir_ + "/home/.local/share/keycell");
  EXPECT_NE(DescribeConfig(*c).find("(none; defaults and environment only)"), std::string::npos);
}

TEST_F(ConfigFileTest, ReadsTheXdgFile) {
  const std::string path = Write("xdg/keycell/config.json", R"({"idle_lock":"1h"})");
  auto c = Load();
  KC_ASSERT_OK(c);
  EXPECT_EQ(c->config_file, path);
  EXPECT_EQ(c->idle_lock_seconds, 3600);
}

TEST_F(ConfigFileTest, ExplicitPathMustExistAndBeAbsolute) {
  env_.Set("KEYCELL_CONFIG", dir_ + "/nope.json");
  EXPECT_EQ(Load().status().code(), Err::kUpstreamIo);
  EXPECT_EQ(why_, "cannot read config file " + dir_ + "/nope.json: No such file or directory");
  env_.Set("KEYCELL_CONFIG", "relative.json");
  EXPECT_STREQ(Load().status().where(), "config: KEYCELL_CONFIG not absolute");
  env_.Set("KEYCELL_CONFIG", Write("explicit.json", R"({"log.level":"error"})"));
  auto c = Load();
  KC_ASSERT_OK(c);
  EXPECT_EQ(c->log_level, "error");
}

TEST_F(ConfigFileTest, UnreadableFileIsAClearError) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads mode 000 files";
  const std::string path = Write("xdg/keycell/config.json", "{}", 0000);
  const Status st = Load().status();
  EXPECT_EQ(st.code(), Err::kUpstreamIo);
  EXPECT_EQ(st.detail(), EACCES);
  EXPECT_EQ(why_, "cannot read config file " + path + ": Permission denied");
}

TEST_F(ConfigFileTest, PathThroughAFileIsAClearError) {
  const std::string file = Write("plain", "x");
  env_.Set("KEYCELL_CONFIG", file + "/config.json");
  EXPECT_EQ(Load().status().code(), Err::kUpstreamIo);
  EXPECT_EQ(why_, "cannot read config file " + file + "/config.json: Not a directory");
}

TEST_F(ConfigFileTest, OwnedByAnotherUserRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "only root can give a file away";
  const std::string path = Write("xdg/keycell/config.json", "{}");
  ASSERT_EQ(chown(path.c_str(), 65534, 65534), 0);
  EXPECT_STREQ(Load().status().where(), "config: file owned by another user");
  EXPECT_EQ(why_, "config file " + path + " is owned by uid 65534, not by you or root");
}

TEST_F(ConfigFileTest, WritableByOthersRefused) {
  const std::string path = Write("xdg/keycell/config.json", "{}", 0664);
  EXPECT_EQ(Load().status().code(), Err::kPolicyDenied);
  EXPECT_EQ(why_,
            "config file " + path + " is writable by group or others; run: chmod go-w " + path);
  chmod(path.c_str(), 0644);
  KC_EXPECT_OK(Load());
}

TEST_F(ConfigFileTest, SpecialFilesRefusedWithoutBlocking) {
  const std::string fifo = dir_ + "/fifo.json";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  env_.Set("KEYCELL_CONFIG", fifo);  // a blocking open/read would hang the test
  EXPECT_STREQ(Load().status().where(), "config: not a regular file");
  env_.Set("KEYCELL_CONFIG", "/dev/zero");
  EXPECT_STREQ(Load().status().where(), "config: not a regular file");
  env_.Set("KEYCELL_CONFIG", dir_);
  EXPECT_STREQ(Load().status().where(), "config: not a regular file");
}

TEST_F(ConfigFileTest, HugeAndBinaryFilesRefused) {
  Write("xdg/keycell/config.json", std::string(kMaxConfigBytes + 1, ' '));
  EXPECT_EQ(Load().status().code(), Err::kTooLarge);
  std::string binary;
  for (int i = 0; i < 4096; ++i) binary += static_cast<char>((i * 131) & 0xff);
  Write("xdg/keycell/config.json", binary);
  EXPECT_EQ(Load().status().code(), Err::kBadFrame);
  EXPECT_NE(why_.find("not valid JSON"), std::string::npos) << why_;
  Write("xdg/keycell/config.json", std::string(kMaxConfigBytes - 2, '[') + "]]");
  EXPECT_EQ(Load().status().code(), Err::kTooLarge);
}

TEST_F(ConfigFileTest, SymlinkToOwnFileFollowed) {
  const std::string real = Write("dotfiles/config.json", R"({"idle_lock":"0"})");
  std::filesystem::create_directories(dir_ + "/xdg/keycell");
  std::filesystem::create_symlink(real, dir_ + "/xdg/keycell/config.json");
  auto c = Load();
  KC_ASSERT_OK(c);
  EXPECT_EQ(c->idle_lock_seconds, 0);
}

class ConfigPrivateDirTest : public ConfigFileTest {};

TEST_F(ConfigPrivateDirTest, CreatesWithMode0700) {
  const std::string path = dir_ + "/run/a/keycell";
  std::string why;
  KC_ASSERT_OK(EnsurePrivateDir(path, &why));
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  KC_EXPECT_OK(EnsurePrivateDir(path, &why));  // idempotent
}

TEST_F(ConfigPrivateDirTest, RefusesOpenModeSymlinkAndFile) {
  std::string why;
  const std::string open_dir = dir_ + "/open";
  ASSERT_EQ(mkdir(open_dir.c_str(), 0755), 0);
  chmod(open_dir.c_str(), 0755);
  EXPECT_STREQ(EnsurePrivateDir(open_dir, &why).where(), "private dir: mode too open");
  EXPECT_EQ(why, open_dir + " is accessible by group or others; run: chmod 700 " + open_dir);
  const std::string target = dir_ + "/target";
  ASSERT_EQ(mkdir(target.c_str(), 0700), 0);
  const std::string link = dir_ + "/link";
  ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0);  // what an attacker plants in /tmp
  EXPECT_STREQ(EnsurePrivateDir(link, &why).where(), "private dir: not a directory");
  const std::string file = Write("file", "x");
  EXPECT_STREQ(EnsurePrivateDir(file, &why).where(), "private dir: not a directory");
  EXPECT_STREQ(EnsurePrivateDir("rel", &why).where(), "private dir: not absolute");
}

TEST_F(ConfigPrivateDirTest, RefusesDirectoryOwnedBySomeoneElse) {
  // Stands in for a /tmp/keycell-<uid> pre-created by another user, mode 0700 and all.
  std::string other = "/";  // root's, when we are not root
  if (geteuid() == 0) {
    other = dir_ + "/planted";
    ASSERT_EQ(mkdir(other.c_str(), 0700), 0);
    ASSERT_EQ(chown(other.c_str(), 65534, 65534), 0);
  }
  std::string why;
  EXPECT_STREQ(EnsurePrivateDir(other, &why).where(), "private dir: wrong owner");
  EXPECT_EQ(why, other + " is owned by uid " + (geteuid() == 0 ? "65534" : "0") + ", not by you");
}

}  // namespace
}  // namespace keycell::broker

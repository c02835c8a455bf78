#include "pkcs11/token_setup.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "pkcs11/module.h"
#include "pkcs11/session.h"
#include "tests/support/softhsm_fixture.h"
#include "tests/support/status_testing.h"

namespace keycell::pkcs11 {
namespace {

using test::TempToken;

// A bare temporary directory, removed at the end.
class TempDir {
 public:
  TempDir() {
    std::string templ = "/tmp/keycell-conf-XXXXXX";
    if (mkdtemp(templ.data()) != nullptr) path_ = templ;
  }
  ~TempDir() { test::RemoveTree(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

mode_t Mode(const std::string& path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(WriteSoftHsmConfigTest, WritesIsolatedConfig) {
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  const std::string dir = tmp.path() + "/hsm";  // created by the call
  KC_ASSERT_OK(WriteSoftHsmConfig(dir));
  EXPECT_EQ(Mode(dir), 0700u);
  EXPECT_EQ(Mode(dir + "/tokens"), 0700u);
  EXPECT_EQ(Mode(dir + "/softhsm2.conf"), 0600u);
  EXPECT_EQ(ReadFile(dir + "/softhsm2.conf"), "directories.tokendir = " + dir +
                                                  "/tokens\n"
                                                  "objectstore.backend = file\n"
                                                  "log.level = ERROR\n"
                                                  "slots.removable = false\n"
                                                  "slots.mechanisms = ALL\n"
                                                  "library.reset_on_fork = false\n");
  KC_EXPECT_OK(WriteSoftHsmConfig(dir));  // rewriting is fine
}

TEST(WriteSoftHsmConfigTest, RejectsPathsTheConfigSyntaxCannotCarry) {
  EXPECT_EQ(WriteSoftHsmConfig("relative/dir").code(), Err::kInvalidArgument);
  EXPECT_EQ(WriteSoftHsmConfig("").code(), Err::kInvalidArgument);
  EXPECT_EQ(WriteSoftHsmConfig("/tmp/a#b").code(), Err::kInvalidArgument);
  EXPECT_EQ(WriteSoftHsmConfig("/tmp/a=b").code(), Err::kInvalidArgument);
  EXPECT_EQ(WriteSoftHsmConfig("/tmp/a\nb").code(), Err::kInvalidArgument);
  EXPECT_EQ(WriteSoftHsmConfig("/tmp/trailing ").code(), Err::kInvalidArgument);
}

TEST(WriteSoftHsmConfigTest, RefusesToWriteThroughASymlink) {
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  const std::string target = tmp.path() + "/elsewhere";
  ASSERT_EQ(symlink(target.c_str(), (tmp.path() + "/softhsm2.conf").c_str()), 0);
  const Status s = WriteSoftHsmConfig(tmp.path());
  EXPECT_EQ(s.code(), Err::kUpstreamIo);
  EXPECT_EQ(s.detail(), ELOOP);
  EXPECT_EQ(Mode(target), 0u);  // nothing created at the target
}

TEST(WriteSoftHsmConfigTest, MissingParentIsAnIoError) {
  const Status s = WriteSoftHsmConfig("/nonexistent-keycell-parent/hsm");
  EXPECT_EQ(s.code(), Err::kUpstreamIo);
  EXPECT_EQ(s.detail(), ENOENT);
}

class EnsureKekTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TempToken::Options options;
    options.with_kek = false;
    KC_ASSERT_OK_AND_ASSIGN(token_, TempToken::Create(options));
    KC_ASSERT_OK_AND_ASSIGN(module_, Module::Load(TempToken::module_path()));
  }
  void TearDown() override {
    module_.reset();
    token_.reset();
  }

  std::unique_ptr<TempToken> token_;
  std::unique_ptr<Module> module_;
};

TEST_F(EnsureKekTest, CreatesOnceThenFinds) {
  bool created = false;
  KC_ASSERT_OK(EnsureKek(*module_, token_->label(), token_->user_pin(), &created));
  EXPECT_TRUE(created);
  KC_ASSERT_OK(EnsureKek(*module_, token_->label(), token_->user_pin(), &created));
  EXPECT_FALSE(created);
  KC_EXPECT_OK(EnsureKek(*module_, token_->label(), token_->user_pin(), nullptr));
}

TEST_F(EnsureKekTest, WrongPinIsBadPin) {
  const uint8_t wrong[] = {'9', '9', '9', '9'};
  bool created = true;
  EXPECT_EQ(EnsureKek(*module_, token_->label(), SecretView(wrong, 4), &created).code(),
            Err::kBadPin);
  EXPECT_FALSE(created);
}

TEST_F(EnsureKekTest, UnknownTokenIsTokenNotPresent) {
  const Status s = EnsureKek(*module_, "no-such-token", token_->user_pin(), nullptr);
  EXPECT_EQ(s.code(), Err::kToken);
  EXPECT_EQ(static_cast<CK_RV>(s.detail()), CKR_TOKEN_NOT_PRESENT);
}

TEST_F(EnsureKekTest, RefusesAnExtractableKeyUnderTheKekLabel) {
  KC_ASSERT_OK_AND_ASSIGN(const CK_SLOT_ID slot, module_->FindSlotByTokenLabel(token_->label()));
  KC_ASSERT_OK_AND_ASSIGN(Session s, Session::Open(*module_, slot, true));
  KC_ASSERT_OK(s.Login(token_->user_pin()));
  // A weak key planted under the KEK's label, through the raw API.
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_KEY_TYPE type = CKK_AES;
  CK_ULONG len = 32;
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  CK_ATTRIBUTE tmpl[] = {
      {CKA_CLASS, &cls, sizeof(cls)},
      {CKA_KEY_TYPE, &type, sizeof(type)},
      {CKA_VALUE_LEN, &len, sizeof(len)},
      {CKA_TOKEN, &yes, sizeof(yes)},
      {CKA_SENSITIVE, &no, sizeof(no)},
      {CKA_EXTRACTABLE, &yes, sizeof(yes)},
      {CKA_LABEL, const_cast<char*>(kKekLabel.data()), kKekLabel.size()},
  };
  CK_MECHANISM mech{CKM_AES_KEY_GEN, nullptr, 0};
  CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
  ASSERT_EQ(module_->fn().C_GenerateKey(s.handle(), &mech, tmpl, std::size(tmpl), &key), CKR_OK);
  bool created = true;
  const Status st = EnsureKek(*module_, token_->label(), token_->user_pin(), &created);
  EXPECT_EQ(st.code(), Err::kPolicyDenied) << test::Describe(st);
  EXPECT_FALSE(created);
}

}  // namespace
}  // namespace keycell::pkcs11

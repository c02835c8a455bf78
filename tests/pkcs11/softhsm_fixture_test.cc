// The test fixture itself: per-test tokens must work when one process runs many tests
// (a plain `./pkcs11_test`), not only under ctest's one-process-per-test.
#include "tests/support/softhsm_fixture.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <memory>
#include <string>
#include <vector>

#include "pkcs11/module.h"
#include "pkcs11/session.h"
#include "pkcs11/token_setup.h"
#include "tests/support/status_testing.h"

namespace keycell::test {
namespace {

bool Exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

TEST(TempTokenTest, CreatesConfigAndRemovesEverything) {
  std::string dir;
  {
    KC_ASSERT_OK_AND_ASSIGN(auto token, TempToken::Create());
    dir = token->dir();
    EXPECT_TRUE(Exists(token->conf_path()));
    EXPECT_TRUE(Exists(token->dir() + "/tokens"));
    ASSERT_NE(getenv("SOFTHSM2_CONF"), nullptr);
    EXPECT_EQ(std::string(getenv("SOFTHSM2_CONF")), token->conf_path());
    EXPECT_EQ(token->label(), "keycell-test");
  }
  EXPECT_FALSE(Exists(dir));
}

TEST(TempTokenTest, RestoresThePreviousConfigVariable) {
  setenv("SOFTHSM2_CONF", "/previous/softhsm2.conf", 1);
  { KC_ASSERT_OK_AND_ASSIGN(auto token, TempToken::Create()); }
  ASSERT_NE(getenv("SOFTHSM2_CONF"), nullptr);
  EXPECT_EQ(std::string(getenv("SOFTHSM2_CONF")), "/previous/softhsm2.conf");
  unsetenv("SOFTHSM2_CONF");
  { KC_ASSERT_OK_AND_ASSIGN(auto token, TempToken::Create()); }
  EXPECT_EQ(getenv("SOFTHSM2_CONF"), nullptr);
}

TEST(TempTokenTest, WithoutKek) {
  TempToken::Options options;
  options.label = "no-kek";
  options.with_kek = false;
  KC_ASSERT_OK_AND_ASSIGN(auto token, TempToken::Create(options));
  KC_ASSERT_OK_AND_ASSIGN(auto module, pkcs11::Module::Load(TempToken::module_path()));
  KC_ASSERT_OK_AND_ASSIGN(const CK_SLOT_ID slot, module->FindSlotByTokenLabel("no-kek"));
  KC_ASSERT_OK_AND_ASSIGN(pkcs11::Session s, pkcs11::Session::Open(*module, slot, false));
  KC_ASSERT_OK(s.Login(token->user_pin()));
  EXPECT_EQ(s.FindSecretKey(pkcs11::kKekLabel).status().code(), Err::kUnknownKey);
}

// Load -> use -> unload, then the same with another SOFTHSM2_CONF, several times in one
// process: SoftHSM must re-read the configuration at every C_Initialize and must not
// see the previous token.
TEST(TempTokenTest, SequentialTokensInOneProcess) {
  std::string previous_label;
  std::vector<uint8_t> previous_ct;
  for (int i = 0; i < 4; ++i) {
    TempToken::Options options;
    options.label = "seq-" + std::to_string(i);
    KC_ASSERT_OK_AND_ASSIGN(auto token, TempToken::Create(options));
    KC_ASSERT_OK_AND_ASSIGN(auto module, pkcs11::Module::Load(TempToken::module_path()));
    KC_ASSERT_OK_AND_ASSIGN(const CK_SLOT_ID slot, module->FindSlotByTokenLabel(options.label));
    if (!previous_label.empty()) {
      EXPECT_FALSE(module->FindSlotByTokenLabel(previous_label).ok()) << previous_label;
    }
    KC_ASSERT_OK_AND_ASSIGN(pkcs11::Session s, pkcs11::Session::Open(*module, slot, false));
    KC_ASSERT_OK(s.Login(token->user_pin()));
    KC_ASSERT_OK_AND_ASSIGN(const pkcs11::ObjectHandle kek, s.FindSecretKey(pkcs11::kKekLabel));
    KC_ASSERT_OK_AND_ASSIGN(const pkcs11::ObjectHandle copy, s.CopyToSessionObject(kek));
    const std::vector<uint8_t> iv(pkcs11::kGcmIvBytes, 0x42);
    const uint8_t msg[] = {'h', 'i'};
    std::vector<uint8_t> ct(sizeof(msg) + pkcs11::kGcmTagBytes);
    KC_ASSERT_OK(s.EncryptGcm(copy, iv, {}, SecretView(msg, sizeof(msg)), ct));
    KC_EXPECT_OK(s.DecryptGcm(copy, iv, {}, ct));
    // Same IV and message, new token: a different KEK gives a different record.
    EXPECT_NE(ct, previous_ct);
    previous_ct = ct;
    previous_label = options.label;
  }
}

}  // namespace
}  // namespace keycell::test

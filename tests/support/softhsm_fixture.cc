#include "tests/support/softhsm_fixture.h"

#include <ftw.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "pkcs11/module.h"
#include "pkcs11/token_setup.h"

namespace keycell::test {
namespace {

constexpr uint8_t kUserPin[] = {'1', '2', '3', '4'};
constexpr uint8_t kSoPin[] = {'1', '2', '3', '4', '5', '6', '7', '8'};

int RemoveEntry(const char* path, const struct stat*, int, struct FTW*) {
  if (remove(path) != 0) std::perror(path);
  return 0;  // keep going: best effort
}

Status SetUpToken(const TempToken& t, const TempToken::Options& options) {
  KC_ASSIGN_OR_RETURN(std::unique_ptr<pkcs11::Module> module,
                      pkcs11::Module::Load(TempToken::module_path()));
  KC_RETURN_IF_ERROR(pkcs11::InitSoftToken(*module, t.label(), t.so_pin(), t.user_pin()));
  if (!options.with_kek) return Status::Ok();
  bool created = false;
  KC_RETURN_IF_ERROR(pkcs11::EnsureKek(*module, t.label(), t.user_pin(), &created));
  if (!created) return Status(Err::kInternal, "TempToken: fresh token already had a KEK");
  return Status::Ok();
}  // module unloads here: C_Finalize + dlclose

}  // namespace

void RemoveTree(const std::string& path) {
  if (path.empty()) return;
  nftw(path.c_str(), RemoveEntry, 16, FTW_DEPTH | FTW_PHYS);
}

const char* TempToken::module_path() { return KEYCELL_PKCS11_MODULE; }

SecretView TempToken::user_pin() const { return SecretView(kUserPin, sizeof(kUserPin)); }
SecretView TempToken::so_pin() const { return SecretView(kSoPin, sizeof(kSoPin)); }

Result<std::unique_ptr<TempToken>> TempToken::Create() { return Create(Options{}); }

Result<std::unique_ptr<TempToken>> TempToken::Create(const Options& options) {
  std::unique_ptr<TempToken> t(new TempToken());
  if (const char* prev = getenv("SOFTHSM2_CONF")) t->previous_conf_ = prev;
  const char* tmpdir = getenv("TMPDIR");
  std::string templ = std::string(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp") +
                      "/keycell-softhsm-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) return Status(Err::kUpstreamIo, "mkdtemp", errno);
  t->dir_ = templ;  // from here the destructor cleans up
  t->conf_path_ = t->dir_ + "/softhsm2.conf";
  t->label_ = options.label;
  KC_RETURN_IF_ERROR(pkcs11::WriteSoftHsmConfig(t->dir_));
  if (setenv("SOFTHSM2_CONF", t->conf_path_.c_str(), 1) != 0) {
    return Status(Err::kUpstreamIo, "setenv SOFTHSM2_CONF", errno);
  }
  t->env_set_ = true;
  KC_RETURN_IF_ERROR(SetUpToken(*t, options));
  return t;
}

TempToken::~TempToken() {
  if (env_set_ && previous_conf_) {
    setenv("SOFTHSM2_CONF", previous_conf_->c_str(), 1);
  } else if (env_set_) {
    unsetenv("SOFTHSM2_CONF");
  }
  RemoveTree(dir_);
}

}  // namespace keycell::test

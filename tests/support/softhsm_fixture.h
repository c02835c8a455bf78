#pragma once
// A throw-away SoftHSM2 token for tests.
//
// TempToken::Create() makes a fresh directory (mkdtemp under $TMPDIR or /tmp), writes
// softhsm2.conf there (pkcs11::WriteSoftHsmConfig), points SOFTHSM2_CONF at it, and
// initializes a token through the pkcs11 layer (no softhsm2-util), by default with the
// KEK. The destructor restores the previous SOFTHSM2_CONF and deletes the directory.
//
// Module lifetime: Create() loads the PKCS#11 module for setup and unloads it again
// (C_Finalize + dlclose) before returning, so the test loads its own Module afterwards
// and sees exactly what the enclave would see at startup. SoftHSM reads SOFTHSM2_CONF in
// C_Initialize, so every Module::Load() after Create() uses this token's directory;
// one process can go through many TempTokens one after another (verified by
// TempTokenTest.SequentialTokensInOneProcess). Do not hold a Module across a
// TempToken's creation or destruction: the module allows one C_Initialize at a time.
//
// Not thread-safe (setenv); create TempTokens from the test's main thread.

#include <memory>
#include <optional>
#include <string>

#include "common/result.h"
#include "common/secure_buffer.h"

namespace keycell::test {

class TempToken {
 public:
  struct Options {
    std::string label = "keycell-test";
    bool with_kek = true;  // generate pkcs11::kKekLabel after initializing the token
  };

  // Errors: kUpstreamIo (temp dir / config), and whatever InitSoftToken / EnsureKek
  // return. On error nothing is left behind and SOFTHSM2_CONF is restored.
  static Result<std::unique_ptr<TempToken>> Create(const Options& options);
  static Result<std::unique_ptr<TempToken>> Create();

  ~TempToken();
  TempToken(const TempToken&) = delete;
  TempToken& operator=(const TempToken&) = delete;

  const std::string& dir() const { return dir_; }
  const std::string& conf_path() const { return conf_path_; }
  const std::string& label() const { return label_; }
  // Test PINs: constants, not secrets ("1234" / "12345678").
  SecretView user_pin() const;
  SecretView so_pin() const;
  // The module under test: KEYCELL_PKCS11_MODULE (/usr/lib/softhsm/libsofthsm2.so).
  static const char* module_path();

 private:
  TempToken() = default;

  std::string dir_;
  std::string conf_path_;
  std::string label_;
  std::optional<std::string> previous_conf_;  // SOFTHSM2_CONF before Create()
  bool env_set_ = false;                      // we changed SOFTHSM2_CONF
};

// Removes `path` and everything below it (no symlinks followed). Best effort.
void RemoveTree(const std::string& path);

}  // namespace keycell::test

// keycell init: create the embedded SoftHSM2 token and its KEK, or the KEK alone in
// an existing token of any PKCS#11 module. Uses the daemon's configuration
// (LoadConfig: data_dir, pkcs11.module, pkcs11.token_label and their KEYCELL_*
// variables), so init and keycelld always agree on where the token is.

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "broker/cli/commands.h"
#include "broker/cli/session.h"
#include "broker/cli/terminal.h"
#include "broker/config/private_dir.h"
#include "broker/daemon/enclave_launch.h"
#include "pkcs11/module.h"
#include "pkcs11/token_setup.h"

namespace keycell::cli {
namespace {

Result<SecureBuffer> NewPin(int pin_fd) {
  if (pin_fd >= 0) return ReadPinFromFd(pin_fd);
  KC_ASSIGN_OR_RETURN(SecureBuffer first, PromptSecret("New vault PIN: ", kMaxPinBytes));
  KC_ASSIGN_OR_RETURN(SecureBuffer again, PromptSecret("Repeat PIN: ", kMaxPinBytes));
  if (!ConstantTimeEqual(first.view().bytes(), again.view().bytes()))
    return Status(Err::kBadPin, "the two PINs differ");
  return first;
}

// The SO PIN only serves to initialise the token; nobody needs it afterwards (a
// forgotten user PIN means a new vault, as with any HSM), so it is random and dropped.
Result<SecureBuffer> RandomSoPin() {
  KC_ASSIGN_OR_RETURN(SecureBuffer raw, SecureBuffer::Allocate(16));
  if (getrandom(raw.data(), raw.size(), 0) != static_cast<ssize_t>(raw.size()))
    return Status(Err::kInternal, "getrandom", errno);
  KC_ASSIGN_OR_RETURN(SecureBuffer hex, SecureBuffer::Allocate(32));
  for (size_t i = 0; i < 16; ++i) {
    hex.data()[2 * i] = "0123456789abcdef"[raw.data()[i] >> 4];
    hex.data()[2 * i + 1] = "0123456789abcdef"[raw.data()[i] & 15];
  }
  return hex;
}

int InitFail(const char* what, const Status& st) {
  std::string msg = std::string("init: ") + what + ": " + st.where();
  if (st.code() == Err::kBadPin) return Fail(kExitBadPin, msg);
  msg += std::string(" (") + ErrName(st.code()) + ")";
  const bool input = st.code() == Err::kInvalidArgument || st.code() == Err::kTooLarge;
  return Fail(input ? kExitInvalid : kExitFailure, msg);
}

// --module/--token override the configuration for this run; an explicit --module is
// always treated as an external token (its own SOFTHSM2_CONF, if it is SoftHSM2).
broker::daemon::TokenLocation Locate(const broker::Config& config, const InitOptions& o) {
  broker::Config c = config;
  if (!o.module.empty()) c.pkcs11_module = o.module;
  if (!o.token.empty()) c.pkcs11_token_label = o.token;
  broker::daemon::TokenLocation loc = broker::daemon::TokenLocationFor(c);
  if (!o.module.empty()) loc.embedded_softhsm = false;
  return loc;
}

// Creates the data dir (0700) and, for the embedded token, its softhsm2.conf.
int PrepareEmbedded(const broker::Config& config, const broker::daemon::TokenLocation& loc) {
  std::string why;
  if (Status s = broker::EnsurePrivateDir(config.data_dir, &why); !s.ok())
    return Fail(kExitFailure, "init: data dir: " + why);
  struct stat st {};
  if (stat(loc.softhsm_conf.c_str(), &st) != 0) {
    if (Status s = pkcs11::WriteSoftHsmConfig(loc.softhsm_dir); !s.ok())
      return InitFail("softhsm config", s);
  }
  setenv("SOFTHSM2_CONF", loc.softhsm_conf.c_str(), 1);
  return kExitOk;
}

}  // namespace

int RunInit(const InitOptions& o) {
  int rc = kExitOk;
  const auto config = LoadCliConfig(&rc);
  if (!config) return rc;
  if (o.pin_fd >= 0 && !IsOpenFd(o.pin_fd))
    return Fail(kExitUsage, "--pin-fd " + std::to_string(o.pin_fd) + " is not open");
  if (o.pin_fd < 0 && !HaveTerminal())
    return Fail(kExitUsage, "no terminal for the PIN prompt (use --pin-fd N)");
  const broker::daemon::TokenLocation loc = Locate(*config, o);
  if (loc.embedded_softhsm && (rc = PrepareEmbedded(*config, loc)) != kExitOk) return rc;
  auto pin = NewPin(o.pin_fd);
  if (!pin.ok()) return InitFail("PIN", pin.status());
  auto module = pkcs11::Module::Load(loc.module.c_str());
  if (!module.ok()) return InitFail("load module", module.status());
  bool token_created = false;
  if (!(*module)->FindSlotByTokenLabel(loc.label).ok()) {
    if (!loc.embedded_softhsm)
      return InitFail("token", Status(Err::kToken, "no token with that label in the module"));
    auto so = RandomSoPin();
    if (!so.ok()) return InitFail("SO PIN", so.status());
    if (Status s = pkcs11::InitSoftToken(**module, loc.label, so->view(), pin->view()); !s.ok())
      return InitFail("create token", s);
    token_created = true;
  }
  bool kek_created = false;
  if (Status s = pkcs11::EnsureKek(**module, loc.label, pin->view(), &kek_created); !s.ok())
    return InitFail("KEK", s);
  printf(
      "keycell: vault ready\n  data dir: %s\n  module:   %s\n  token:    %s (%s)\n  KEK:      %s\n",
      config->data_dir.c_str(), loc.module.c_str(), loc.label.c_str(),
      token_created ? "created" : "existing",
      kek_created ? "created (AES-256, sensitive, never extractable)" : "existing");
  return kExitOk;
}

}  // namespace keycell::cli

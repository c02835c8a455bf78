// keycell init: create the embedded SoftHSM2 token and its KEK, or the KEK alone in
// an existing token of any PKCS#11 module.

#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "broker/cli/commands.h"
#include "broker/cli/paths.h"
#include "broker/cli/pin_input.h"
#include "broker/cli/token_env.h"
#include "pkcs11/module.h"
#include "pkcs11/token_setup.h"

namespace keycell::cli {
namespace {

constexpr char kInitHelp[] =
    "usage: keycell init [--pin-fd N] [--module PATH] [--token LABEL]\n"
    "\n"
    "Creates the vault's key-encryption key (KEK): AES-256, generated inside the\n"
    "token, sensitive and never extractable.\n"
    "\n"
    "Without --module, keycell keeps its own SoftHSM2 token in the data directory\n"
    "($KEYCELL_DATA_DIR, else $XDG_DATA_HOME/keycell, else ~/.local/share/keycell)\n"
    "and creates it first. With --module, the token LABEL must already exist in that\n"
    "module (a YubiHSM, tpm2-pkcs11, a network HSM...) and only the KEK is created.\n"
    "Running init again is safe: an existing KEK is kept.\n"
    "\n"
    "The PIN is typed twice at a no-echo prompt, or read as one line from file\n"
    "descriptor N with --pin-fd N (for scripts: keycell init --pin-fd 3 3<pinfile).\n"
    "It is never taken from the command line.\n";

struct InitArgs {
  int pin_fd = -1;
  std::string module, token;
};

bool Parse(const std::vector<std::string>& args, InitArgs* out) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (i + 1 >= args.size()) return false;
    if (a == "--pin-fd") out->pin_fd = atoi(args[++i].c_str());
    else if (a == "--module") out->module = args[++i];
    else if (a == "--token") out->token = args[++i];
    else return false;
  }
  return true;
}

Result<SecureBuffer> NewPin(int pin_fd) {
  if (pin_fd >= 0) return ReadPinFromFd(pin_fd);
  KC_ASSIGN_OR_RETURN(SecureBuffer first, PromptPin("New vault PIN: "));
  KC_ASSIGN_OR_RETURN(SecureBuffer again, PromptPin("Repeat PIN: "));
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

int Fail(const char* what, const Status& st) {
  fprintf(stderr, "keycell init: %s: %s (%s)\n", what, st.where(), ErrName(st.code()));
  if (st.code() == Err::kBadPin) return kExitBadPin;
  return kExitFailure;
}

}  // namespace

int RunInit(const std::vector<std::string>& args) {
  InitArgs a;
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    fputs(kInitHelp, stdout);
    return kExitOk;
  }
  if (!Parse(args, &a)) {
    fputs(kInitHelp, stderr);
    return kExitUsage;
  }
  const TokenLocation loc = ResolveTokenLocation(a.module, a.token);
  if (loc.embedded_softhsm) {
    const std::string dir = SoftHsmDir(loc.data_dir);
    struct stat st{};
    if (!MakePrivateDirs(loc.data_dir)) return Fail("data dir", Status(Err::kUpstreamIo, "mkdir", errno));
    if (stat(loc.softhsm_conf.c_str(), &st) != 0) {
      if (Status s = pkcs11::WriteSoftHsmConfig(dir); !s.ok()) return Fail("softhsm config", s);
    }
    setenv("SOFTHSM2_CONF", loc.softhsm_conf.c_str(), 1);
  }
  auto pin = NewPin(a.pin_fd);
  if (!pin.ok()) return Fail("PIN", pin.status());
  auto module = pkcs11::Module::Load(loc.module.c_str());
  if (!module.ok()) return Fail("load module", module.status());
  bool token_created = false;
  if (!(*module)->FindSlotByTokenLabel(loc.label).ok()) {
    if (!loc.embedded_softhsm)
      return Fail("token", Status(Err::kToken, "no token with that label in the module"));
    auto so = RandomSoPin();
    if (!so.ok()) return Fail("SO PIN", so.status());
    if (Status s = pkcs11::InitSoftToken(**module, loc.label, so->view(), pin->view()); !s.ok())
      return Fail("create token", s);
    token_created = true;
  }
  bool kek_created = false;
  if (Status s = pkcs11::EnsureKek(**module, loc.label, pin->view(), &kek_created); !s.ok())
    return Fail("KEK", s);
  printf("keycell: vault ready\n  data dir: %s\n  module:   %s\n  token:    %s (%s)\n  KEK:      %s\n",
         loc.data_dir.c_str(), loc.module.c_str(), loc.label.c_str(), token_created ? "created" : "existing",
         kek_created ? "created (AES-256, sensitive, never extractable)" : "existing");
  return kExitOk;
}

}  // namespace keycell::cli

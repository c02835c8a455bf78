#pragma once
// The broker's side of the enclave protocol: spawns keycell-enclave over a
// socketpair, checks the peer, and offers one method per row of the enclave's request
// table (Hello, Status, Unlock, Lock, Seal, Reseal, Reveal, WriteEnv, Hmac, Generate).
//
// If the enclave dies (it ends itself on Lock, on a PIN lockout and on any protocol
// violation) the next call starts a fresh one, which is locked; restarts() counts them
// and each is logged to stderr. A call whose enclave died under it fails with
// Err::kUnavailable ("enclave restarted"); nothing is retried behind the caller's back.
//
// Thread-safe: calls are serialised (the enclave serves one request at a time).
// Every call blocks for at most the configured timeout.

#include <sys/types.h>

#include <array>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/ipc/enclave.pb.h"
#include "common/ipc/framing.h"
#include "common/ipc/message.h"
#include "common/result.h"
#include "common/secure_buffer.h"
#include "common/unique_fd.h"

namespace keycell::broker {

using RecordRef = keycell_ipc_RecordRef;
using Policy = keycell_ipc_Policy;

struct EnclaveLaunch {
  std::string enclave_path;  // the keycell-enclave executable
  std::string module_path;   // PKCS#11 module
  std::string token_label;
  std::vector<std::string> token_dirs;                   // Landlock: read/write until unlock
  std::vector<std::string> read_files;                   // Landlock: read-only until unlock
  std::vector<std::pair<std::string, std::string>> env;  // the enclave's whole environment
  std::string system_ca_file;  // upstream TLS CA bundle; "" = the enclave's default (Debian's)
  std::string extra_ca_file;   // tls.extra_ca_file; "" = none
  int call_timeout_ms = 30 * 1000;
  int unlock_timeout_ms = 90 * 1000;  // a PIN read from a human's terminal
};

struct EnclaveStatus {
  bool unlocked = false;
  std::string token_label;
  std::string token_model;
  bool aes_gcm = false;
  uint32_t sandbox_stage = 0;
};

struct EnvItem {
  RecordRef ref;
  std::string env_name;
  ByteView blob;
};

struct WriteEnvOutcome {
  uint32_t written = 0;
  std::vector<std::string> skipped;  // env names the sealed policy refused
};

// A sealed record as the enclave returns it.
struct Sealed {
  std::vector<uint8_t> blob;
  std::array<uint8_t, 16> fingerprint{};  // same value ⇔ same fingerprint (needs the token)
};

enum class EnvFormat { kDotenv, kNulRecords };

struct ResealArgs {
  RecordRef ref;  // what `blob` is bound to
  ByteView blob;
  RecordRef new_ref;               // what the result is bound to
  const Policy* policy = nullptr;  // nullptr: keep the sealed policy
  SecretView new_secret;           // empty: keep the sealed secret
  int new_secret_fd = -1;          // or: the enclave reads the new secret from this fd to EOF
  SecretView pin;                  // needed when the new policy widens the old one
};

class EnclaveClient {
 public:
  // Spawns the enclave and completes Hello. Errors: kUnavailable (spawn failed or the
  // enclave exited during start-up: bad module path, unknown token), kBadFrame.
  static Result<std::unique_ptr<EnclaveClient>> Start(EnclaveLaunch launch);
  ~EnclaveClient();
  EnclaveClient(const EnclaveClient&) = delete;
  EnclaveClient& operator=(const EnclaveClient&) = delete;

  Result<EnclaveStatus> Status();
  // The PIN goes to the enclave as an attachment; the caller owns and wipes it.
  // Errors: kBadPin, kPinLocked, kUnknownKey (no KEK), kToken, kUnavailable.
  keycell::Status Unlock(SecretView pin);
  // The enclave reads one PIN line from `fd` (e.g. the CLI's connection), so the PIN
  // never passes through this process.
  keycell::Status UnlockFromFd(int fd);
  // Ends the enclave (the strongest wipe); the next call starts a locked one.
  keycell::Status Lock();

  Result<Sealed> Seal(const RecordRef& ref, const Policy& policy, SecretView secret);
  // The enclave reads the secret to EOF from `secret_fd` (e.g. a pipe the CLI filled),
  // so it never passes through this process. Errors as Seal, plus kTooLarge, kTimeout.
  Result<Sealed> SealFromFd(const RecordRef& ref, const Policy& policy, int secret_fd);
  Result<Sealed> Reseal(const ResealArgs& args);
  // Errors: kPolicyDenied (reveal not allowed, other agent, expired), kInvalidArgument
  // (no purpose), kTampered, kLocked.
  Result<SecureBuffer> Reveal(const RecordRef& ref, ByteView blob, std::string_view purpose,
                              std::string_view agent_id);
  // The enclave writes the plaintext to `fd` (a pipe or file of the caller's) instead:
  // it never passes through this process.
  keycell::Status RevealToFd(const RecordRef& ref, ByteView blob, std::string_view purpose,
                             std::string_view agent_id, int fd);
  // The enclave writes NAME=value lines (or NAME\0value\0 records) to `fd`, a
  // regular file or pipe.
  Result<WriteEnvOutcome> WriteEnv(int fd, std::span<const EnvItem> items,
                                   EnvFormat format = EnvFormat::kDotenv);
  Result<std::array<uint8_t, 32>> Hmac(const RecordRef& ref, ByteView blob, ByteView data);
  // The enclave makes a fresh secret and seals it under `ref` and `policy`, exactly as
  // Seal would: the value never exists outside the enclave. `length` is 1..4096 bytes
  // (empty `alphabet`: raw random bytes) or characters drawn uniformly from the
  // alphabet's distinct characters (printable ASCII, at least two distinct, at most
  // 256 bytes). With `reveal_fd` >= 0 (a pipe or regular file of the caller's, e.g. the
  // CLI's) the enclave also writes the value there once, after sealing; it never passes
  // through this process. Errors: kInvalidArgument (length, alphabet, policy, ref),
  // kLocked, kUpstreamIo / kTimeout (writing to reveal_fd), kToken, kUnavailable.
  Result<Sealed> Generate(const RecordRef& ref, const Policy& policy, uint32_t length,
                          std::string_view alphabet, int reveal_fd = -1);

  // Opens a proxy channel (docs/proxy.md): a socketpair whose other end the enclave
  // serves on a thread of its own. Returns this end; *generation receives generation()
  // at the time, so a pool can tell channels of an enclave that has since gone.
  // Errors: kLocked, kTooLarge (the enclave's channel limit), kUnavailable.
  Result<UniqueFd> OpenChannel(uint64_t* generation);

  // Changes whenever the enclave process goes away or is replaced (lock, crash,
  // restart): channels opened under an older generation are dead.
  uint64_t generation() const;

  int restarts() const;
  pid_t pid() const;
  // Whether the last response said the token is logged in.
  bool unlocked() const;

  // Tests only: the raw control socket, to send frames the client never would.
  int control_fd_for_test() const { return sock_.get(); }

 private:
  explicit EnclaveClient(EnclaveLaunch launch) : launch_(std::move(launch)) {}

  keycell::Status SpawnLocked();
  void ReapLocked(bool kill_first);
  keycell::Status EnsureRunningLocked();
  // Sends `req` (seq assigned here) and receives the matching response of kind
  // `expected_body`. Transport or protocol failures reap the enclave.
  // A response and the received frame its attachments point into.
  struct Reply {
    keycell_ipc_Response resp;
    ipc::Frame frame;
    ipc::Attachments att;
  };
  keycell::Status CallLocked(keycell_ipc_Request* req, std::span<const ByteView> attachments,
                             int fd, pb_size_t expected_body, int timeout_ms, Reply* reply);
  // For requests that need the token: starts the enclave if needed, refuses locally
  // while locked (the enclave would treat the request as a protocol violation), then
  // calls with the normal timeout.
  keycell::Status CallUnlockedLocked(keycell_ipc_Request* req,
                                     std::span<const ByteView> attachments, int fd,
                                     pb_size_t expected_body, Reply* reply);
  keycell::Status RequireUnlockedLocked() const;
  Result<Sealed> SealLocked(const RecordRef& ref, const Policy& policy, SecretView secret, int fd);
  void NoteStatus(const keycell_ipc_StatusInfo& info);

  EnclaveLaunch launch_;
  mutable std::mutex mu_;
  UniqueFd sock_;
  pid_t pid_ = -1;
  uint32_t next_seq_ = 1;
  int restarts_ = 0;
  bool unlocked_ = false;
  bool started_once_ = false;
  bool exit_expected_ = false;  // Lock ends the enclave on purpose: not a restart
  uint64_t generation_ = 0;
};

// The Status of an enclave response: Ok for status 0, else its code with the enclave's
// reason (interned: a Status's `where` must outlive it) and detail.
keycell::Status StatusOfResponse(const keycell_ipc_Response& resp);

}  // namespace keycell::broker

#include "enclave/handlers.h"

#include <errno.h>
#include <mbedtls/md.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <string_view>

#include "enclave/env_line.h"
#include "enclave/generate.h"
#include "enclave/policy.h"
#include "enclave/sealed_record.h"

namespace keycell::enclave {
namespace {

constexpr size_t kMaxPinBytes = 256;
constexpr int kPinReadTimeoutMs = 60 * 1000;   // a human may be typing on the other end
constexpr int kEnvWriteTimeoutMs = 10 * 1000;  // a reader that stalls longer is broken
constexpr size_t kMaxPurposeBytes = 256;
constexpr int kSecretReadTimeoutMs = 10 * 1000;

int64_t Now() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec;
}

void FillStatusInfo(EnclaveState& s, keycell_ipc_Response* resp) {
  resp->which_body = keycell_ipc_Response_status_info_tag;
  keycell_ipc_StatusInfo& info = resp->body.status_info;
  const TokenDescription d = s.token().Describe();
  info.protocol_version = ipc::kProtocolVersion;
  info.unlocked = s.unlocked();
  snprintf(info.token_label, sizeof(info.token_label), "%s", d.label.c_str());
  snprintf(info.token_model, sizeof(info.token_model), "%s", d.model.c_str());
  info.aes_gcm = d.aes_gcm;
  info.sandbox_stage = s.sandbox_stage();
}

// A sealed record that may be used now: authentic and not expired.
Result<Unsealed> UnsealUsable(EnclaveState& s, const RecordRef& ref, ByteView blob) {
  KC_ASSIGN_OR_RETURN(Unsealed u, UnsealRecord(s.token(), ref, blob));
  if (Expired(u.policy, Now())) return Status(Err::kPolicyDenied, "credential expired");
  return u;
}

// Reads one PIN line (without its newline) from an fd handed over by the broker,
// typically the CLI's own connection, so the PIN never passes through the broker.
Result<SecureBuffer> ReadPinLine(int fd) {
  KC_ASSIGN_OR_RETURN(SecureBuffer pin, SecureBuffer::Allocate(kMaxPinBytes));
  size_t n = 0;
  while (n < kMaxPinBytes) {
    pollfd p{fd, POLLIN, 0};
    const int ready = poll(&p, 1, kPinReadTimeoutMs);
    if (ready == 0) return Status(Err::kTimeout, "unlock: no PIN arrived");
    if (ready < 0 && errno != EINTR) return Status(Err::kUpstreamIo, "unlock: poll", errno);
    if (ready < 0) continue;
    const ssize_t r = read(fd, pin.data() + n, 1);  // byte at a time: never read past the line
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (r < 0) return Status(Err::kUpstreamIo, "unlock: read", errno);
    if (r == 0 || pin.data()[n] == '\n') break;
    ++n;
  }
  if (n == kMaxPinBytes) return Status(Err::kTooLarge, "unlock: PIN too long");
  if (n > 0 && pin.data()[n - 1] == '\r') --n;
  pin.resize(n);
  return pin;
}

// Reads a secret to EOF from a pipe the CLI filled, so the value never crosses the
// broker. One byte over the cap is read to tell "exactly 64 KiB" from "too large".
Result<SecureBuffer> ReadSecretFromFd(int fd) {
  KC_ASSIGN_OR_RETURN(SecureBuffer secret, SecureBuffer::Allocate(kMaxSecretBytes + 1));
  size_t n = 0;
  while (n < secret.size()) {
    pollfd p{fd, POLLIN, 0};
    const int ready = poll(&p, 1, kSecretReadTimeoutMs);
    if (ready == 0) return Status(Err::kTimeout, "secret: writer stalled");
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return Status(Err::kUpstreamIo, "secret: poll", errno);
    const ssize_t r = read(fd, secret.data() + n, secret.size() - n);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (r < 0) return Status(Err::kUpstreamIo, "secret: read", errno);
    if (r == 0) break;
    n += static_cast<size_t>(r);
  }
  if (n > kMaxSecretBytes) return Status(Err::kTooLarge, "seal: secret over 64 KiB");
  secret.resize(n);
  return secret;
}

// The secret of a Seal/Reseal: attachment `index`, or the passed fd if `from_fd`.
// Exactly one of the two carries it.
Result<SecureBuffer> RequestSecret(bool from_fd, const UniqueFd& fd, ByteView attachment) {
  if (from_fd != fd.valid()) return Status(Err::kBadFrame, "seal: fd iff secret_from_fd");
  if (from_fd) {
    if (!attachment.empty()) return Status(Err::kBadFrame, "seal: secret twice");
    return ReadSecretFromFd(fd.get());
  }
  return SecureBuffer::CopyOf(attachment);
}

Status SetSealed(EnclaveState& s, SecretView secret, Reply* reply) {
  reply->resp.which_body = keycell_ipc_Response_sealed_tag;
  keycell_ipc_SealResult& out = reply->resp.body.sealed;
  out.sealed_format = kSealedFormat;
  out.fingerprint.size = 16;
  return s.Fingerprint(secret, out.fingerprint.bytes);
}

Status WriteAll(int fd, SecretView data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      pollfd p{fd, POLLOUT, 0};
      if (poll(&p, 1, kEnvWriteTimeoutMs) == 0) return Status(Err::kTimeout, "env: reader stalled");
      continue;
    }
    return Status(Err::kUpstreamIo, "env: write", errno);
  }
  return Status::Ok();
}

// Only regular files and pipes: a socket handed over by a confused broker would be
// an arbitrary destination for plaintext.
Status CheckEnvDestination(int fd) {
  struct stat st{};
  if (fstat(fd, &st) != 0) return Status(Err::kUpstreamIo, "env: fstat", errno);
  if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode))
    return Status(Err::kInvalidArgument, "env: destination is not a file or pipe");
  return Status::Ok();
}

Status RequireAttachments(const ipc::Attachments& att, size_t n) {
  return att.count == n ? Status::Ok() : Status(Err::kBadFrame, "wrong attachment count");
}

}  // namespace

std::vector<ByteView> Reply::Attachments() const {
  std::vector<ByteView> out;
  if (!blob.empty()) out.emplace_back(blob);
  if (secret.data() != nullptr) out.push_back(secret.view().bytes());
  return out;
}

Status HandleHello(EnclaveState& s, const keycell_ipc_Request& req, const ipc::Attachments& att,
                   UniqueFd, Reply* reply) {
  KC_RETURN_IF_ERROR(RequireAttachments(att, 0));
  if (req.body.hello.protocol_version != ipc::kProtocolVersion)
    return Status(Err::kBadFrame, "hello: protocol version mismatch");
  s.set_hello_done();
  FillStatusInfo(s, &reply->resp);
  return Status::Ok();
}

Status HandleStatus(EnclaveState& s, const keycell_ipc_Request&, const ipc::Attachments& att,
                    UniqueFd, Reply* reply) {
  KC_RETURN_IF_ERROR(RequireAttachments(att, 0));
  FillStatusInfo(s, &reply->resp);
  return Status::Ok();
}

Status HandleUnlock(EnclaveState& s, const keycell_ipc_Request& req, const ipc::Attachments& att,
                    UniqueFd fd, Reply* reply) {
  const bool from_fd = req.body.unlock.pin_from_fd;
  if (from_fd != fd.valid()) return Status(Err::kBadFrame, "unlock: fd iff pin_from_fd");
  KC_RETURN_IF_ERROR(RequireAttachments(att, from_fd ? 0 : 1));
  Status st;
  if (from_fd) {
    KC_ASSIGN_OR_RETURN(SecureBuffer pin, ReadPinLine(fd.get()));
    st = s.Unlock(pin.view());
  } else {
    st = s.Unlock(SecretView(att[0].data(), att[0].size()));
  }
  KC_RETURN_IF_ERROR(st);
  FillStatusInfo(s, &reply->resp);
  return Status::Ok();
}

Status HandleLock(EnclaveState& s, const keycell_ipc_Request&, const ipc::Attachments& att,
                  UniqueFd, Reply* reply) {
  KC_RETURN_IF_ERROR(RequireAttachments(att, 0));
  // Ending the process is the strongest wipe: the token session, the KEK copy and
  // every page we touched go with it. The broker starts a fresh, locked enclave.
  s.request_exit();
  FillStatusInfo(s, &reply->resp);
  reply->resp.body.status_info.unlocked = false;
  return Status::Ok();
}

Status HandleSeal(EnclaveState& s, const keycell_ipc_Request& req, const ipc::Attachments& att,
                  UniqueFd fd, Reply* reply) {
  const keycell_ipc_Seal& in = req.body.seal;
  KC_RETURN_IF_ERROR(RequireAttachments(att, in.secret_from_fd ? 0 : 1));
  KC_ASSIGN_OR_RETURN(SecureBuffer secret, RequestSecret(in.secret_from_fd, fd, in.secret_from_fd ? ByteView() : att[0]));
  KC_RETURN_IF_ERROR(ValidatePolicy(in.policy));
  if (Expired(in.policy, Now())) return Status(Err::kInvalidArgument, "seal: expiry in the past");
  KC_ASSIGN_OR_RETURN(reply->blob, SealRecord(s.token(), in.ref, in.policy, secret.view()));
  return SetSealed(s, secret.view(), reply);
}

Status HandleReseal(EnclaveState& s, const keycell_ipc_Request& req, const ipc::Attachments& att,
                    UniqueFd fd, Reply* reply) {
  KC_RETURN_IF_ERROR(RequireAttachments(att, 3));
  const keycell_ipc_Reseal& in = req.body.reseal;
  KC_ASSIGN_OR_RETURN(SecureBuffer fresh, RequestSecret(in.secret_from_fd, fd, att[1]));
  KC_ASSIGN_OR_RETURN(Unsealed old, UnsealRecord(s.token(), in.ref, att[0]));
  const Policy& next = in.has_policy ? in.policy : old.policy;
  KC_RETURN_IF_ERROR(ValidatePolicy(next));
  if (IsWidening(old.policy, next)) {
    if (att[2].empty()) return Status(Err::kPolicyDenied, "reseal: widening a policy needs the PIN");
    KC_RETURN_IF_ERROR(s.VerifyPin(SecretView(att[2].data(), att[2].size())));
  }
  const SecretView secret = fresh.empty() ? old.secret : fresh.view();
  KC_ASSIGN_OR_RETURN(reply->blob, SealRecord(s.token(), in.has_new_ref ? in.new_ref : in.ref, next, secret));
  return SetSealed(s, secret, reply);
}

Status HandleReveal(EnclaveState& s, const keycell_ipc_Request& req, const ipc::Attachments& att,
                    UniqueFd fd, Reply* reply) {
  KC_RETURN_IF_ERROR(RequireAttachments(att, 1));
  const keycell_ipc_Reveal& in = req.body.reveal;
  if (in.to_fd != fd.valid()) return Status(Err::kBadFrame, "reveal: fd iff to_fd");
  const std::string_view purpose = in.purpose;
  if (purpose.find_first_not_of(" \t") == std::string_view::npos || purpose.size() > kMaxPurposeBytes)
    return Status(Err::kInvalidArgument, "reveal: a purpose is required");
  KC_ASSIGN_OR_RETURN(Unsealed u, UnsealUsable(s, in.ref, att[0]));
  if (!u.policy.reveal) return Status(Err::kPolicyDenied, "reveal: not allowed by the sealed policy");
  if (!RevealAllowed(u.policy, in.agent_id))
    return Status(Err::kPolicyDenied, "reveal: not allowed for this agent");
  reply->resp.which_body = keycell_ipc_Response_revealed_tag;
  if (in.to_fd) {
    // Straight to the caller's pipe: the plaintext never passes through the broker.
    KC_RETURN_IF_ERROR(CheckEnvDestination(fd.get()));
    return WriteAll(fd.get(), u.secret);
  }
  KC_ASSIGN_OR_RETURN(reply->secret, SecureBuffer::CopyOf(u.secret.bytes()));
  return Status::Ok();
}

Status HandleWriteEnv(EnclaveState& s, const keycell_ipc_Request& req, const ipc::Attachments& att,
                      UniqueFd fd, Reply* reply) {
  const keycell_ipc_WriteEnv& in = req.body.write_env;
  KC_RETURN_IF_ERROR(RequireAttachments(att, in.entries_count));
  KC_RETURN_IF_ERROR(CheckEnvDestination(fd.get()));
  const int32_t format = WireEnum(in.format);
  if (format != keycell_ipc_EnvFormat_ENV_DOTENV && format != keycell_ipc_EnvFormat_ENV_NUL_RECORDS)
    return Status(Err::kInvalidArgument, "env: unknown format");
  reply->resp.which_body = keycell_ipc_Response_env_written_tag;
  keycell_ipc_WriteEnvResult& out = reply->resp.body.env_written;
  for (pb_size_t i = 0; i < in.entries_count; ++i) {
    const keycell_ipc_EnvEntry& e = in.entries[i];
    auto u = UnsealUsable(s, e.ref, att[i]);
    Result<SecureBuffer> line =
        !u.ok()                  ? Result<SecureBuffer>(u.status())
        : !u->policy.env_export ? Result<SecureBuffer>(Status(Err::kPolicyDenied, "env: export not allowed"))
        : format == keycell_ipc_EnvFormat_ENV_NUL_RECORDS ? FormatNulRecord(e.env_name, u->secret)
                                                             : FormatEnvLine(e.env_name, u->secret);
    if (!line.ok()) {
      // Tampering is never "skipped": a forged record stops the whole write.
      if (line.status().code() == Err::kTampered) return line.status();
      snprintf(out.skipped[out.skipped_count++], sizeof(out.skipped[0]), "%s", e.env_name);
      continue;
    }
    KC_RETURN_IF_ERROR(WriteAll(fd.get(), line->view()));
    ++out.written;
  }
  return Status::Ok();
}

Status HandleHmac(EnclaveState& s, const keycell_ipc_Request& req, const ipc::Attachments& att,
                  UniqueFd, Reply* reply) {
  KC_RETURN_IF_ERROR(RequireAttachments(att, 2));
  KC_ASSIGN_OR_RETURN(Unsealed u, UnsealUsable(s, req.body.hmac.ref, att[0]));
  reply->resp.which_body = keycell_ipc_Response_hmac_tag;
  keycell_ipc_HmacResult& out = reply->resp.body.hmac;
  const int rc = mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), u.secret.data(),
                                 u.secret.size(), att[1].data(), att[1].size(), out.mac.bytes);
  if (rc != 0) return Status(Err::kInternal, "hmac", rc);
  out.mac.size = 32;
  return Status::Ok();
}

// Seal's path with a value nobody supplied: the record is indistinguishable from a
// sealed one (same format, policy checks, fingerprint). The optional fd gets the value
// once, after sealing succeeded; a failed write fails the request and drops the blob,
// so a record exists only if its one showing went out. This grants the requester
// nothing Seal does not (whoever seals a value knows it), so the showing does not
// depend on what the sealed policy says about later Reveals.
Status HandleGenerate(EnclaveState& s, const keycell_ipc_Request& req, const ipc::Attachments& att,
                      UniqueFd fd, Reply* reply) {
  KC_RETURN_IF_ERROR(RequireAttachments(att, 0));
  const keycell_ipc_Generate& in = req.body.generate;
  if (in.reveal_to_fd != fd.valid()) return Status(Err::kBadFrame, "generate: fd iff reveal_to_fd");
  KC_RETURN_IF_ERROR(ValidateRecordRef(in.ref));
  KC_RETURN_IF_ERROR(ValidatePolicy(in.policy));
  if (Expired(in.policy, Now()))
    return Status(Err::kInvalidArgument, "generate: expiry in the past");
  if (in.reveal_to_fd) KC_RETURN_IF_ERROR(CheckEnvDestination(fd.get()));
  KC_ASSIGN_OR_RETURN(SecureBuffer secret, GenerateSecret(in.length, in.alphabet));
  KC_ASSIGN_OR_RETURN(reply->blob, SealRecord(s.token(), in.ref, in.policy, secret.view()));
  KC_RETURN_IF_ERROR(SetSealed(s, secret.view(), reply));
  if (in.reveal_to_fd) KC_RETURN_IF_ERROR(WriteAll(fd.get(), secret.view()));
  return Status::Ok();
}

Status HandleOpenChannel(EnclaveState& s, const keycell_ipc_Request&, const ipc::Attachments& att,
                         UniqueFd fd, Reply*) {
  KC_RETURN_IF_ERROR(RequireAttachments(att, 0));
  return s.OpenChannel(std::move(fd));
}

}  // namespace keycell::enclave

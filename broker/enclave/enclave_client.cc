#include "broker/enclave/enclave_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <set>
#include <string>

namespace keycell::broker {
namespace {

constexpr int kControlFdInChild = 3;
constexpr int kReapGraceMs = 2000;
// Large (~22 KB) requests are assembled in per-call storage, never on a small stack.
struct RequestStorage {
  keycell_ipc_Request req = keycell_ipc_Request_init_zero;
};

void CopyString(char* dst, size_t cap, std::string_view s) {
  const size_t n = s.size() < cap - 1 ? s.size() : cap - 1;
  memcpy(dst, s.data(), n);
  dst[n] = '\0';
}

// Status::where must outlive every Status: the enclave's reasons (a small fixed set of
// literals on its side) are interned here, at most kMaxInterned distinct ones.
const char* Intern(const char* text) {
  static std::mutex mu;
  static std::set<std::string, std::less<>> interned;
  constexpr size_t kMaxInterned = 512;
  std::lock_guard<std::mutex> lock(mu);
  auto it = interned.find(std::string_view(text));
  if (it != interned.end()) return it->c_str();
  if (interned.size() >= kMaxInterned) return "enclave error";
  return interned.emplace(text).first->c_str();
}

bool WaitExited(pid_t pid, int timeout_ms, int* status) {
  for (int waited = 0; waited <= timeout_ms; waited += 10) {
    const pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) return true;
    const timespec ts{0, 10 * 1000 * 1000};
    nanosleep(&ts, nullptr);
  }
  return false;
}

}  // namespace

keycell::Status StatusOfResponse(const keycell_ipc_Response& resp) {
  if (resp.status == 0) return keycell::Status::Ok();
  const Err code = resp.status > 0 && resp.status <= static_cast<int32_t>(Err::kUnavailable)
                       ? static_cast<Err>(resp.status)
                       : Err::kInternal;
  return keycell::Status(code, Intern(resp.error), resp.detail);
}

Result<std::unique_ptr<EnclaveClient>> EnclaveClient::Start(EnclaveLaunch launch) {
  std::unique_ptr<EnclaveClient> c(new EnclaveClient(std::move(launch)));
  std::lock_guard<std::mutex> lock(c->mu_);
  KC_RETURN_IF_ERROR(c->SpawnLocked());
  return c;
}

EnclaveClient::~EnclaveClient() {
  std::lock_guard<std::mutex> lock(mu_);
  ReapLocked(false);
}

keycell::Status EnclaveClient::SpawnLocked() {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return keycell::Status(Err::kUnavailable, "socketpair", errno);
  UniqueFd mine(sv[0]), theirs(sv[1]);

  // Everything the child needs is built before fork(): after it, only
  // async-signal-safe calls (dup2, execve, _exit).
  std::vector<std::string> args = {
      launch_.enclave_path, "--control-fd",      std::to_string(kControlFdInChild),
      "--module",           launch_.module_path, "--token",
      launch_.token_label};
  for (const auto& d : launch_.token_dirs) args.insert(args.end(), {"--token-dir", d});
  for (const auto& f : launch_.read_files) args.insert(args.end(), {"--read-file", f});
  if (!launch_.system_ca_file.empty()) args.insert(args.end(), {"--system-ca", launch_.system_ca_file});
  if (!launch_.extra_ca_file.empty()) args.insert(args.end(), {"--extra-ca", launch_.extra_ca_file});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env;
  for (const auto& [k, v] : launch_.env) env.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  const pid_t pid = fork();
  if (pid < 0) return keycell::Status(Err::kUnavailable, "fork", errno);
  if (pid == 0) {
    // dup2 clears FD_CLOEXEC on the target; if the socket already is fd 3, clear it by hand.
    if (theirs.get() == kControlFdInChild) {
      fcntl(kControlFdInChild, F_SETFD, 0);
    } else if (dup2(theirs.get(), kControlFdInChild) < 0) {
      _exit(127);
    }
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  theirs.reset();
  sock_ = std::move(mine);
  pid_ = pid;
  unlocked_ = false;
  if (started_once_ && !exit_expected_) {
    ++restarts_;
    fprintf(stderr, "keycelld: enclave restarted (pid %d, restart %d): vault is locked\n", pid,
            restarts_);
  }
  started_once_ = true;
  exit_expected_ = false;

  // The peer is the child we just started: nobody else ever held the other end of
  // this socketpair. SO_PEERCRED on a socketpair reports its creator (us), so the
  // check that remains meaningful is the uid (cf. ssh-agent's getpeereid check).
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(sock_.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != getuid()) {
    ReapLocked(true);
    return keycell::Status(Err::kUnavailable, "enclave peer check failed");
  }
  RequestStorage s;
  s.req.which_body = keycell_ipc_Request_hello_tag;
  s.req.body.hello.protocol_version = ipc::kProtocolVersion;
  Reply reply;
  KC_RETURN_IF_ERROR(CallLocked(&s.req, {}, -1, keycell_ipc_Response_status_info_tag,
                                launch_.call_timeout_ms, &reply));
  NoteStatus(reply.resp.body.status_info);
  return keycell::Status::Ok();
}

void EnclaveClient::ReapLocked(bool kill_first) {
  if (sock_.valid()) ++generation_;
  sock_.reset();  // EOF on the control socket ends a healthy enclave
  if (pid_ <= 0) return;
  if (kill_first) kill(pid_, SIGKILL);
  int status = 0;
  if (!WaitExited(pid_, kReapGraceMs, &status)) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
  }
  pid_ = -1;
  unlocked_ = false;
}

keycell::Status EnclaveClient::EnsureRunningLocked() {
  if (sock_.valid()) return keycell::Status::Ok();
  return SpawnLocked();
}

keycell::Status EnclaveClient::CallLocked(keycell_ipc_Request* req,
                                          std::span<const ByteView> attachments, int fd,
                                          pb_size_t expected_body, int timeout_ms, Reply* reply) {
  keycell_ipc_Response* resp = &reply->resp;
  ipc::Frame* frame = &reply->frame;
  ipc::Attachments* att = &reply->att;
  req->seq = next_seq_++;
  keycell::Status st = ipc::SendRequest(sock_.get(), req, attachments, fd, timeout_ms);
  if (st.ok()) {
    auto got = ipc::RecvFrame(sock_.get(), timeout_ms);
    if (got.ok()) {
      *frame = std::move(*got);
      st = ipc::ParseResponse(frame->payload.view().bytes(), resp, att);
      if (st.ok() && (resp->seq != req->seq || frame->fd.valid()))
        st = keycell::Status(Err::kBadFrame, "enclave response out of protocol");
      if (st.ok() && resp->status == 0 && resp->which_body != expected_body)
        st = keycell::Status(Err::kBadFrame, "enclave response of the wrong kind");
    } else {
      st = got.status();
    }
  }
  if (!st.ok()) {
    fprintf(stderr, "keycelld: enclave call failed (%s: %s); restarting it\n", ErrName(st.code()),
            st.where());
    ReapLocked(true);
    return keycell::Status(Err::kUnavailable, "enclave restarted");
  }
  return StatusOfResponse(*resp);
}

keycell::Status EnclaveClient::CallUnlockedLocked(keycell_ipc_Request* req,
                                                  std::span<const ByteView> attachments, int fd,
                                                  pb_size_t expected_body, Reply* reply) {
  KC_RETURN_IF_ERROR(EnsureRunningLocked());
  KC_RETURN_IF_ERROR(RequireUnlockedLocked());
  return CallLocked(req, attachments, fd, expected_body, launch_.call_timeout_ms, reply);
}

keycell::Status EnclaveClient::RequireUnlockedLocked() const {
  return unlocked_ ? keycell::Status::Ok() : keycell::Status(Err::kLocked, "vault is locked");
}

void EnclaveClient::NoteStatus(const keycell_ipc_StatusInfo& info) { unlocked_ = info.unlocked; }

Result<EnclaveStatus> EnclaveClient::Status() {
  std::lock_guard<std::mutex> lock(mu_);
  KC_RETURN_IF_ERROR(EnsureRunningLocked());
  RequestStorage s;
  s.req.which_body = keycell_ipc_Request_status_tag;
  Reply reply;
  KC_RETURN_IF_ERROR(CallLocked(&s.req, {}, -1, keycell_ipc_Response_status_info_tag,
                                launch_.call_timeout_ms, &reply));
  const keycell_ipc_StatusInfo& i = reply.resp.body.status_info;
  NoteStatus(i);
  return EnclaveStatus{i.unlocked, i.token_label, i.token_model, i.aes_gcm, i.sandbox_stage};
}

keycell::Status EnclaveClient::Unlock(SecretView pin) {
  std::lock_guard<std::mutex> lock(mu_);
  KC_RETURN_IF_ERROR(EnsureRunningLocked());
  if (unlocked_) return keycell::Status::Ok();
  RequestStorage s;
  s.req.which_body = keycell_ipc_Request_unlock_tag;
  const ByteView att_pin[] = {pin.bytes()};
  Reply reply;
  KC_RETURN_IF_ERROR(CallLocked(&s.req, att_pin, -1, keycell_ipc_Response_status_info_tag,
                                launch_.unlock_timeout_ms, &reply));
  NoteStatus(reply.resp.body.status_info);
  return keycell::Status::Ok();
}

keycell::Status EnclaveClient::UnlockFromFd(int fd) {
  std::lock_guard<std::mutex> lock(mu_);
  KC_RETURN_IF_ERROR(EnsureRunningLocked());
  if (unlocked_) return keycell::Status::Ok();
  RequestStorage s;
  s.req.which_body = keycell_ipc_Request_unlock_tag;
  s.req.body.unlock.pin_from_fd = true;
  Reply reply;
  KC_RETURN_IF_ERROR(CallLocked(&s.req, {}, fd, keycell_ipc_Response_status_info_tag,
                                launch_.unlock_timeout_ms, &reply));
  NoteStatus(reply.resp.body.status_info);
  return keycell::Status::Ok();
}

keycell::Status EnclaveClient::Lock() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!sock_.valid()) return keycell::Status::Ok();  // no enclave: nothing unlocked
  RequestStorage s;
  s.req.which_body = keycell_ipc_Request_lock_tag;
  Reply reply;
  KC_RETURN_IF_ERROR(CallLocked(&s.req, {}, -1, keycell_ipc_Response_status_info_tag,
                                launch_.call_timeout_ms, &reply));
  exit_expected_ = true;
  ReapLocked(false);  // it exits by itself after the reply
  return keycell::Status::Ok();
}

Result<Sealed> EnclaveClient::Seal(const RecordRef& ref, const Policy& policy, SecretView secret) {
  std::lock_guard<std::mutex> lock(mu_);
  return SealLocked(ref, policy, secret, -1);
}

Result<Sealed> EnclaveClient::SealFromFd(const RecordRef& ref, const Policy& policy,
                                         int secret_fd) {
  std::lock_guard<std::mutex> lock(mu_);
  return SealLocked(ref, policy, SecretView(), secret_fd);
}

namespace {

Result<Sealed> SealedFrom(const keycell_ipc_Response& resp, const ipc::Attachments& att) {
  if (att.count != 1 || resp.body.sealed.fingerprint.size != 16)
    return keycell::Status(Err::kBadFrame, "seal: malformed response");
  Sealed out;
  out.blob.assign(att[0].begin(), att[0].end());
  memcpy(out.fingerprint.data(), resp.body.sealed.fingerprint.bytes, 16);
  return out;
}

}  // namespace

Result<Sealed> EnclaveClient::SealLocked(const RecordRef& ref, const Policy& policy,
                                         SecretView secret, int fd) {
  RequestStorage s;
  s.req.which_body = keycell_ipc_Request_seal_tag;
  keycell_ipc_Seal& r = s.req.body.seal;
  r.has_ref = r.has_policy = true;
  r.ref = ref;
  r.policy = policy;
  r.secret_from_fd = fd >= 0;
  const ByteView att_in[] = {secret.bytes()};
  Reply reply;
  KC_RETURN_IF_ERROR(CallUnlockedLocked(&s.req, fd >= 0 ? std::span<const ByteView>() : att_in, fd,
                                        keycell_ipc_Response_sealed_tag, &reply));
  return SealedFrom(reply.resp, reply.att);
}

Result<Sealed> EnclaveClient::Reseal(const ResealArgs& a) {
  std::lock_guard<std::mutex> lock(mu_);
  RequestStorage s;
  s.req.which_body = keycell_ipc_Request_reseal_tag;
  keycell_ipc_Reseal& r = s.req.body.reseal;
  r.has_ref = r.has_new_ref = true;
  r.ref = a.ref;
  r.new_ref = a.new_ref;
  r.secret_from_fd = a.new_secret_fd >= 0;
  if (a.policy != nullptr) {
    r.has_policy = true;
    r.policy = *a.policy;
  }
  const ByteView att_in[] = {a.blob, a.new_secret.bytes(), a.pin.bytes()};
  Reply reply;
  KC_RETURN_IF_ERROR(
      CallUnlockedLocked(&s.req, att_in, a.new_secret_fd, keycell_ipc_Response_sealed_tag, &reply));
  return SealedFrom(reply.resp, reply.att);
}

namespace {

void FillReveal(keycell_ipc_Request* req, const RecordRef& ref, std::string_view purpose,
                std::string_view agent_id, bool to_fd) {
  req->which_body = keycell_ipc_Request_reveal_tag;
  keycell_ipc_Reveal& r = req->body.reveal;
  r.has_ref = true;
  r.ref = ref;
  r.to_fd = to_fd;
  CopyString(r.purpose, sizeof(r.purpose), purpose);
  CopyString(r.agent_id, sizeof(r.agent_id), agent_id);
}

}  // namespace

Result<SecureBuffer> EnclaveClient::Reveal(const RecordRef& ref, ByteView blob,
                                           std::string_view purpose, std::string_view agent_id) {
  std::lock_guard<std::mutex> lock(mu_);
  RequestStorage s;
  FillReveal(&s.req, ref, purpose, agent_id, false);
  const ByteView att_in[] = {blob};
  Reply reply;
  KC_RETURN_IF_ERROR(
      CallUnlockedLocked(&s.req, att_in, -1, keycell_ipc_Response_revealed_tag, &reply));
  if (reply.att.count != 1) return keycell::Status(Err::kBadFrame, "reveal: no secret in response");
  return SecureBuffer::CopyOf(reply.att[0]);  // frame (locked memory) is wiped when it goes
}

keycell::Status EnclaveClient::RevealToFd(const RecordRef& ref, ByteView blob,
                                          std::string_view purpose, std::string_view agent_id,
                                          int fd) {
  std::lock_guard<std::mutex> lock(mu_);
  RequestStorage s;
  FillReveal(&s.req, ref, purpose, agent_id, true);
  const ByteView att_in[] = {blob};
  Reply reply;
  return CallUnlockedLocked(&s.req, att_in, fd, keycell_ipc_Response_revealed_tag, &reply);
}

Result<WriteEnvOutcome> EnclaveClient::WriteEnv(int fd, std::span<const EnvItem> items,
                                                EnvFormat format) {
  if (items.size() > ipc::kMaxAttachments)
    return keycell::Status(Err::kTooLarge, "env: too many entries");
  std::lock_guard<std::mutex> lock(mu_);
  RequestStorage s;
  s.req.which_body = keycell_ipc_Request_write_env_tag;
  keycell_ipc_WriteEnv& w = s.req.body.write_env;
  w.format = format == EnvFormat::kNulRecords ? keycell_ipc_EnvFormat_ENV_NUL_RECORDS
                                              : keycell_ipc_EnvFormat_ENV_DOTENV;
  std::vector<ByteView> blobs;
  for (const EnvItem& it : items) {
    keycell_ipc_EnvEntry& e = w.entries[w.entries_count++];
    e.has_ref = true;
    e.ref = it.ref;
    CopyString(e.env_name, sizeof(e.env_name), it.env_name);
    blobs.push_back(it.blob);
  }
  Reply reply;
  KC_RETURN_IF_ERROR(
      CallUnlockedLocked(&s.req, blobs, fd, keycell_ipc_Response_env_written_tag, &reply));
  WriteEnvOutcome out;
  out.written = reply.resp.body.env_written.written;
  for (pb_size_t i = 0; i < reply.resp.body.env_written.skipped_count; ++i)
    out.skipped.emplace_back(reply.resp.body.env_written.skipped[i]);
  return out;
}

Result<std::array<uint8_t, 32>> EnclaveClient::Hmac(const RecordRef& ref, ByteView blob,
                                                    ByteView data) {
  std::lock_guard<std::mutex> lock(mu_);
  RequestStorage s;
  s.req.which_body = keycell_ipc_Request_hmac_tag;
  s.req.body.hmac.has_ref = true;
  s.req.body.hmac.ref = ref;
  const ByteView att_in[] = {blob, data};
  Reply reply;
  KC_RETURN_IF_ERROR(CallUnlockedLocked(&s.req, att_in, -1, keycell_ipc_Response_hmac_tag, &reply));
  if (reply.resp.body.hmac.mac.size != 32)
    return keycell::Status(Err::kBadFrame, "hmac: bad length");
  std::array<uint8_t, 32> mac;
  memcpy(mac.data(), reply.resp.body.hmac.mac.bytes, 32);
  return mac;
}

Result<Sealed> EnclaveClient::Generate(const RecordRef& ref, const Policy& policy, uint32_t length,
                                       std::string_view alphabet, int reveal_fd) {
  RequestStorage s;
  keycell_ipc_Generate& g = s.req.body.generate;
  // Refuses here only what the request cannot carry faithfully (a longer or NUL-holding
  // alphabet would arrive truncated); the enclave judges everything else.
  if (alphabet.size() >= sizeof(g.alphabet))
    return keycell::Status(Err::kInvalidArgument, "generate: alphabet must be 1..256 bytes");
  if (alphabet.find('\0') != std::string_view::npos)
    return keycell::Status(Err::kInvalidArgument, "generate: alphabet must be printable ASCII");
  s.req.which_body = keycell_ipc_Request_generate_tag;
  g.has_ref = g.has_policy = true;
  g.ref = ref;
  g.policy = policy;
  g.length = length;
  CopyString(g.alphabet, sizeof(g.alphabet), alphabet);
  g.reveal_to_fd = reveal_fd >= 0;
  std::lock_guard<std::mutex> lock(mu_);
  Reply reply;
  KC_RETURN_IF_ERROR(
      CallUnlockedLocked(&s.req, {}, reveal_fd, keycell_ipc_Response_sealed_tag, &reply));
  return SealedFrom(reply.resp, reply.att);
}

int EnclaveClient::restarts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return restarts_;
}

pid_t EnclaveClient::pid() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pid_;
}

bool EnclaveClient::unlocked() const {
  std::lock_guard<std::mutex> lock(mu_);
  return unlocked_;
}

Result<UniqueFd> EnclaveClient::OpenChannel(uint64_t* generation) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return keycell::Status(Err::kUnavailable, "proxy: socketpair", errno);
  UniqueFd mine(sv[0]), theirs(sv[1]);
  std::lock_guard<std::mutex> lock(mu_);
  RequestStorage s;
  s.req.which_body = keycell_ipc_Request_open_channel_tag;
  Reply reply;
  KC_RETURN_IF_ERROR(CallUnlockedLocked(&s.req, {}, theirs.get(), 0, &reply));
  *generation = generation_;
  return mine;
}

uint64_t EnclaveClient::generation() const {
  std::lock_guard<std::mutex> lock(mu_);
  return generation_;
}

}  // namespace keycell::broker

// Seeds for ipc_request_fuzzer: one per request-table row and per refusal or fatal
// path that row has (dispatch.cc asks for a seed with every new row).

#include "fuzz/seed_builders.h"

namespace keycell::enclave::seeds {

namespace {

keycell_ipc_Request GenerateReq(const RecordRef& ref, const Policy& p, uint32_t length,
                                const char* alphabet, bool to_fd = false) {
  auto r = Req(keycell_ipc_Request_generate_tag);
  keycell_ipc_Generate& g = r.body.generate;
  g.has_ref = g.has_policy = true;
  g.ref = ref;
  g.policy = p;
  g.length = length;
  snprintf(g.alphabet, sizeof(g.alphabet), "%s", alphabet);
  g.reveal_to_fd = to_fd;
  return r;
}

void GenerateSeeds(const RecordRef& ref, const Policy& open, const Policy& expired) {
  std::string printable;
  for (char c = ' '; c <= '~'; ++c) printable += c;
  const std::string full = printable + printable + printable.substr(0, 66);  // 256 bytes
  Ipc("generate_alphabet", kUnlocked, Body(GenerateReq(ref, open, 32, "0123456789abcdef")));
  Ipc("generate_raw", kUnlocked, Body(GenerateReq(ref, open, 32, "")));
  Ipc("generate_max", kUnlocked, Body(GenerateReq(ref, open, 4096, full.c_str())));
  Ipc("generate_length_zero", kUnlocked, Body(GenerateReq(ref, open, 0, "")));
  Ipc("generate_length_too_large", kUnlocked, Body(GenerateReq(ref, open, 4097, "ab")));
  Ipc("generate_alphabet_one_char", kUnlocked, Body(GenerateReq(ref, open, 8, "a")));
  Ipc("generate_alphabet_duplicates_only", kUnlocked, Body(GenerateReq(ref, open, 8, "zzzz")));
  Ipc("generate_alphabet_non_ascii", kUnlocked, Body(GenerateReq(ref, open, 8, "ab\xc3\xa9")));
  Ipc("generate_alphabet_control", kUnlocked, Body(GenerateReq(ref, open, 8, "ab\r\n")));
  Ipc("generate_expired", kUnlocked, Body(GenerateReq(ref, expired, 8, "")));
  Ipc("generate_empty_ref", kUnlocked, Body(GenerateReq(MakeRef("", 0, ""), open, 8, "")));
  Ipc("generate_locked", kHello, Body(GenerateReq(ref, open, 8, "")));
  Ipc("generate_with_attachment", kUnlocked, Body(GenerateReq(ref, open, 8, ""), {Str("x")}));
  const auto to_fd = GenerateReq(ref, open, 40, "0123456789abcdef", true);
  Ipc("generate_reveal_to_fd", kUnlocked | kFd | kMemfd, Body(to_fd));
  Ipc("generate_reveal_to_socket", kUnlocked | kFd | kSock, Body(to_fd));
  Ipc("generate_reveal_to_closed_pipe", kUnlocked | kFd | kDeadPipe, Body(to_fd));
  Ipc("generate_reveal_to_fd_missing", kUnlocked, Body(to_fd));
  Ipc("generate_unexpected_fd", kUnlocked | kFd | kMemfd, Body(GenerateReq(ref, open, 8, "")));
  Ipc("multi_generate_twice", kUnlocked | kMulti,
      Frames({Body(GenerateReq(ref, open, 16, "ab")), Body(GenerateReq(ref, open, 16, ""))}));
}

}  // namespace

void IpcSeeds() {
  const RecordRef ref = MakeRef("cred-1", 1, "openai");
  Policy open = MakePolicy({"api.example.com"});
  open.reveal = open.env_export = true;
  const Bytes blob = Seal(ref, open, Str("sk-live-\"quoted\"\nline2-$HOME"));
  Policy agents = open;
  strcpy(agents.reveal_agents[agents.reveal_agents_count++], "agent-1");
  const Bytes agent_blob = Seal(ref, agents, Str("sk-agent"));
  const Bytes closed_blob = Seal(ref, MakePolicy({"api.example.com"}), Str("sk-closed"));
  Policy expired = open;
  expired.expires_at = 1;
  const Bytes expired_blob = Seal(ref, expired, Str("sk-old"));
  Bytes tampered = blob;
  tampered[30] ^= 1;

  Ipc("hello", kFresh, Hello());
  Ipc("hello_bad_version", kFresh, Hello(99));
  Ipc("hello_repeated", kHello, Hello());
  Ipc("status_before_hello", kFresh, Body(Req(keycell_ipc_Request_status_tag)));
  Ipc("status", kHello, Body(Req(keycell_ipc_Request_status_tag)));
  Ipc("status_unlocked", kUnlocked, Body(Req(keycell_ipc_Request_status_tag)));
  Ipc("status_with_fd", kHello | kFd, Body(Req(keycell_ipc_Request_status_tag)));
  Ipc("unknown_request", kHello, Body(Req(0)));
  Ipc("trailing_bytes", kFresh, Cat({Hello(), Str("x")}));
  Ipc("bad_header_len", kFresh, U32(0xffffffff));
  // Hand-encoded header: attachment_sizes = [100] (field 2, unpacked), no attachment.
  Ipc("attachment_sizes_exceed", kHello, Cat({U32(2), Bytes{0x10, 0x64}}));

  Ipc("unlock", kHello, Body(Req(keycell_ipc_Request_unlock_tag), {Str("1234")}));
  Ipc("unlock_wrong_pin", kHello, Body(Req(keycell_ipc_Request_unlock_tag), {Str("0000")}));
  Ipc("unlock_when_unlocked", kUnlocked, Body(Req(keycell_ipc_Request_unlock_tag), {Str("1234")}));
  auto from_fd = Req(keycell_ipc_Request_unlock_tag);
  from_fd.body.unlock.pin_from_fd = true;
  Ipc("unlock_from_fd", kHello | kFd | kMemfd, Body(from_fd), Str("1234\n"));
  Ipc("unlock_from_pipe_crlf", kHello | kFd | kPipe, Body(from_fd), Str("1234\r\n"));
  Ipc("unlock_from_closed_socket", kHello | kFd | kSock, Body(from_fd));
  Ipc("unlock_from_fd_missing", kHello, Body(from_fd));
  Ipc("lock", kUnlocked, Body(Req(keycell_ipc_Request_lock_tag)));
  // The fuzzer's state has no channel opener: refused, never a thread.
  Ipc("open_channel", kUnlocked | kFd | kSock, Body(Req(keycell_ipc_Request_open_channel_tag)));
  Ipc("open_channel_no_fd", kUnlocked, Body(Req(keycell_ipc_Request_open_channel_tag)));
  Ipc("open_channel_locked", kHello | kFd | kSock, Body(Req(keycell_ipc_Request_open_channel_tag)));
  Ipc("proxy_start_on_control", kUnlocked, Body(Req(keycell_ipc_Request_proxy_start_tag)));

  Ipc("seal_minimal", kUnlocked, SealReq(ref, MakePolicy({"api.example.com"}), Str("sk-test-123")));
  Ipc("seal_header_injection", kUnlocked,
      SealReq(ref,
              MakePolicy({"api.example.com"}, keycell_ipc_InjectKind_INJECT_HEADER, "X-Api-Key",
                         "Token "),
              Str("k")));
  Ipc("seal_full_policy", kUnlocked, SealReq(ref, Full(), Str("sk-full")));
  Ipc("seal_empty_secret", kUnlocked, SealReq(ref, open, {}));
  Ipc("seal_locked", kHello, SealReq(ref, open, Str("x")));
  Ipc("seal_expired", kUnlocked, SealReq(ref, expired, Str("x")));
  Ipc("seal_empty_ref", kUnlocked, SealReq(MakeRef("", 0, ""), open, Str("x")));
  auto from_pipe = Req(keycell_ipc_Request_seal_tag);
  from_pipe.body.seal.has_ref = from_pipe.body.seal.has_policy =
      from_pipe.body.seal.secret_from_fd = true;
  from_pipe.body.seal.ref = ref;
  from_pipe.body.seal.policy = open;
  Ipc("seal_secret_from_pipe", kUnlocked | kFd | kPipe, Body(from_pipe), Str("sk-from-pipe"));
  Ipc("seal_secret_from_fd_64k", kUnlocked | kFd | kMemfd | kPad64k, Body(from_pipe));
  Ipc("seal_secret_from_fd_too_large", kUnlocked | kFd | kPipe | kPad64k, Body(from_pipe),
      Str("x"));
  Ipc("seal_secret_from_closed_socket", kUnlocked | kFd | kSock, Body(from_pipe));
  Ipc("seal_secret_from_fd_missing", kUnlocked, Body(from_pipe));
  Ipc("seal_secret_twice", kUnlocked | kFd | kPipe, Body(from_pipe, {Str("x")}), Str("y"));
  Ipc("oversized_attachment", kUnlocked, SealReq(ref, open, Bytes(kMaxSecretBytes + 1, 'a')));
  Ipc("crlf_in_host", kUnlocked,
      SealReq(ref, MakePolicy({"api.example.com\r\nX-Evil: 1"}), Str("x")));
  Ipc("crlf_in_header_prefix", kUnlocked,
      SealReq(
          ref,
          MakePolicy({"a.example.com"}, keycell_ipc_InjectKind_INJECT_HEADER, "X-K", "B\r\nX: y"),
          Str("x")));

  Ipc("reveal", kUnlocked, RevealReq(ref, blob, "debugging", ""));
  Ipc("reveal_with_agent", kUnlocked, RevealReq(ref, agent_blob, "tool call", "agent-1"));
  Ipc("reveal_wrong_agent", kUnlocked, RevealReq(ref, agent_blob, "tool call", "agent-2"));
  Ipc("reveal_no_purpose", kUnlocked, RevealReq(ref, blob, " \t", ""));
  Ipc("reveal_not_allowed", kUnlocked, RevealReq(ref, closed_blob, "p", ""));
  Ipc("reveal_expired", kUnlocked, RevealReq(ref, expired_blob, "p", ""));
  Ipc("reveal_tampered", kUnlocked, RevealReq(ref, tampered, "p", ""));
  auto to_fd = Req(keycell_ipc_Request_reveal_tag);
  to_fd.body.reveal.has_ref = to_fd.body.reveal.to_fd = true;
  to_fd.body.reveal.ref = ref;
  strcpy(to_fd.body.reveal.purpose, "cli");
  Ipc("reveal_to_fd", kUnlocked | kFd | kMemfd, Body(to_fd, {blob}));
  Ipc("reveal_to_socket", kUnlocked | kFd | kSock, Body(to_fd, {blob}));
  Ipc("reveal_to_closed_pipe", kUnlocked | kFd | kDeadPipe, Body(to_fd, {blob}));
  Ipc("reveal_to_fd_missing", kUnlocked, Body(to_fd, {blob}));
  Ipc("reveal_wrong_ref", kUnlocked, RevealReq(MakeRef("cred-1", 2, "openai"), blob, "p", ""));

  auto env = Req(keycell_ipc_Request_write_env_tag);
  env.body.write_env.entries_count = 2;
  for (int i = 0; i < 2; ++i) {
    env.body.write_env.entries[i].has_ref = true;
    env.body.write_env.entries[i].ref = ref;
  }
  strcpy(env.body.write_env.entries[0].env_name, "OPENAI_API_KEY");
  strcpy(env.body.write_env.entries[1].env_name, "AGENT_KEY");
  Ipc("write_env_two", kUnlocked | kFd | kMemfd, Body(env, {blob, agent_blob}));
  Ipc("write_env_not_exported", kUnlocked | kFd | kMemfd, Body(env, {blob, closed_blob}));
  Ipc("write_env_tampered", kUnlocked | kFd | kMemfd, Body(env, {blob, tampered}));
  Ipc("write_env_to_socket", kUnlocked | kFd | kSock, Body(env, {blob, agent_blob}));
  Ipc("write_env_closed_pipe", kUnlocked | kFd | kDeadPipe, Body(env, {blob, agent_blob}));
  Ipc("write_env_no_fd", kUnlocked, Body(env, {blob, agent_blob}));
  env.body.write_env.format = keycell_ipc_EnvFormat_ENV_NUL_RECORDS;
  Ipc("write_env_nul_records", kUnlocked | kFd | kMemfd, Body(env, {blob, agent_blob}));
  const int32_t unknown_format = 7;  // as a peer may send it; not a valid enum value in C++
  memcpy(&env.body.write_env.format, &unknown_format, sizeof(unknown_format));
  Ipc("write_env_unknown_format", kUnlocked | kFd | kMemfd, Body(env, {blob, agent_blob}));
  env.body.write_env.format = keycell_ipc_EnvFormat_ENV_DOTENV;
  strcpy(env.body.write_env.entries[1].env_name, "1BAD");
  Ipc("write_env_bad_name", kUnlocked | kFd | kMemfd, Body(env, {blob, agent_blob}));

  auto hmac = Req(keycell_ipc_Request_hmac_tag);
  hmac.body.hmac.has_ref = true;
  hmac.body.hmac.ref = ref;
  Ipc("hmac", kUnlocked, Body(hmac, {blob, Str("payload")}));
  Ipc("hmac_expired_record", kUnlocked, Body(hmac, {expired_blob, Str("payload")}));

  GenerateSeeds(ref, open, expired);

  Policy wider = open;
  strcpy(wider.allowed_hosts[wider.allowed_hosts_count++].host, "evil.example.net");
  const RecordRef v2 = MakeRef("cred-1", 2, "openai");
  Ipc("reseal_keep_policy", kUnlocked, ResealReq(ref, blob, nullptr, ""));
  Ipc("reseal_widen_with_pin", kUnlocked, ResealReq(ref, blob, &wider, "1234"));
  Ipc("reseal_widen_no_pin", kUnlocked, ResealReq(ref, blob, &wider, ""));
  auto reseal_fd = Req(keycell_ipc_Request_reseal_tag);
  reseal_fd.body.reseal.has_ref = reseal_fd.body.reseal.secret_from_fd = true;
  reseal_fd.body.reseal.ref = ref;
  Ipc("reseal_secret_from_fd", kUnlocked | kFd | kPipe, Body(reseal_fd, {blob, {}, {}}),
      Str("sk-rotated"));
  Ipc("reseal_new_secret_and_ref", kUnlocked, ResealReq(ref, blob, nullptr, "", "sk-rotated", &v2));

  const Bytes bad = ResealReq(ref, blob, &wider, "9999");
  Ipc("multi_pin_lockout", kUnlocked | kMulti, Frames({bad, bad, bad, bad, bad, bad}));
  Ipc("multi_session", kFresh | kMulti,
      Frames({Hello(), Body(Req(keycell_ipc_Request_status_tag)),
              Body(Req(keycell_ipc_Request_unlock_tag), {Str("1234")}),
              SealReq(ref, open, Str("sk")), RevealReq(ref, blob, "p", ""),
              Body(Req(keycell_ipc_Request_lock_tag))}));
}

}  // namespace keycell::enclave::seeds

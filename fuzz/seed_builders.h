#pragma once
// Builders shared by make_seeds.cc and make_seeds_ipc.cc: production encoders only
// (EncodeRequestBodyForTest, SealRecord over FakeToken), so a seed is exactly what a
// real peer or store would hold.

#include <pb_encode.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "common/ipc/framing.h"
#include "common/ipc/message.h"
#include "enclave/sealed_record.h"
#include "enclave/testing/fake_token.h"
#include "tests/enclave/test_policies.h"

namespace keycell::enclave::seeds {

using testing::MakePolicy;
using testing::MakeRef;
using Bytes = std::vector<uint8_t>;

inline std::string g_root;  // corpus root from argv[1]
inline int g_written = 0;

inline void Put(const std::string& fuzzer, const std::string& name, const Bytes& b) {
  const std::string dir = g_root + "/" + fuzzer;
  mkdir(dir.c_str(), 0755);
  const std::string path = dir + "/" + name;
  FILE* f = fopen(path.c_str(), "wb");
  KC_CHECK(f != nullptr);
  KC_CHECK(b.empty() || fwrite(b.data(), 1, b.size(), f) == b.size());
  KC_CHECK(fclose(f) == 0);
  ++g_written;
}

inline Bytes Str(std::string_view s) { return Bytes(s.begin(), s.end()); }
inline Bytes Cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
inline Bytes U32(uint32_t v) {
  Bytes b(4);
  PutU32Be(b.data(), v);
  return b;
}

inline SecretView Secret(const Bytes& b) { return SecretView(b.data(), b.size()); }

inline Bytes Seal(const RecordRef& ref, const Policy& p, const Bytes& secret) {
  testing::FakeToken token;
  KC_CHECK(token.Login(Secret(Str(testing::kFakePin))).ok());
  auto blob = SealRecord(token, ref, p, Secret(secret));
  KC_CHECK(blob.ok());
  return *blob;
}

inline keycell_ipc_Request Req(pb_size_t tag) {
  keycell_ipc_Request r = keycell_ipc_Request_init_zero;
  r.which_body = tag;
  r.seq = 7;
  return r;
}
inline Bytes Body(keycell_ipc_Request r, std::initializer_list<Bytes> att = {}) {
  std::vector<ByteView> views;
  for (const Bytes& a : att) views.emplace_back(a);
  Bytes out;
  KC_CHECK(ipc::EncodeRequestBodyForTest(&r, views, &out).ok());
  return out;
}

// ipc_request_fuzzer layout: ctl | n | fd_bytes | body (see ipc_request_fuzzer.cc).
enum : uint8_t {
  kFresh = 0,
  kHello = 1,
  kUnlocked = 2,
  kFd = 4,
  kMemfd = 0,
  kPipe = 8,
  kSock = 16,
  kDeadPipe = 24,
  kMulti = 32,
  kPad64k = 64
};
inline void Ipc(const std::string& name, uint8_t ctl, const Bytes& body,
                const Bytes& fd_bytes = {}) {
  Put("ipc_request_fuzzer", name,
      Cat({Bytes{ctl, static_cast<uint8_t>(fd_bytes.size())}, fd_bytes, body}));
}
inline Bytes Frames(std::initializer_list<Bytes> bodies) {
  Bytes out;
  for (const Bytes& b : bodies) out = Cat({out, U32(static_cast<uint32_t>(b.size())), b});
  return out;
}

inline Bytes Hello(uint32_t v = ipc::kProtocolVersion) {
  auto r = Req(keycell_ipc_Request_hello_tag);
  r.body.hello.protocol_version = v;
  return Body(r);
}
inline Bytes SealReq(const RecordRef& ref, const Policy& p, const Bytes& secret) {
  auto r = Req(keycell_ipc_Request_seal_tag);
  r.body.seal.has_ref = r.body.seal.has_policy = true;
  r.body.seal.ref = ref;
  r.body.seal.policy = p;
  return Body(r, {secret});
}
inline Bytes RevealReq(const RecordRef& ref, const Bytes& blob, const char* purpose,
                       const char* agent) {
  auto r = Req(keycell_ipc_Request_reveal_tag);
  r.body.reveal.has_ref = true;
  r.body.reveal.ref = ref;
  snprintf(r.body.reveal.purpose, sizeof(r.body.reveal.purpose), "%s", purpose);
  snprintf(r.body.reveal.agent_id, sizeof(r.body.reveal.agent_id), "%s", agent);
  return Body(r, {blob});
}
inline Bytes ResealReq(const RecordRef& ref, const Bytes& blob, const Policy* p, const char* pin,
                       const char* secret = "", const RecordRef* new_ref = nullptr) {
  auto r = Req(keycell_ipc_Request_reseal_tag);
  r.body.reseal.has_ref = r.body.reseal.has_new_ref = true;
  r.body.reseal.ref = ref;
  r.body.reseal.new_ref = new_ref ? *new_ref : ref;
  if (p) {
    r.body.reseal.has_policy = true;
    r.body.reseal.policy = *p;
  }
  return Body(r, {blob, Str(secret), Str(pin)});
}

inline Policy Full() {
  Policy p = MakePolicy({"api.example.com", "*.svc.example.org", "localhost"},
                        keycell_ipc_InjectKind_INJECT_HEADER, "X-Api-Key", "Token ");
  p.allowed_hosts[1].port = 8443;
  strcpy(p.insecure_http_hosts[p.insecure_http_hosts_count++], "localhost");
  p.reveal = p.env_export = true;
  strcpy(p.reveal_agents[p.reveal_agents_count++], "agent-1");
  strcpy(p.reveal_agents[p.reveal_agents_count++], "ci.bot_2");
  p.expires_at = 4102444800;  // 2100-01-01
  return p;
}

void IpcSeeds();
void ChannelSeeds();  // make_seeds_channel.cc

}  // namespace keycell::enclave::seeds

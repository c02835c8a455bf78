// Seeds for proxy_channel_fuzzer (layout in proxy_channel_fuzzer.cc): one exchange per
// seed, from a clean GET to a refusal at each step the enclave takes.

#include "fuzz/seed_builders.h"

namespace keycell::enclave::seeds {
namespace {

constexpr char kSecret[] = "sk-fuzz-secret-0123456789";

Bytes Start(const RecordRef& ref, const Bytes& blob, const char* host, uint32_t port, bool https,
            const char* method, const char* path, const Bytes& headers,
            keycell_ipc_BodyFraming framing = keycell_ipc_BodyFraming_BODY_NONE, uint64_t length = 0) {
  auto r = Req(keycell_ipc_Request_proxy_start_tag);
  keycell_ipc_ProxyStart& s = r.body.proxy_start;
  s.has_ref = true;
  s.ref = ref;
  s.https = https;
  snprintf(s.host, sizeof(s.host), "%s", host);
  s.port = port;
  snprintf(s.method, sizeof(s.method), "%s", method);
  s.framing = framing;
  s.content_length = length;
  return Body(r, {blob, Str(path), headers});
}

Bytes Socket() { return Body(Req(keycell_ipc_Request_proxy_socket_tag)); }

Bytes BodyFrame(const char* data, bool last) {
  auto r = Req(keycell_ipc_Request_proxy_body_tag);
  r.body.proxy_body.last = last;
  return Body(r, {Str(data)});
}

Bytes Field(const char* name, const char* value) {
  Bytes b = Str(name);
  b.push_back(0);
  b = Cat({b, Str(value)});
  b.push_back(0);
  return b;
}

void Channel(const std::string& name, uint8_t ctl, const std::string& upstream,
             std::initializer_list<Bytes> frames) {
  const Bytes up = Str(upstream);
  Put("proxy_channel_fuzzer", name,
      Cat({Bytes{ctl, static_cast<uint8_t>(up.size() >> 8), static_cast<uint8_t>(up.size())}, up,
           Frames(frames)}));
}

}  // namespace

void ChannelSeeds() {
  const RecordRef ref = MakeRef("cred-1", 1, "plain");
  Policy plain = MakePolicy({"plain.example.com"});
  snprintf(plain.insecure_http_hosts[0], sizeof(plain.insecure_http_hosts[0]), "plain.example.com");
  plain.insecure_http_hosts_count = 1;
  const Bytes blob = Seal(ref, plain, Str(kSecret));
  Policy query = MakePolicy({"plain.example.com"}, keycell_ipc_InjectKind_INJECT_QUERY, "key");
  query.insecure_http_hosts[0][0] = 0;
  snprintf(query.insecure_http_hosts[0], sizeof(query.insecure_http_hosts[0]), "plain.example.com");
  query.insecure_http_hosts_count = 1;
  const Bytes query_blob = Seal(ref, query, Str(kSecret));
  const Bytes hdrs = Cat({Field("Accept", "*/*"), Field("X-Trace", "1")});
  const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
  const std::string echo = std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Echo: ") + kSecret +
                           "\r\n\r\n8\r\nsk-fuzz-\r\n11\r\nsecret-0123456789\r\n0\r\n\r\n";

  Channel("get_ok", 1, ok, {Start(ref, blob, "plain.example.com", 80, false, "GET", "/v1/x?a=1", hdrs), Socket()});
  Channel("get_echo_redacted", 1, echo,
          {Start(ref, blob, "plain.example.com", 80, false, "GET", "/echo", hdrs), Socket()});
  Channel("get_close_delimited", 1, "HTTP/1.0 200 OK\r\n\r\nuntil close",
          {Start(ref, blob, "plain.example.com", 80, false, "GET", "/", {}), Socket()});
  Channel("head_request", 1, "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n",
          {Start(ref, blob, "plain.example.com", 80, false, "HEAD", "/", {}), Socket()});
  Channel("post_length_body", 1, ok,
          {Start(ref, blob, "plain.example.com", 80, false, "POST", "/p", hdrs,
                 keycell_ipc_BodyFraming_BODY_LENGTH, 10),
           Socket(), BodyFrame("01234", false), BodyFrame("56789", true)});
  Channel("post_chunked_body", 1, ok,
          {Start(ref, blob, "plain.example.com", 80, false, "PUT", "/p", hdrs,
                 keycell_ipc_BodyFraming_BODY_CHUNKED),
           Socket(), BodyFrame("abc", false), BodyFrame("", true)});
  Channel("body_longer_than_length", 1, ok,
          {Start(ref, blob, "plain.example.com", 80, false, "POST", "/p", {}, keycell_ipc_BodyFraming_BODY_LENGTH, 2),
           Socket(), BodyFrame("too long", true)});
  Channel("query_recipe", 1, ok,
          {Start(ref, query_blob, "plain.example.com", 80, false, "GET", "/q?key=caller&b=2", {}), Socket()});
  Channel("broker_could_not_connect", 0, "",
          {Start(ref, blob, "plain.example.com", 80, false, "GET", "/", {}), Socket()});
  Channel("host_not_allowed", 0, "", {Start(ref, blob, "evil.example.com", 80, false, "GET", "/", {})});
  Channel("https_without_trust", 0, "", {Start(ref, blob, "plain.example.com", 443, true, "GET", "/", {})});
  Channel("crlf_in_header", 0, "",
          {Start(ref, blob, "plain.example.com", 80, false, "GET", "/", Field("X-A", "b\r\nEvil: 1"))});
  Channel("odd_header_block", 0, "", {Start(ref, blob, "plain.example.com", 80, false, "GET", "/", Str("X-A"))});
  Channel("trace_refused", 0, "", {Start(ref, blob, "plain.example.com", 80, false, "TRACE", "/", {})});
  Channel("tampered_blob", 0, "", {Start(ref, Str("not a sealed record"), "plain.example.com", 80, false, "GET", "/", {})});
  Channel("wrong_follow_up", 1, ok,
          {Start(ref, blob, "plain.example.com", 80, false, "GET", "/", {}),
           BodyFrame("x", true)});
  Channel("malformed_response", 1, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
          {Start(ref, blob, "plain.example.com", 80, false, "GET", "/", {}), Socket()});
  Channel("gzip_refused", 1, "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc",
          {Start(ref, blob, "plain.example.com", 80, false, "GET", "/", {}), Socket()});
}

}  // namespace keycell::enclave::seeds

// HttpsUpstream driven by the enclave's own TLS client (TlsConnection, trusting the
// shared test CA) and by plain sockets, on 127.0.0.1 (label: integration).
#include "tests/support/upstream/https_upstream.h"

#include <gtest/gtest.h>
#include <mbedtls/sha256.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/enclave/tls/tls_test_util.h"

namespace keycell::test {
namespace {

namespace etls = ::keycell::enclave::tls;
using etls::test::kUpstreamHost;
using etls::test::SharedPki;
using etls::test::Soon;
using Headers = std::vector<std::pair<std::string, std::string>>;
using namespace std::chrono_literals;

struct Response {
  int status = 0;
  Headers headers;
  bool chunked = false;
  std::string body;  // empty unless kept
  uint64_t body_bytes = 0;
  std::array<uint8_t, 32> body_sha256{};
  // Chunked bodies: each chunk's arrival time and size (data too if kept).
  struct Chunk {
    etls::Clock::time_point arrived;
    size_t size;
    std::string data;
  };
  std::vector<Chunk> chunks;

  const std::string* Header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (n.size() == name.size() && strncasecmp(n.data(), name.data(), n.size()) == 0) return &v;
    }
    return nullptr;
  }
  std::string HeaderOr(std::string_view name, std::string fallback = "<none>") const {
    const std::string* v = Header(name);
    return v ? *v : fallback;
  }
};

// One client connection, TLS (the enclave's TlsConnection) or plain TCP, with just
// enough HTTP/1.1 response parsing for these tests. Failures are gtest failures.
class Client {
 public:
  static std::unique_ptr<Client> Tls(const HttpsUpstream& up, const etls::TlsClientConfig& config,
                                     const etls::SavedSession* resume = nullptr) {
    auto r = etls::TlsConnection::Connect(config, etls::test::ConnectLoopback(up.port()),
                                          kUpstreamHost, up.port(), Soon(), resume);
    EXPECT_TRUE(r.ok()) << Describe(r.status());
    if (!r.ok()) return nullptr;
    auto c = std::make_unique<Client>();
    c->tls_ = std::move(r).value();
    return c;
  }
  static std::unique_ptr<Client> Plain(const HttpsUpstream& up) {
    auto c = std::make_unique<Client>();
    c->fd_ = etls::test::ConnectLoopback(up.port());
    return c->fd_ ? std::move(c) : nullptr;
  }

  etls::TlsConnection* tls() { return tls_.get(); }

  bool Send(std::string_view bytes) {
    if (tls_) {
      const Status s = tls_->WriteAll(AsBytes(bytes), Soon());
      EXPECT_TRUE(s.ok()) << Describe(s);
      return s.ok();
    }
    for (size_t done = 0; done < bytes.size();) {
      const ssize_t n = send(fd_.get(), bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) {
        ADD_FAILURE() << "send: " << strerror(errno);
        return false;
      }
      done += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads one response (an interim 1xx counts as one). `keep_body` false keeps only the
  // count and hash; `head` is for responses to HEAD.
  bool ReadResponse(Response* out, bool keep_body = true, bool head = false) {
    *out = Response();
    std::string line;
    if (!ReadLine(&line) || line.compare(0, 9, "HTTP/1.1 ") != 0) return Fail("status line", line);
    out->status = std::atoi(line.c_str() + 9);
    while (ReadLine(&line) && !line.empty()) {
      const size_t colon = line.find(':');
      if (colon == std::string::npos) return Fail("header line", line);
      const size_t v = line.find_first_not_of(' ', colon + 1);
      out->headers.emplace_back(line.substr(0, colon),
                                v == std::string::npos ? "" : line.substr(v));
    }
    Sha256Ctx sha;
    auto add = [&](const char* p, size_t n, std::string* chunk) {
      out->body_bytes += n;
      sha.Update(p, n);
      if (keep_body) out->body.append(p, n);
      if (keep_body && chunk) chunk->append(p, n);
    };
    const bool no_body = head || out->status < 200 || out->status == 204 || out->status == 304;
    out->chunked = out->HeaderOr("Transfer-Encoding") == "chunked";
    bool ok = true;
    if (no_body) {
    } else if (out->chunked) {
      ok = ReadChunks(out, add);
    } else if (const std::string* cl = out->Header("Content-Length")) {
      ok = ReadN(std::stoull(*cl), add, nullptr);
    } else {
      ok = false;  // read-to-EOF bodies are never sent by the upstream
    }
    out->body_sha256 = sha.Finish();
    return ok;
  }

  // True when the server has closed: the next read sees EOF (TLS: after close_notify if
  // `clean`).
  bool SeesEof(bool clean) {
    char c;
    if (pos_ < buf_.size()) return false;
    if (tls_) {
      uint8_t b;
      auto r = tls_->Read(MutableByteView(&b, 1), Soon());
      return r.ok() && *r == 0 && (!clean || tls_->closed_cleanly());
    }
    pollfd p{fd_.get(), POLLIN, 0};
    return poll(&p, 1, 10000) == 1 && recv(fd_.get(), &c, 1, 0) == 0;
  }

 private:
  class Sha256Ctx {
   public:
    Sha256Ctx() {
      mbedtls_sha256_init(&ctx_);
      (void)mbedtls_sha256_starts_ret(&ctx_, 0);
    }
    ~Sha256Ctx() { mbedtls_sha256_free(&ctx_); }
    void Update(const char* p, size_t n) {
      (void)mbedtls_sha256_update_ret(&ctx_, reinterpret_cast<const unsigned char*>(p), n);
    }
    std::array<uint8_t, 32> Finish() {
      std::array<uint8_t, 32> d{};
      (void)mbedtls_sha256_finish_ret(&ctx_, d.data());
      return d;
    }

   private:
    mbedtls_sha256_context ctx_;
  };

  bool Fail(const char* what, const std::string& got) {
    ADD_FAILURE() << "bad " << what << ": '" << got << "'";
    return false;
  }

  bool Fill() {
    if (pos_ == buf_.size()) {
      buf_.clear();
      pos_ = 0;
    }
    char tmp[16384];
    size_t n = 0;
    if (tls_) {
      auto r = tls_->Read(MutableByteView(reinterpret_cast<uint8_t*>(tmp), sizeof(tmp)), Soon());
      EXPECT_TRUE(r.ok()) << Describe(r.status());
      if (!r.ok()) return false;
      n = *r;
    } else {
      pollfd p{fd_.get(), POLLIN, 0};
      const ssize_t got = poll(&p, 1, 10000) == 1 ? recv(fd_.get(), tmp, sizeof(tmp), 0) : -1;
      n = got > 0 ? static_cast<size_t>(got) : 0;
    }
    buf_.append(tmp, n);
    return n > 0;
  }

  bool ReadLine(std::string* line) {
    size_t eol;
    while ((eol = buf_.find("\r\n", pos_)) == std::string::npos) {
      if (!Fill()) return false;
    }
    line->assign(buf_, pos_, eol - pos_);
    pos_ = eol + 2;
    return true;
  }

  template <typename Add>
  bool ReadN(uint64_t n, Add& add, std::string* chunk) {
    while (n > 0) {
      if (pos_ == buf_.size() && !Fill()) return Fail("body", "EOF");
      const size_t take = static_cast<size_t>(std::min<uint64_t>(n, buf_.size() - pos_));
      add(buf_.data() + pos_, take, chunk);
      pos_ += take;
      n -= take;
    }
    return true;
  }

  template <typename Add>
  bool ReadChunks(Response* out, Add& add) {
    std::string line;
    while (ReadLine(&line)) {
      const uint64_t size = std::stoull(line, nullptr, 16);
      if (size == 0) return ReadLine(&line) && line.empty();  // no trailers from upstream
      Response::Chunk chunk{{}, static_cast<size_t>(size), {}};
      if (!ReadN(size, add, &chunk.data) || !ReadLine(&line) || !line.empty()) return false;
      chunk.arrived = etls::Clock::now();
      out->chunks.push_back(std::move(chunk));
    }
    return false;
  }

  std::unique_ptr<etls::TlsConnection> tls_;
  UniqueFd fd_;
  std::string buf_;
  size_t pos_ = 0;
};

// Deterministic bytes that are not the server's own pattern (any value 0..255).
std::string Noise(size_t n) {
  std::string out(n, '\0');
  uint32_t x = 12345;
  for (char& c : out) {
    x = x * 1103515245 + 12345;
    c = static_cast<char>(x >> 24);
  }
  return out;
}

std::string Get(std::string_view target, std::string_view extra = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: upstream.test\r\n" +
         std::string(extra) + "\r\n";
}

class HttpsUpstreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(SharedPki().ca, nullptr);
    trust_ = etls::test::LoadTrust();
    ASSERT_NE(trust_, nullptr);
    config_ = etls::test::MakeConfig(*trust_);
    ASSERT_NE(config_, nullptr);
  }

  std::unique_ptr<HttpsUpstream> Start(HttpsUpstream::Options o = {}) {
    if (o.tls && o.identity.cert_pem.empty()) o.identity = SharedPki().ca->Issue(kUpstreamHost);
    auto up = HttpsUpstream::Start(std::move(o));
    EXPECT_NE(up, nullptr);
    return up;
  }

  // Sends `request` and reads its response on `c`.
  static Response RoundTrip(Client& c, const std::string& request, bool keep_body = true,
                            bool head = false) {
    Response r;
    EXPECT_TRUE(c.Send(request));
    EXPECT_TRUE(c.ReadResponse(&r, keep_body, head)) << request.substr(0, request.find('\r'));
    return r;
  }

  std::unique_ptr<etls::TrustStore> trust_;
  std::unique_ptr<etls::TlsClientConfig> config_;
};

TEST_F(HttpsUpstreamTest, RecordsHeadersAndChunkedBody) {
  auto up = Start();
  ASSERT_NE(up, nullptr);
  auto c = Client::Tls(*up, *config_);
  ASSERT_NE(c, nullptr);
  const std::string body = Noise(1 << 20);
  ASSERT_TRUE(
      c->Send("POST /echo?x=1 HTTP/1.1\r\nHost: upstream.test\r\nX-Mixed-Case:  v1 \r\n"
              "x-dup: a\r\nX-Dup: b\r\nX-Quote: say \"hi\" \\o/\r\n"
              "Transfer-Encoding: chunked\r\n\r\n"));
  const size_t sizes[] = {1, 100, 8191, 65536, 3, 30000};
  for (size_t off = 0, i = 0; off < body.size(); ++i) {
    const size_t n = std::min(sizes[i % 6], body.size() - off);
    char line[32];
    std::snprintf(line, sizeof(line), "%zx;ext=1\r\n", n);
    ASSERT_TRUE(c->Send(line + body.substr(off, n) + "\r\n"));
    off += n;
  }
  ASSERT_TRUE(c->Send("0\r\nX-Trailer: dropped\r\n\r\n"));
  Response r;
  ASSERT_TRUE(c->ReadResponse(&r));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.HeaderOr("Content-Type"), "application/json");

  const Headers sent = {{"Host", "upstream.test"},
                        {"X-Mixed-Case", "v1"},
                        {"x-dup", "a"},
                        {"X-Dup", "b"},
                        {"X-Quote", "say \"hi\" \\o/"},
                        {"Transfer-Encoding", "chunked"}};
  const auto reqs = up->requests();
  ASSERT_EQ(reqs.size(), 1u);
  const RecordedRequest& got = reqs[0];
  EXPECT_EQ(got.method, "POST");
  EXPECT_EQ(got.target, "/echo?x=1");
  EXPECT_EQ(got.headers, sent);
  EXPECT_EQ(got.HeaderCount("X-DUP"), 2u);
  ASSERT_NE(got.Header("x-quote"), nullptr);
  EXPECT_EQ(got.body_bytes, body.size());
  EXPECT_EQ(got.body_sha256, HttpsUpstream::Sha256(body));
  EXPECT_EQ(got.body_prefix, body.substr(0, HttpsUpstream::kBodyPrefixBytes));
  EXPECT_EQ(got.connection_index, 0);
  EXPECT_EQ(got.tls_sni, kUpstreamHost);

  EXPECT_EQ(
      r.body,
      "{\"method\":\"POST\",\"target\":\"/echo?x=1\",\"headers\":[[\"Host\",\"upstream.test\"],"
      "[\"X-Mixed-Case\",\"v1\"],[\"x-dup\",\"a\"],[\"X-Dup\",\"b\"],"
      "[\"X-Quote\",\"say \\\"hi\\\" \\\\o/\"],[\"Transfer-Encoding\",\"chunked\"]],"
      "\"body_bytes\":1048576,\"body_sha256\":\"" +
          HttpsUpstream::Hex(HttpsUpstream::Sha256(body)) + "\"}");
}

TEST_F(HttpsUpstreamTest, KeepAliveUsesOneHandshakeAndResumptionIsCounted) {
  auto up = Start();
  ASSERT_NE(up, nullptr);
  auto c = Client::Tls(*up, *config_);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(RoundTrip(*c, Get("/echo")).status, 200);
  EXPECT_EQ(RoundTrip(*c, Get("/bytes/10")).body, "abcdefghij");
  EXPECT_EQ(up->accepted(), 1);
  EXPECT_EQ(up->handshakes(), 1);
  EXPECT_EQ(up->resumed_handshakes(), 0);

  KC_ASSERT_OK_AND_ASSIGN(etls::SavedSession saved, c->tls()->SaveSession());
  auto c2 = Client::Tls(*up, *config_, &saved);
  ASSERT_NE(c2, nullptr);
  EXPECT_TRUE(c2->tls()->resumed());
  EXPECT_EQ(RoundTrip(*c2, Get("/echo")).status, 200);
  EXPECT_EQ(up->handshakes(), 2);
  EXPECT_EQ(up->resumed_handshakes(), 1);
  EXPECT_EQ(up->full_handshakes(), 1);

  const auto reqs = up->requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].connection_index, 0);
  EXPECT_EQ(reqs[1].connection_index, 0);
  EXPECT_EQ(reqs[2].connection_index, 1);
  EXPECT_EQ(up->open_connections(), 2);
}

TEST_F(HttpsUpstreamTest, BytesAndChunkedBodies) {
  auto up = Start();
  ASSERT_NE(up, nullptr);
  auto c = Client::Tls(*up, *config_);
  ASSERT_NE(c, nullptr);
  const Response bytes = RoundTrip(*c, Get("/bytes/100000"));
  EXPECT_EQ(bytes.status, 200);
  EXPECT_FALSE(bytes.chunked);
  EXPECT_EQ(bytes.HeaderOr("Content-Length"), "100000");
  EXPECT_EQ(bytes.body, HttpsUpstream::Pattern(100000));

  const Response chunked = RoundTrip(*c, Get("/chunked/100000"));
  EXPECT_EQ(chunked.status, 200);
  EXPECT_TRUE(chunked.chunked);
  EXPECT_EQ(chunked.Header("Content-Length"), nullptr);
  EXPECT_EQ(chunked.body, HttpsUpstream::Pattern(100000));
  EXPECT_EQ(chunked.chunks.size(), 13u);  // 12 x 8 KiB + 1696
  for (const auto& chunk : chunked.chunks) EXPECT_LE(chunk.size, 8192u);

  EXPECT_EQ(RoundTrip(*c, Get("/bytes/0")).body, "");
  const Response head = RoundTrip(*c, "HEAD /bytes/5 HTTP/1.1\r\nHost: h\r\n\r\n", true, true);
  EXPECT_EQ(head.HeaderOr("Content-Length"), "5");
  EXPECT_EQ(RoundTrip(*c, Get("/bytes/3")).body, "abc");  // HEAD left nothing behind
  EXPECT_EQ(RoundTrip(*c, Get("/bytes/x")).status, 400);
  EXPECT_EQ(up->handshakes(), 1);
}

TEST_F(HttpsUpstreamTest, SixtyFourMiBEachWayInConstantMemory) {
  constexpr uint64_t kBig = 64ull << 20;
  auto up = Start();
  ASSERT_NE(up, nullptr);
  auto c = Client::Tls(*up, *config_);
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Send("PUT /echo HTTP/1.1\r\nHost: h\r\nContent-Length: " + std::to_string(kBig) +
                      "\r\n\r\n"));
  const std::string piece = HttpsUpstream::Pattern(26 * 2520);  // in phase piece to piece
  for (uint64_t off = 0; off < kBig; off += piece.size()) {
    ASSERT_TRUE(c->Send(std::string_view(piece).substr(
        0, static_cast<size_t>(std::min<uint64_t>(piece.size(), kBig - off)))));
  }
  Response r;
  ASSERT_TRUE(c->ReadResponse(&r));
  ASSERT_EQ(up->request_count(), 1u);
  const RecordedRequest got = up->requests()[0];
  EXPECT_EQ(got.body_bytes, kBig);
  EXPECT_EQ(got.body_sha256, HttpsUpstream::PatternSha256(kBig));
  EXPECT_EQ(got.body_prefix, HttpsUpstream::Pattern(4096));

  const Response down = RoundTrip(*c, Get("/chunked/" + std::to_string(kBig)), false);
  EXPECT_EQ(down.status, 200);
  EXPECT_EQ(down.body_bytes, kBig);
  EXPECT_EQ(down.body_sha256, HttpsUpstream::PatternSha256(kBig));
}

TEST_F(HttpsUpstreamTest, SseEventsArriveOneByOne) {
  auto up = Start();
  ASSERT_NE(up, nullptr);
  auto c = Client::Tls(*up, *config_);
  ASSERT_NE(c, nullptr);
  const Response r = RoundTrip(*c, Get("/sse/5"));
  EXPECT_EQ(r.HeaderOr("Content-Type"), "text/event-stream");
  ASSERT_EQ(r.chunks.size(), 5u);
  for (size_t i = 0; i < 5; ++i)
    EXPECT_EQ(r.chunks[i].data, "data: event " + std::to_string(i) + "\n\n");
  // Four 50 ms pauses lie between the first and the last event.
  EXPECT_GE(r.chunks[4].arrived - r.chunks[0].arrived, 150ms);
  EXPECT_EQ(RoundTrip(*c, Get("/echo")).status, 200);  // still usable
}

TEST_F(HttpsUpstreamTest, LeakFormsOfAKnownSecret) {
  const std::vector<LeakForm> forms = HttpsUpstream::LeakForms("ab?>");
  ASSERT_EQ(forms.size(), 5u);
  const std::pair<const char*, const char*> want[] = {{"raw", "ab?>"},
                                                      {"base64", "YWI/Pg=="},
                                                      {"base64url", "YWI_Pg"},
                                                      {"percent", "%61%62%3F%3E"},
                                                      {"json", "\\u0061\\u0062\\u003F\\u003E"}};
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(forms[i].label, want[i].first);
    EXPECT_EQ(forms[i].value, want[i].second);
  }
}

TEST_F(HttpsUpstreamTest, LeakEchoesTheSecretInEveryForm) {
  const std::string secret = "sk-live_AbC123+/=?xyz";
  HttpsUpstream::Options o;
  o.leak_secret = secret;
  auto up = Start(std::move(o));
  ASSERT_NE(up, nullptr);
  auto c = Client::Tls(*up, *config_);
  ASSERT_NE(c, nullptr);
  const Response r = RoundTrip(*c, Get("/leak"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.HeaderOr("X-Leak"), secret);
  for (const LeakForm& f : HttpsUpstream::LeakForms(secret))
    EXPECT_NE(r.body.find(f.label + "=" + (f.label == "json" ? "\"" + f.value + "\"" : f.value)),
              std::string::npos)
        << f.label;
  // The split line really is cut across two chunks.
  const size_t half = secret.size() / 2;
  bool split_seen = false;
  for (size_t i = 0; i + 1 < r.chunks.size(); ++i) {
    split_seen |= r.chunks[i].data == "split=" + secret.substr(0, half) &&
                  r.chunks[i + 1].data == secret.substr(half) + "\n";
  }
  EXPECT_TRUE(split_seen) << r.body;

  auto plain = Start();  // no leak_secret: /leak is 404
  ASSERT_NE(plain, nullptr);
  auto c2 = Client::Tls(*plain, *config_);
  ASSERT_NE(c2, nullptr);
  EXPECT_EQ(RoundTrip(*c2, Get("/leak")).status, 404);
}

TEST_F(HttpsUpstreamTest, StatusRoutes) {
  auto up = Start();
  ASSERT_NE(up, nullptr);
  auto c = Client::Tls(*up, *config_);
  ASSERT_NE(c, nullptr);
  const Response found = RoundTrip(*c, Get("/status/302?to=https://evil.example/x"));
  EXPECT_EQ(found.status, 302);
  EXPECT_EQ(found.HeaderOr("Location"), "https://evil.example/x");
  EXPECT_EQ(found.body, "status 302\n");
  const Response decoded = RoundTrip(*c, Get("/status/307?a=b&to=https%3A%2F%2Fa.example%2Fp%3Fq"));
  EXPECT_EQ(decoded.HeaderOr("Location"), "https://a.example/p?q");
  const Response unavailable = RoundTrip(*c, Get("/status/503?to=/ignored"));
  EXPECT_EQ(unavailable.status, 503);
  EXPECT_EQ(unavailable.Header("Location"), nullptr);
  const Response empty = RoundTrip(*c, Get("/status/204"));
  EXPECT_EQ(empty.status, 204);
  EXPECT_EQ(empty.Header("Content-Length"), nullptr);
  EXPECT_EQ(RoundTrip(*c, Get("https://upstream.test/nope")).status, 404);
  EXPECT_EQ(RoundTrip(*c, Get("https://upstream.test/bytes/2")).body, "ab");  // absolute-form
  const Response bad = RoundTrip(*c, Get("/status/99"));
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.HeaderOr("Connection"), "close");
  EXPECT_TRUE(c->SeesEof(/*clean=*/true));
  EXPECT_EQ(up->handshakes(), 1);
}

TEST_F(HttpsUpstreamTest, CloseRouteEndsTheConnection) {
  auto up = Start();
  ASSERT_NE(up, nullptr);
  auto c = Client::Tls(*up, *config_);
  ASSERT_NE(c, nullptr);
  const Response r = RoundTrip(*c, Get("/close"));
  EXPECT_EQ(r.body, "bye");
  EXPECT_EQ(r.HeaderOr("Connection"), "close");
  EXPECT_TRUE(c->SeesEof(/*clean=*/true));
  // A client's "Connection: close" ends it too.
  auto c2 = Client::Tls(*up, *config_);
  ASSERT_NE(c2, nullptr);
  EXPECT_EQ(RoundTrip(*c2, Get("/echo", "Connection: close\r\n")).HeaderOr("Connection"), "close");
  EXPECT_TRUE(c2->SeesEof(/*clean=*/true));
}

TEST_F(HttpsUpstreamTest, PlainHttpWithExpectContinue) {
  HttpsUpstream::Options o;
  o.tls = false;
  auto up = Start(std::move(o));
  ASSERT_NE(up, nullptr);
  EXPECT_EQ(up->Url("localhost", "/echo"),
            "http://localhost:" + std::to_string(up->port()) + "/echo");
  auto c = Client::Plain(*up);
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(
      c->Send("POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
              "Expect: 100-continue\r\n\r\n"));
  Response interim, r;
  ASSERT_TRUE(c->ReadResponse(&interim));
  EXPECT_EQ(interim.status, 100);
  ASSERT_TRUE(c->Send("hello"));
  ASSERT_TRUE(c->ReadResponse(&r));
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"body_bytes\":5"), std::string::npos) << r.body;
  ASSERT_TRUE(up->WaitForRequests(1));
  EXPECT_EQ(up->requests()[0].body_prefix, "hello");
  EXPECT_EQ(up->requests()[0].tls_sni, "");
  // HTTP/1.0 closes after one response.
  EXPECT_EQ(RoundTrip(*c, "GET /bytes/1 HTTP/1.0\r\n\r\n").body, "a");
  EXPECT_TRUE(c->SeesEof(false));
  EXPECT_EQ(up->handshakes(), 0);
  EXPECT_EQ(up->accepted(), 1);
}

TEST_F(HttpsUpstreamTest, MalformedAndAmbiguousRequests) {
  auto up = Start();
  ASSERT_NE(up, nullptr);
  auto c = Client::Tls(*up, *config_);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(RoundTrip(*c, "GET /echo HTTP/1.1\r\nBad Header\r\n\r\n").status, 400);
  EXPECT_TRUE(c->SeesEof(true));
  EXPECT_EQ(up->malformed_requests(), 1);
  EXPECT_EQ(up->request_count(), 0u);

  // Both framings: chunked wins, recorded, and the connection is not reused.
  auto c2 = Client::Tls(*up, *config_);
  ASSERT_NE(c2, nullptr);
  const Response r = RoundTrip(*c2,
                               "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n");
  EXPECT_EQ(r.HeaderOr("Connection"), "close");
  ASSERT_EQ(up->request_count(), 1u);
  EXPECT_EQ(up->requests()[0].body_prefix, "hi");
  EXPECT_TRUE(c2->SeesEof(true));
}

TEST_F(HttpsUpstreamTest, HandshakeFailuresAndDroppedConnectionsAreCounted) {
  // A certificate from the CA the client does not trust: the client aborts the handshake.
  HttpsUpstream::Options o;
  o.identity = SharedPki().other_ca->Issue(kUpstreamHost);
  auto untrusted = Start(std::move(o));
  ASSERT_NE(untrusted, nullptr);
  auto r = etls::TlsConnection::Connect(*config_, etls::test::ConnectLoopback(untrusted->port()),
                                        kUpstreamHost, untrusted->port(), Soon());
  EXPECT_EQ(r.status().where(), std::string(etls::kCertNotTrusted));
  EXPECT_TRUE(untrusted->WaitForFailedHandshakes(1));
  EXPECT_EQ(untrusted->handshakes(), 0);

  auto up = Start();
  ASSERT_NE(up, nullptr);

  auto c = Client::Tls(*up, *config_);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(RoundTrip(*c, Get("/echo")).status, 200);
  EXPECT_TRUE(c->tls()->IdleAndAlive());
  up->DropConnections();
  const auto until = etls::Clock::now() + 10s;
  while (c->tls()->IdleAndAlive() && etls::Clock::now() < until) std::this_thread::sleep_for(5ms);
  EXPECT_FALSE(c->tls()->IdleAndAlive());
  while (up->open_connections() > 0 && etls::Clock::now() < until) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(up->open_connections(), 0);
}

TEST_F(HttpsUpstreamTest, ConnectionLimitAndBudget) {
  HttpsUpstream::Options o;
  o.tls = false;
  o.max_connections = 2;
  o.connection_budget = 300ms;
  auto up = Start(std::move(o));
  ASSERT_NE(up, nullptr);
  auto a = Client::Plain(*up);
  auto b = Client::Plain(*up);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(RoundTrip(*a, Get("/echo")).status, 200);
  EXPECT_EQ(RoundTrip(*b, Get("/echo")).status, 200);
  auto refused = Client::Plain(*up);  // the third at once: accepted, then closed
  ASSERT_NE(refused, nullptr);
  EXPECT_TRUE(refused->SeesEof(false));
  EXPECT_EQ(up->rejected_connections(), 1);
  // The budget ends idle keep-alive connections; their slots are free again.
  EXPECT_TRUE(a->SeesEof(false));
  EXPECT_TRUE(b->SeesEof(false));
  auto d = Client::Plain(*up);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(RoundTrip(*d, Get("/echo")).status, 200);
  const auto reqs = up->requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[2].connection_index, 3);  // the refused one was #2
}

TEST_F(HttpsUpstreamTest, WritesPemFile) {
  etls::test::TempFile file("");
  ASSERT_TRUE(WriteCaFile(*SharedPki().ca, file.path()));
  std::ifstream in(file.path());
  const std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(got, SharedPki().ca->cert_pem());
}

}  // namespace
}  // namespace keycell::test

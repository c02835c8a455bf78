// The injected request head (enclave/proxy/request_head.h): exact bytes for each recipe,
// replacement of caller duplicates, cookie merging, query appending, stripping, every
// refusal, and that the head lives in locked, wiped memory.

#include "enclave/proxy/request_head.h"

#include <gtest/gtest.h>
#include <string.h>

#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "enclave/proxy/redirect.h"
#include "tests/enclave/test_policies.h"
#include "tests/support/status_testing.h"

namespace keycell::enclave::proxy {
namespace {

using ::keycell::enclave::testing::MakePolicy;
using namespace std::string_literals;

constexpr int64_t kNow = 1'700'000'000;
constexpr char kHost[] = "api.example.com";
// What every head ends with before the framing line.
constexpr char kForced[] = "Accept-Encoding: identity\r\nConnection: keep-alive\r\n";

SecretView Secret(const std::string& s) {
  return SecretView(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

struct Req {
  std::string url = "https://api.example.com/v1/items";
  std::string method = "GET";
  std::vector<std::pair<std::string, std::string>> headers;
  BodyFraming framing = BodyFraming::kNone;
  uint64_t content_length = 0;
  RequestLimits limits;
};

Result<SecureBuffer> BuildHead(const Policy& policy, const Req& r, const std::string& secret) {
  auto target = Target::FromUrl(r.url);
  if (!target.ok()) return target.status();
  std::vector<HeaderField> fields;
  for (const auto& [n, v] : r.headers) fields.push_back(HeaderField{n, v});
  RequestSpec spec{r.method, fields, r.framing, r.content_length};
  return BuildRequestHead(policy, kNow, *target, spec, Secret(secret), r.limits);
}

// The head as a string (test only: the secret in it is a test value).
std::string Build(const Policy& policy, const Req& r, const std::string& secret) {
  auto head = BuildHead(policy, r, secret);
  EXPECT_TRUE(head.ok()) << test::Describe(head.status());
  return head.ok() ? std::string(AsChars(head->view().bytes())) : std::string();
}

size_t Count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

// ---- the five recipes, byte for byte

TEST(ProxyRequestHead, Bearer) {
  const Policy p = MakePolicy({kHost});
  Req r;
  r.headers = {{"User-Agent", "sdk/1.0"}, {"Accept", "application/json"}};
  EXPECT_EQ(Build(p, r, "sk_live_123"),
            "GET /v1/items HTTP/1.1\r\n"
            "Host: api.example.com\r\n"
            "User-Agent: sdk/1.0\r\n"
            "Accept: application/json\r\n"
            "Authorization: Bearer sk_live_123\r\n"s +
                kForced + "\r\n");
}

TEST(ProxyRequestHead, Basic) {
  const Policy p = MakePolicy({kHost}, keycell_ipc_InjectKind_INJECT_BASIC);
  Req r;
  // RFC 7617 §2's example, then each base64 padding case.
  EXPECT_EQ(Build(p, r, "Aladdin:open sesame"),
            "GET /v1/items HTTP/1.1\r\nHost: api.example.com\r\n"
            "Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"s +
                kForced + "\r\n");
  const std::pair<const char*, const char*> forms[] = {
      {"a:", "YTo="}, {"ab:", "YWI6"}, {"a:bc", "YTpiYw=="}, {"\xff\xfe:\x80", "//46gA=="}};
  for (const auto& [secret, b64] : forms)
    EXPECT_EQ(Count(Build(p, r, secret), "\r\nAuthorization: Basic "s + b64 + "\r\n"), 1u)
        << secret;
}

TEST(ProxyRequestHead, CustomHeaderWithAndWithoutPrefix) {
  Req r;
  r.method = "POST";
  r.framing = BodyFraming::kContentLength;
  r.content_length = 17;
  r.headers = {{"Content-Type", "application/json"}};
  EXPECT_EQ(
      Build(MakePolicy({kHost}, keycell_ipc_InjectKind_INJECT_HEADER, "X-Api-Key"), r, "k-123"),
      "POST /v1/items HTTP/1.1\r\nHost: api.example.com\r\n"
      "Content-Type: application/json\r\n"
      "X-Api-Key: k-123\r\n"s +
          kForced + "Content-Length: 17\r\n\r\n");
  r.framing = BodyFraming::kChunked;
  EXPECT_EQ(
      Build(MakePolicy({kHost}, keycell_ipc_InjectKind_INJECT_HEADER, "Authorization", "Token "), r,
            "k-123"),
      "POST /v1/items HTTP/1.1\r\nHost: api.example.com\r\n"
      "Content-Type: application/json\r\n"
      "Authorization: Token k-123\r\n"s +
          kForced + "Transfer-Encoding: chunked\r\n\r\n");
}

TEST(ProxyRequestHead, QueryAppendedWithAndWithoutExistingQuery) {
  const Policy p = MakePolicy({kHost}, keycell_ipc_InjectKind_INJECT_QUERY, "api_key");
  const std::string tail = " HTTP/1.1\r\nHost: api.example.com\r\n"s + kForced + "\r\n";
  Req r;
  EXPECT_EQ(Build(p, r, "abc-._~XYZ09"), "GET /v1/items?api_key=abc-._~XYZ09" + tail);
  r.url = "https://api.example.com/v1/items?limit=10&q=a%2Fb";
  EXPECT_EQ(Build(p, r, "abc"), "GET /v1/items?limit=10&q=a%2Fb&api_key=abc" + tail);
  // Reserved and non-ASCII bytes in the secret are percent-encoded (upper-case hex).
  r.url = "https://api.example.com/v1/items?x=1";
  EXPECT_EQ(Build(p, r, "a/b+c=d&e f?g#h%i\xc3\xa9"),
            "GET /v1/items?x=1&api_key=a%2Fb%2Bc%3Dd%26e%20f%3Fg%23h%25i%C3%A9" + tail);
  // A '?' with an empty query, and a trailing '&'.
  r.url = "https://api.example.com/v1/items?";
  EXPECT_EQ(Build(p, r, "abc"), "GET /v1/items?api_key=abc" + tail);
  r.url = "https://api.example.com/v1/items?x=1&";
  EXPECT_EQ(Build(p, r, "abc"), "GET /v1/items?x=1&api_key=abc" + tail);
}

TEST(ProxyRequestHead, QueryReplacesTheCallersParameter) {
  const Policy p = MakePolicy({kHost}, keycell_ipc_InjectKind_INJECT_QUERY, "api_key");
  const std::string tail = " HTTP/1.1\r\nHost: api.example.com\r\n"s + kForced + "\r\n";
  Req r;
  // Also in percent-encoded spellings, and bare (no '='); a longer name is another parameter.
  r.url = "https://api.example.com/v1?api_key=evil&a=1&api%5Fkey=evil2&api%5fkey&api_keys=2&b";
  EXPECT_EQ(Build(p, r, "abc"), "GET /v1?a=1&api_keys=2&b&api_key=abc" + tail);
  r.url = "https://api.example.com/v1?api_key=evil";
  EXPECT_EQ(Build(p, r, "abc"), "GET /v1?api_key=abc" + tail);
}

TEST(ProxyRequestHead, CookieNamedAndBare) {
  Req r;
  EXPECT_EQ(
      Build(MakePolicy({kHost}, keycell_ipc_InjectKind_INJECT_COOKIE, "session"), r, "s3cr3t"),
      "GET /v1/items HTTP/1.1\r\nHost: api.example.com\r\n"
      "Cookie: session=s3cr3t\r\n"s +
          kForced + "\r\n");
  EXPECT_EQ(Build(MakePolicy({kHost}, keycell_ipc_InjectKind_INJECT_COOKIE), r, "sid=abc; theme=x"),
            "GET /v1/items HTTP/1.1\r\nHost: api.example.com\r\n"
            "Cookie: sid=abc; theme=x\r\n"s +
                kForced + "\r\n");
}

TEST(ProxyRequestHead, CookieMergedWithTheCallersCookies) {
  Req r;
  r.headers = {
      {"cookie", "a=1; session=evil;b=2"}, {"X-Trace", "t"}, {"Cookie", " c=3 ;; session=x2 "}};
  EXPECT_EQ(
      Build(MakePolicy({kHost}, keycell_ipc_InjectKind_INJECT_COOKIE, "session"), r, "s3cr3t"),
      "GET /v1/items HTTP/1.1\r\nHost: api.example.com\r\n"
      "X-Trace: t\r\n"
      "Cookie: a=1; b=2; c=3; session=s3cr3t\r\n"s +
          kForced + "\r\n");
  // Cookie names are case-sensitive: "Session" is another cookie.
  r.headers = {{"Cookie", "Session=keep"}};
  EXPECT_EQ(
      Count(Build(MakePolicy({kHost}, keycell_ipc_InjectKind_INJECT_COOKIE, "session"), r, "v"),
            "Cookie: Session=keep; session=v\r\n"),
      1u);
  // Bare secret: every cookie it sets replaces the caller's of that name.
  r.headers = {{"Cookie", "sid=old; lang=en; theme=y"}};
  EXPECT_EQ(
      Count(Build(MakePolicy({kHost}, keycell_ipc_InjectKind_INJECT_COOKIE), r, "sid=abc; theme=x"),
            "\r\nCookie: lang=en; sid=abc; theme=x\r\n"),
      1u);
}

// ---- replacement and stripping

TEST(ProxyRequestHead, CallerDuplicatesOfTheInjectedHeaderAreReplaced) {
  Req r;
  r.headers = {
      {"authorization", "x"}, {"Accept", "*/*"}, {"Authorization", "y"}, {"AUTHORIZATION", "z"}};
  const std::string head = Build(MakePolicy({kHost}), r, "ours");
  EXPECT_EQ(head,
            "GET /v1/items HTTP/1.1\r\nHost: api.example.com\r\nAccept: */*\r\n"
            "Authorization: Bearer ours\r\n"s +
                kForced + "\r\n");

  r.headers = {{"x-api-key", "theirs"}, {"X-API-KEY", "theirs2"}, {"X-Api-Key-2", "kept"}};
  EXPECT_EQ(
      Build(MakePolicy({kHost}, keycell_ipc_InjectKind_INJECT_HEADER, "X-Api-Key"), r, "ours"),
      "GET /v1/items HTTP/1.1\r\nHost: api.example.com\r\nX-Api-Key-2: kept\r\n"
      "X-Api-Key: ours\r\n"s +
          kForced + "\r\n");
  // The Authorization header is the caller's own when the recipe does not use it.
  r.headers = {{"Authorization", "Bearer caller"}};
  EXPECT_EQ(Count(Build(MakePolicy({kHost}, keycell_ipc_InjectKind_INJECT_QUERY, "key"), r, "s"),
                  "\r\nAuthorization: Bearer caller\r\n"),
            1u);
}

TEST(ProxyRequestHead, HopByHopAndProxyHeadersAreStripped) {
  Req r;
  r.method = "PUT";
  r.headers = {
      {"Connection", "close, X-Hop-One"},
      {"connection", "x-hop-two , , not a token"},
      {"X-Hop-One", "1"},
      {"X-HOP-TWO", "2"},
      {"Keep-Alive", "timeout=5"},
      {"Proxy-Authorization", "Basic Zm9v"},
      {"Proxy-Connection", "keep-alive"},
      {"TE", "trailers"},
      {"Trailer", "X-Checksum"},
      {"Transfer-Encoding", "gzip, chunked"},
      {"Upgrade", "websocket"},
      {"Host", "evil.example.net"},
      {"Content-Length", "5"},
      {"Accept-Encoding", "gzip, br"},
      {"X-Keep", "  yes\t"},
      {"X-Empty", ""},
  };
  EXPECT_EQ(Build(MakePolicy({kHost}), r, "tok"),
            "PUT /v1/items HTTP/1.1\r\nHost: api.example.com\r\n"
            "X-Keep: yes\r\n"
            "X-Empty:\r\n"
            "Authorization: Bearer tok\r\n"s +
                kForced + "Content-Length: 0\r\n\r\n");
}

TEST(ProxyRequestHead, HostCarriesANonDefaultPort) {
  Policy p = MakePolicy({kHost});
  p.allowed_hosts[0].port = 8443;
  Req r;
  r.url = "https://api.example.com:8443/";
  EXPECT_EQ(Build(p, r, "t"),
            "GET / HTTP/1.1\r\nHost: api.example.com:8443\r\nAuthorization: Bearer t\r\n"s +
                kForced + "\r\n");
  // The insecure-allowed loopback server by IP.
  Policy loop = MakePolicy({"127.0.0.1"});
  loop.allowed_hosts[0].port = 8080;
  strcpy(loop.insecure_http_hosts[0], "127.0.0.1");
  loop.insecure_http_hosts_count = 1;
  r.url = "http://127.0.0.1:8080/x";
  EXPECT_EQ(
      Build(loop, r, "t"),
      "GET /x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAuthorization: Bearer t\r\n"s + kForced + "\r\n");
}

TEST(ProxyRequestHead, FramingPerMethod) {
  const Policy p = MakePolicy({kHost});
  Req r;
  for (const char* m : {"GET", "HEAD", "DELETE", "OPTIONS"}) {
    r.method = m;
    const std::string head = Build(p, r, "t");
    EXPECT_EQ(head.rfind(m, 0), 0u) << m;
    EXPECT_EQ(Count(head, "Content-Length"), 0u) << m;
    EXPECT_EQ(Count(head, "Transfer-Encoding"), 0u) << m;
  }
  for (const char* m : {"POST", "PUT", "PATCH"}) {
    r.method = m;
    EXPECT_EQ(Count(Build(p, r, "t"), "\r\nContent-Length: 0\r\n\r\n"), 1u) << m;
  }
  r.method = "DELETE";
  r.framing = BodyFraming::kContentLength;
  r.content_length = 18446744073709551615ull;
  r.limits.max_body_bytes = 0;  // unlimited
  EXPECT_EQ(Count(Build(p, r, "t"), "\r\nContent-Length: 18446744073709551615\r\n\r\n"), 1u);
}

// ---- refusals

struct RefusalCase {
  const char* label;
  Policy policy;
  Req req;
  std::string secret;
  Err code;
  const char* where;
};

Req With(std::function<void(Req&)> f) {
  Req r;
  f(r);
  return r;
}

TEST(ProxyRequestHead, Refusals) {
  const Policy bearer = MakePolicy({kHost});
  const Policy basic = MakePolicy({kHost}, keycell_ipc_InjectKind_INJECT_BASIC);
  const Policy header =
      MakePolicy({kHost}, keycell_ipc_InjectKind_INJECT_HEADER, "X-Api-Key", "K ");
  const Policy cookie = MakePolicy({kHost}, keycell_ipc_InjectKind_INJECT_COOKIE, "sid");
  const Policy bare_cookie = MakePolicy({kHost}, keycell_ipc_InjectKind_INJECT_COOKIE);
  const Policy none = MakePolicy({kHost}, keycell_ipc_InjectKind_INJECT_NONE);
  Policy expired = bearer;
  expired.expires_at = kNow;
  Policy loop = MakePolicy({"127.0.0.1"});
  strcpy(loop.insecure_http_hosts[0], "127.0.0.1");
  loop.insecure_http_hosts_count = 1;
  const Policy reserved =
      MakePolicy({kHost}, keycell_ipc_InjectKind_INJECT_HEADER, "Content-Length");
  const Policy bad_name =
      MakePolicy({kHost}, keycell_ipc_InjectKind_INJECT_HEADER, "X-Key\r\nX-Evil");
  const Policy bad_prefix =
      MakePolicy({kHost}, keycell_ipc_InjectKind_INJECT_HEADER, "X-Key", "a\nb");
  const Policy bad_query = MakePolicy({kHost}, keycell_ipc_InjectKind_INJECT_QUERY, "a&b=c");
  std::vector<std::pair<std::string, std::string>> many(101, {"X-A", "1"});

  const RefusalCase cases[] = {
      // Policy (the authoritative check comes first).
      {"INJECT_NONE", none, Req{}, "s", Err::kPolicyDenied, kWhereNoRecipe},
      {"expired", expired, Req{}, "s", Err::kPolicyDenied, kWhereExpired},
      {"host not in policy", bearer, With([](Req& r) { r.url = "https://evil.example.net/"; }), "s",
       Err::kPolicyDenied, kWhereHostNotAllowed},
      {"port not in policy", bearer, With([](Req& r) { r.url = "https://api.example.com:444/"; }),
       "s", Err::kPolicyDenied, kWherePortNotAllowed},
      {"http not insecure-allowed", bearer, With([](Req& r) { r.url = "http://api.example.com/"; }),
       "s", Err::kPolicyDenied, kWhereHttpNotAllowed},
      {"IP literal over https", loop, With([](Req& r) { r.url = "https://127.0.0.1/"; }), "s",
       Err::kPolicyDenied, kWhereIpNeedsTls},
      {"reserved header recipe", reserved, Req{}, "s", Err::kPolicyDenied, kWhereReservedHeader},
      {"recipe name with CRLF", bad_name, Req{}, "s", Err::kPolicyDenied, kWhereBadRecipe},
      {"recipe prefix with LF", bad_prefix, Req{}, "s", Err::kPolicyDenied, kWhereBadRecipe},
      {"query recipe name", bad_query, Req{}, "s", Err::kPolicyDenied, kWhereBadRecipe},
      // Method.
      {"lower-case method", bearer, With([](Req& r) { r.method = "get"; }), "s",
       Err::kInvalidArgument, kWhereMethodNotAllowed},
      {"TRACE", bearer, With([](Req& r) { r.method = "TRACE"; }), "s", Err::kInvalidArgument,
       kWhereMethodNotAllowed},
      {"CONNECT", bearer, With([](Req& r) { r.method = "CONNECT"; }), "s", Err::kInvalidArgument,
       kWhereMethodNotAllowed},
      {"method with space", bearer, With([](Req& r) { r.method = "GET /evil"; }), "s",
       Err::kInvalidArgument, kWhereMethodNotToken},
      {"method with CRLF", bearer, With([](Req& r) { r.method = "GET\r\n"; }), "s",
       Err::kInvalidArgument, kWhereMethodNotToken},
      {"empty method", bearer, With([](Req& r) { r.method = ""; }), "s", Err::kInvalidArgument,
       kWhereMethodNotToken},
      // Caller headers.
      {"CRLF in header name", bearer, With([](Req& r) {
         r.headers = {{"X-A\r\nX-B", "1"}};
       }),
       "s", Err::kInvalidArgument, kWhereHeaderNameControl},
      {"NUL in header name", bearer, With([](Req& r) {
         r.headers = {{"X-A\0"s, "1"}};
       }),
       "s", Err::kInvalidArgument, kWhereHeaderNameControl},
      {"colon in header name", bearer, With([](Req& r) {
         r.headers = {{"X-A:", "1"}};
       }),
       "s", Err::kInvalidArgument, kWhereHeaderNameNotToken},
      {"space in header name", bearer, With([](Req& r) {
         r.headers = {{"X A", "1"}};
       }),
       "s", Err::kInvalidArgument, kWhereHeaderNameNotToken},
      {"empty header name", bearer, With([](Req& r) {
         r.headers = {{"", "1"}};
       }),
       "s", Err::kInvalidArgument, kWhereHeaderNameNotToken},
      {"CRLF in header value", bearer, With([](Req& r) {
         r.headers = {{"X-A", "1\r\nHost: evil"}};
       }),
       "s", Err::kInvalidArgument, kWhereHeaderValueCrLfNul},
      {"LF in header value", bearer, With([](Req& r) {
         r.headers = {{"X-A", "1\nb"}};
       }),
       "s", Err::kInvalidArgument, kWhereHeaderValueCrLfNul},
      {"NUL in header value", bearer, With([](Req& r) {
         r.headers = {{"X-A", "1\0b"s}};
       }),
       "s", Err::kInvalidArgument, kWhereHeaderValueCrLfNul},
      {"control in header value", bearer, With([](Req& r) {
         r.headers = {{"X-A", "1\x1b"}};
       }),
       "s", Err::kInvalidArgument, kWhereHeaderValueControl},
      {"DEL in header value", bearer, With([](Req& r) {
         r.headers = {{"X-A", "\x7f"}};
       }),
       "s", Err::kInvalidArgument, kWhereHeaderValueControl},
      {"CRLF in a stripped header", bearer, With([](Req& r) {
         r.headers = {{"Host", "a\r\nb"}};
       }),
       "s", Err::kInvalidArgument, kWhereHeaderValueCrLfNul},
      // Secret for where it goes.
      {"empty secret", bearer, Req{}, "", Err::kInvalidArgument, kWhereSecretEmpty},
      {"bearer secret CRLF", bearer, Req{}, "tok\r\nX-Evil: 1", Err::kInvalidArgument,
       kWhereSecretCrLfNul},
      {"bearer secret trailing LF", bearer, Req{}, "tok\n", Err::kInvalidArgument,
       kWhereSecretCrLfNul},
      {"bearer secret NUL", bearer, Req{}, "to\0k"s, Err::kInvalidArgument, kWhereSecretCrLfNul},
      {"bearer secret control", bearer, Req{}, "to\x01k", Err::kInvalidArgument,
       kWhereSecretControl},
      {"header secret CR", header, Req{}, "k\r", Err::kInvalidArgument, kWhereSecretCrLfNul},
      {"cookie secret LF", cookie, Req{}, "k\n", Err::kInvalidArgument, kWhereSecretCrLfNul},
      {"named cookie secret ';'", cookie, Req{}, "k; admin=1", Err::kInvalidArgument,
       kWhereCookieSemicolon},
      {"bare cookie secret CRLF", bare_cookie, Req{}, "a=1\r\n", Err::kInvalidArgument,
       kWhereSecretCrLfNul},
      {"basic without ':'", basic, Req{}, "userpass", Err::kInvalidArgument,
       kWhereBasicNotUserPass},
      {"basic secret LF", basic, Req{}, "user:pass\n", Err::kInvalidArgument, kWhereSecretCrLfNul},
      // Limits.
      {"too many headers", bearer, With([&](Req& r) { r.headers = many; }), "s", Err::kTooLarge,
       kWhereTooManyHeaders},
      {"caller headers over the cap", bearer, With([](Req& r) {
         r.headers = {{"X-Big", std::string(70 * 1024, 'a')}};
       }),
       "s", Err::kTooLarge, kWhereHeadTooLarge},
      {"head too large (secret)", bearer, Req{}, std::string(64 * 1024, 'k'), Err::kTooLarge,
       kWhereHeadTooLarge},
      {"head too large (limit)", bearer, With([](Req& r) { r.limits.max_head_bytes = 100; }),
       std::string(40, 'k'), Err::kTooLarge, kWhereHeadTooLarge},
      {"body too large", bearer, With([](Req& r) {
         r.method = "POST";
         r.framing = BodyFraming::kContentLength;
         r.content_length = kDefaultMaxRequestBodyBytes + 1;
       }),
       "s", Err::kTooLarge, kWhereBodyTooLarge},
      {"unknown framing", bearer, With([](Req& r) { r.framing = static_cast<BodyFraming>(7); }),
       "s", Err::kInvalidArgument, kWhereBadFraming},
  };
  for (const RefusalCase& c : cases) {
    auto head = BuildHead(c.policy, c.req, c.secret);
    ASSERT_FALSE(head.ok()) << c.label;
    EXPECT_EQ(head.status().code(), c.code) << c.label << ": " << test::Describe(head.status());
    EXPECT_STREQ(head.status().where(), c.where) << c.label;
  }
}

TEST(ProxyRequestHead, LimitsAreExactAndConfigurable) {
  const Policy p = MakePolicy({kHost});
  Req r;
  const std::string head = Build(p, r, "tok");
  r.limits.max_head_bytes = head.size();
  EXPECT_EQ(Build(p, r, "tok"), head);
  r.limits.max_head_bytes = head.size() - 1;
  EXPECT_EQ(BuildHead(p, r, "tok").status().code(), Err::kTooLarge);

  Req h;
  h.headers.assign(3, {"X-A", "1"});
  h.limits.max_header_count = 3;
  KC_EXPECT_OK(BuildHead(p, h, "tok"));
  h.limits.max_header_count = 2;
  EXPECT_STREQ(BuildHead(p, h, "tok").status().where(), kWhereTooManyHeaders);

  RequestLimits limits;
  limits.max_body_bytes = 10;
  KC_EXPECT_OK(CheckBodyBytes(10, limits));
  EXPECT_STREQ(CheckBodyBytes(11, limits).where(), kWhereBodyTooLarge);
  limits.max_body_bytes = 0;
  KC_EXPECT_OK(CheckBodyBytes(~uint64_t{0}, limits));
}

// ---- memory discipline

static_assert(std::is_same_v<decltype(BuildRequestHead(
                                 std::declval<const Policy&>(), 0, std::declval<const Target&>(),
                                 std::declval<const RequestSpec&>(), SecretView())),
                             Result<SecureBuffer>>,
              "the injected head is only ever handed out in locked, wiped memory");

TEST(ProxyRequestHead, SecretAppearsExactlyOnceAndIsWipedWithTheHead) {
  static std::vector<std::pair<size_t, size_t>> wipes;  // (capacity, non-zero bytes)
  const std::string secret = "sk_live_UNIQUE_7f3a9c";
  Req r;
  r.headers = {{"Authorization", "Bearer caller"}, {"X-Echo", "prefix"}};
  size_t head_size = 0;
  SecureBuffer::SetWipeObserverForTest([](const uint8_t* p, size_t n) {
    size_t nonzero = 0;
    for (size_t i = 0; i < n; ++i) nonzero += p[i] != 0;
    wipes.emplace_back(n, nonzero);
  });
  {
    auto head = BuildHead(MakePolicy({kHost}), r, secret);
    ASSERT_TRUE(head.ok());
    head_size = head->size();
    const std::string bytes(AsChars(head->view().bytes()));
    EXPECT_EQ(Count(bytes, secret), 1u);
    EXPECT_EQ(head->capacity() % 4096, 0u);  // its own mapping, not the heap
  }
  SecureBuffer::SetWipeObserverForTest(nullptr);
  ASSERT_FALSE(wipes.empty());
  bool saw_head = false;
  for (const auto& [capacity, nonzero] : wipes) {
    EXPECT_EQ(nonzero, 0u);
    saw_head = saw_head || capacity >= head_size;
  }
  EXPECT_TRUE(saw_head);
}

TEST(ProxyRequestHead, EncodedSecretAppearsOnceForEveryRecipe) {
  const std::string secret = "u:p/W+d=";
  const std::pair<Policy, std::string> recipes[] = {
      {MakePolicy({kHost}), secret},
      {MakePolicy({kHost}, keycell_ipc_InjectKind_INJECT_BASIC), "dTpwL1crZD0="},
      {MakePolicy({kHost}, keycell_ipc_InjectKind_INJECT_HEADER, "X-K", "p-"), "p-" + secret},
      {MakePolicy({kHost}, keycell_ipc_InjectKind_INJECT_QUERY, "k"), "k=u%3Ap%2FW%2Bd%3D"},
      {MakePolicy({kHost}, keycell_ipc_InjectKind_INJECT_COOKIE, "c"), "c=" + secret},
  };
  for (const auto& [policy, wire] : recipes) {
    const std::string head = Build(policy, Req{}, secret);
    EXPECT_EQ(Count(head, wire), 1u) << wire;
    EXPECT_EQ(Count(head, "Host:"), 1u);
    EXPECT_EQ(head.find("\r\n\r\n"), head.size() - 4);
  }
}

TEST(ProxyRedirect, OnlyFollowableRedirects) {
  for (int s : {301, 302, 303, 307, 308}) EXPECT_TRUE(IsRedirect(s)) << s;
  for (int s : {200, 204, 300, 304, 305, 306, 309, 400, 0, -302}) EXPECT_FALSE(IsRedirect(s)) << s;
}

}  // namespace
}  // namespace keycell::enclave::proxy

// The canonical encoding, the chain hash and the write-side guards (sanitize.h).

#include "broker/audit/record.h"

#include <gtest/gtest.h>
#include <mbedtls/md.h>

#include <cstring>
#include <string>
#include <vector>

#include "broker/audit/sanitize.h"
#include "tests/support/status_testing.h"

namespace keycell::broker::audit {
namespace {

// The layout of docs/audit.md, built independently of record.cc.
void I64(std::vector<uint8_t>* v, int64_t x) {
  for (int i = 7; i >= 0; --i)
    v->push_back(static_cast<uint8_t>(static_cast<uint64_t>(x) >> (8 * i)));
}
void Str(std::vector<uint8_t>* v, const std::string& s) {
  const uint32_t n = static_cast<uint32_t>(s.size());
  for (int i = 3; i >= 0; --i) v->push_back(static_cast<uint8_t>(n >> (8 * i)));
  v->insert(v->end(), s.begin(), s.end());
}

Record Example() {
  Record r;
  r.seq = 42;
  r.ts = 1700000000;
  r.actor = "ci-bot";
  r.actor_kind = ActorKind::kAgent;
  r.action = "proxy";
  r.credential = "openai/prod";
  r.version = 3;
  r.host = "api.openai.com";
  r.path = "/v1/chat/completions";
  r.result = "ok";
  r.status = 200;
  r.latency_us = 1234;
  r.detail = "";
  return r;
}

std::string Hex(const Hash& h) {
  static const char* kDigits = "0123456789abcdef";
  std::string s;
  for (uint8_t b : h) {
    s.push_back(kDigits[b >> 4]);
    s.push_back(kDigits[b & 15]);
  }
  return s;
}

TEST(AuditRecordTest, CanonicalEncodingIsTheDocumentedLayout) {
  const Record r = Example();
  std::vector<uint8_t> want;
  const std::string tag = "KCAUDv1\n";
  want.insert(want.end(), tag.begin(), tag.end());
  I64(&want, 42);
  I64(&want, 1700000000);
  Str(&want, "ci-bot");
  Str(&want, "agent");
  Str(&want, "proxy");
  Str(&want, "openai/prod");
  want.push_back(1);
  I64(&want, 3);
  Str(&want, "api.openai.com");
  Str(&want, "/v1/chat/completions");
  Str(&want, "ok");
  want.push_back(1);
  I64(&want, 200);
  I64(&want, 1234);
  Str(&want, "");
  EXPECT_EQ(CanonicalV1(r), want);
}

TEST(AuditRecordTest, CanonicalSeparatesAbsentFromZeroAndFieldBoundaries) {
  Record a = Example(), b = Example();
  a.status = std::nullopt;
  b.status = 0;
  EXPECT_NE(CanonicalV1(a), CanonicalV1(b));
  Record c = Example(), d = Example();
  c.actor = "ab";
  c.credential = "";
  d.actor = "a";
  d.credential = "b";
  EXPECT_NE(CanonicalV1(c), CanonicalV1(d));
  Record e = Example(), f = Example();
  f.seq = 43;  // the position is part of what is hashed
  EXPECT_NE(CanonicalV1(e), CanonicalV1(f));
}

TEST(AuditRecordTest, HashIsSha256OfPrevHashAndCanonical) {
  Record r = Example();
  r.prev_hash.fill(0xab);
  std::vector<uint8_t> input(r.prev_hash.begin(), r.prev_hash.end());
  const std::vector<uint8_t> canonical = CanonicalV1(r);
  input.insert(input.end(), canonical.begin(), canonical.end());
  Hash want{};
  ASSERT_EQ(mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), input.data(), input.size(),
                       want.data()),
            0);
  KC_ASSERT_OK_AND_ASSIGN(Hash got, ComputeHash(r));
  EXPECT_EQ(got, want);
}

// Pins format v1: the same vector is printed in docs/audit.md for outside verifiers.
TEST(AuditRecordTest, KnownAnswer) {
  KC_ASSERT_OK_AND_ASSIGN(Hash got, ComputeHash(Example()));  // prev_hash = 32 zero bytes
  EXPECT_EQ(Hex(got), "de7e586e526cf1dd13d51fa80b2526740ba5a5b986f3e8ae938f09faf6131492");
}

TEST(AuditRecordTest, CheckpointMessageBindsSeqTsAndHead) {
  Hash head{};
  head.fill(7);
  const std::vector<uint8_t> m = CheckpointMessage(5, 9, head);
  ASSERT_EQ(m.size(), 8u + 8 + 8 + 32);
  EXPECT_EQ(std::string(m.begin(), m.begin() + 8), "KCCKPv1\n");
  EXPECT_NE(m, CheckpointMessage(6, 9, head));
  EXPECT_NE(m, CheckpointMessage(5, 10, head));
}

TEST(AuditRecordTest, ActorKindNamesRoundTrip) {
  for (ActorKind k : {ActorKind::kUid, ActorKind::kAgent, ActorKind::kApiKey, ActorKind::kToken}) {
    EXPECT_EQ(ParseActorKind(ActorKindName(k)), k);
  }
  EXPECT_FALSE(ParseActorKind("root").has_value());
}

TEST(AuditRecordTest, StripQueryRemovesQueryFragmentAndUserinfo) {
  EXPECT_EQ(StripQuery("/v1/models?key=sk-secret&x=1"), "/v1/models");
  EXPECT_EQ(StripQuery("/a#frag?x"), "/a");
  EXPECT_EQ(StripQuery("/plain/path"), "/plain/path");
  EXPECT_EQ(StripQuery("https://user:pw@api.example.com/v1?k=v"), "https://api.example.com/v1");
  EXPECT_EQ(StripQuery("http://api.example.com"), "http://api.example.com");
  // '@' in the path of an absolute-form target is not userinfo.
  EXPECT_EQ(StripQuery("https://h.example/users/@me"), "https://h.example/users/@me");
}

TEST(AuditRecordTest, RedactsKnownSecretShapes) {
  const std::string token = "pxr_" + std::string(43, 'A');
  EXPECT_EQ(RedactSecrets("token " + token + " used"), "token pxr_[redacted] used");
  EXPECT_EQ(RedactSecrets("kc_" + std::string(43, 'z')), "kc_[redacted]");
  EXPECT_EQ(RedactSecrets("Authorization: Bearer abcdefghijklmnop.qrs"),
            "Authorization: Bearer [redacted]");
  EXPECT_EQ(RedactSecrets("key=sk-proj-0123456789abcdefghij"), "key=sk-[redacted]");
  EXPECT_EQ(RedactSecrets("AKIAIOSFODNN7EXAMPLE"), "AKIA[redacted]");
  // What is meant to be logged stays: a token's listed prefix, words that merely contain
  // a prefix, short runs.
  EXPECT_EQ(RedactSecrets("token pxr_AbCdEfGh revoked"), "token pxr_AbCdEfGh revoked");
  EXPECT_EQ(RedactSecrets("task-0123456789abcdefghij"), "task-0123456789abcdefghij");
  EXPECT_EQ(RedactSecrets("sk-short"), "sk-short");
}

TEST(AuditRecordTest, SanitizeCapsAtUtf8BoundaryAndReplacesControls) {
  Entry e;
  e.action = "reveal";
  e.detail = std::string(kMaxDetailBytes - 4, 'x') + "\xc3\xa9\xc3\xa9\xc3\xa9";  // "ééé"
  e.actor = "evil\nINJECTED\x1b[31m";
  KC_ASSERT_OK_AND_ASSIGN(Entry s, SanitizeEntry(e));
  EXPECT_LE(s.detail.size(), kMaxDetailBytes);
  EXPECT_TRUE(s.detail.ends_with("x..."));  // the cut never splits the 2-byte "é"
  EXPECT_EQ(s.actor, "evil_INJECTED_[31m");
  e.detail = std::string(100000, 'y');
  KC_ASSERT_OK_AND_ASSIGN(s, SanitizeEntry(e));
  EXPECT_EQ(s.detail.size(), kMaxDetailBytes);
}

TEST(AuditRecordTest, SanitizeRefusesBadProgramFields) {
  auto bad = [](auto mutate) {
    Entry e;
    e.action = "proxy";
    mutate(e);
    return SanitizeEntry(e).status().code();
  };
  EXPECT_EQ(bad([](Entry&) {}), Err::kOk);
  EXPECT_EQ(bad([](Entry& e) { e.action = ""; }), Err::kInvalidArgument);
  EXPECT_EQ(bad([](Entry& e) { e.action = "Proxy Call"; }), Err::kInvalidArgument);
  EXPECT_EQ(bad([](Entry& e) { e.result = "OK!"; }), Err::kInvalidArgument);
  EXPECT_EQ(bad([](Entry& e) { e.version = 0; }), Err::kInvalidArgument);
  EXPECT_EQ(bad([](Entry& e) { e.status = 1000; }), Err::kInvalidArgument);
  EXPECT_EQ(bad([](Entry& e) { e.latency_us = -1; }), Err::kInvalidArgument);
  EXPECT_EQ(bad([](Entry& e) { e.actor_kind = static_cast<ActorKind>(99); }),
            Err::kInvalidArgument);
}

TEST(AuditRecordTest, SanitizeStripsHostUserinfo) {
  Entry e;
  e.action = "proxy";
  e.host = "user:hunter2@api.example.com:443";
  KC_ASSERT_OK_AND_ASSIGN(Entry s, SanitizeEntry(e));
  EXPECT_EQ(s.host, "api.example.com:443");
}

}  // namespace
}  // namespace keycell::broker::audit

// Redactor: every encoding form, every split position, overlaps, short and binary
// secrets, a 64 MiB stream with bounded holdback, and the wipe discipline.

#include "enclave/http/redactor.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <utility>
#include <vector>

#include "enclave/http/redaction_patterns.h"
#include "tests/enclave/http/test_encoders.h"
#include "tests/support/status_testing.h"

namespace keycell::enclave::http {
namespace {

using test::Base64;
using test::Json;
using test::JsonEscape;
using test::Percent;
using test::PercentEncode;
using test::Secret;
using test::SegmentOutput;

const std::string M(kRedactionMarker);

Redactor Make(std::string_view secret, SecretKind kind = SecretKind::kOpaque) {
  auto r = Redactor::Create(Secret(secret), kind);
  KC_CHECK(r.ok());
  return std::move(r).value();
}

// Feeds `in` cut at `cuts` (ascending offsets), then Finish().
std::string RunPieces(Redactor& r, std::string_view in, const std::vector<size_t>& cuts,
                      SegmentOutput* seg = nullptr) {
  SegmentOutput local;
  SegmentOutput& out = seg != nullptr ? *seg : local;
  size_t at = 0;
  for (size_t c : cuts) {
    r.Process(AsBytes(in.substr(at, c - at)), out);
    EXPECT_LE(r.holdback_bytes(), r.max_holdback_bytes());
    at = c;
  }
  r.Process(AsBytes(in.substr(at)), out);
  r.Finish(out);
  EXPECT_EQ(r.holdback_bytes(), 0u);
  return out.text();
}

std::string Redact(std::string_view secret, std::string_view in,
                   SecretKind kind = SecretKind::kOpaque) {
  Redactor r = Make(secret, kind);
  return RunPieces(r, in, {});
}

// A secret that needs every escaping rule: '/', '+', '=', space, quote, backslash,
// newline, tab, a 2-byte and a 4-byte UTF-8 character.
const std::string kAwkward = "Ab1/+= \"q\\\n\tz\xc3\xa9-\xf0\x9f\x98\x80.Q~";

std::vector<std::pair<std::string, std::string>> Forms(const std::string& s) {
  const std::string b64 = Base64(s, false, true);
  return {
      {"raw", s},
      {"base64", b64},
      {"base64 unpadded", Base64(s, false, false)},
      {"base64url", Base64(s, true, true)},
      {"base64url unpadded", Base64(s, true, false)},
      {"percent upper", PercentEncode(s, Percent::kUpper)},
      {"percent lower", PercentEncode(s, Percent::kLower)},
      {"form (+ for space)", PercentEncode(s, Percent::kFormPlus)},
      {"percent everything", PercentEncode(s, Percent::kEverything)},
      {"json", JsonEscape(s, Json::kMinimal)},
      {"json \\/", JsonEscape(s, Json::kSlash)},
      {"json ascii-only", JsonEscape(s, Json::kAsciiOnly)},
      {"json all \\u", JsonEscape(s, Json::kEverything)},
      {"base64 in json \\/", JsonEscape(b64, Json::kSlash)},
      {"base64 percent-encoded", PercentEncode(b64, Percent::kUpper)},
      {"base64url percent lower", PercentEncode(Base64(s, true, true), Percent::kLower)},
  };
}

void ExpectNoForm(const SegmentOutput& out, const std::string& secret) {
  for (const auto& [name, form] : Forms(secret)) {
    EXPECT_FALSE(out.PlainContains(form)) << name;
  }
}

TEST(RedactorTest, RefusesEmptyAndOversizedSecrets) {
  EXPECT_EQ(Redactor::Create(SecretView()).status().code(), Err::kInvalidArgument);
  const std::string big(Redactor::kMaxSecretBytes + 1, 'k');
  EXPECT_EQ(Redactor::Create(Secret(big)).status().code(), Err::kTooLarge);
  const std::string max(Redactor::kMaxSecretBytes, 'k');
  EXPECT_TRUE(Redactor::Create(Secret(max)).ok());
}

TEST(RedactorTest, EveryFormIsReplacedByExactlyOneMarker) {
  for (const auto& [name, form] : Forms(kAwkward)) {
    SCOPED_TRACE(name);
    Redactor r = Make(kAwkward);
    SegmentOutput out;
    EXPECT_EQ(RunPieces(r, "<<" + form + ">>", {}, &out), "<<" + M + ">>");
    EXPECT_EQ(out.markers(), 1u);
    EXPECT_EQ(r.redactions(), 1u);
    ExpectNoForm(out, kAwkward);
  }
}

TEST(RedactorTest, EveryFormAcrossEverySplitPoint) {
  Redactor r = Make(kAwkward);
  for (const auto& [name, form] : Forms(kAwkward)) {
    const std::string in = "{\"echo\":\"" + form + "\"}";
    const std::string want = "{\"echo\":\"" + M + "\"}";
    for (size_t cut = 0; cut <= in.size(); ++cut) {
      SegmentOutput out;
      ASSERT_EQ(RunPieces(r, in, {cut}, &out), want) << name << " cut at " << cut;
      ExpectNoForm(out, kAwkward);
    }
  }
}

TEST(RedactorTest, ByteByByteAndEveryTwoCuts) {
  Redactor r = Make(kAwkward);
  for (const auto& [name, form] : Forms(kAwkward)) {
    const std::string in = "a " + form + " b";
    std::vector<size_t> each;
    for (size_t i = 1; i < in.size(); ++i) each.push_back(i);
    EXPECT_EQ(RunPieces(r, in, each), "a " + M + " b") << name;
  }
  const std::string in = "x" + PercentEncode(kAwkward, Percent::kLower) + "y";
  for (size_t i = 0; i <= in.size(); i += 3) {
    for (size_t j = i; j <= in.size(); j += 2) {
      ASSERT_EQ(RunPieces(r, in, {i, j}), "x" + M + "y") << i << "," << j;
    }
  }
}

// base64 of the secret inside longer base64 data: every character that carries a bit of
// the secret is replaced (the edges mix secret bits with neighbouring bits), no other.
TEST(RedactorTest, Base64EmbeddedAtEveryAlignment) {
  std::mt19937 rng(7);
  for (int round = 0; round < 120; ++round) {
    const size_t n = 5 + rng() % 40;
    std::string secret(n, 0), prefix(3 + rng() % 9, 0), suffix(rng() % 6, 0);
    for (char& c : secret) c = static_cast<char>(rng());
    for (char& c : prefix) c = static_cast<char>(rng());
    for (char& c : suffix) c = static_cast<char>(rng());
    const bool url = round % 2 == 1;
    const std::string b64 = Base64(prefix + secret + suffix, url, true);
    const size_t lo = 8 * prefix.size() / 6;              // first char with a secret bit
    const size_t hi = (8 * (prefix.size() + n) + 5) / 6;  // one past the last
    std::string rest = b64.substr(hi);
    // Aligned at the very end, the secret's own padded base64 matches, '=' included.
    if (suffix.empty() && prefix.size() % 3 == 0) rest.clear();
    const std::string want = "(" + b64.substr(0, lo) + M + rest + ")";
    Redactor r = Make(secret);
    SegmentOutput out;
    ASSERT_EQ(RunPieces(r, "(" + b64 + ")", {1 + rng() % b64.size()}, &out), want)
        << "n=" << n << " prefix=" << prefix.size() << " url=" << url;
  }
}

TEST(RedactorTest, OverlappingAndAdjacentOccurrencesMerge) {
  EXPECT_EQ(Redact("abcab", "abcabcab"), M);  // overlapping
  EXPECT_EQ(Redact("abcab", "-abcabcab-"), "-" + M + "-");
  EXPECT_EQ(Redact("xyz", "xyzxyz"), M);  // adjacent: one run
  EXPECT_EQ(Redact("xyz", "xyz-xyz"), M + "-" + M);
  EXPECT_EQ(Redact("aaa", "aaaaa"), M);  // a prefix of itself repeated
  EXPECT_EQ(Redact("aaa", "aa"), "aa");
  EXPECT_EQ(Redact("aaa", "aaaa b aa"), M + " b aa");
  EXPECT_EQ(Redact("abab", "ababab"), M);
  EXPECT_EQ(Redact("abab", "abaabab"), "aba" + M);
}

// Over a two-letter alphabet no decoding lane differs from the raw one and no base64
// pattern can occur, so the result must equal a naive search with merged runs.
TEST(RedactorTest, MatchesNaiveSearchOnRandomText) {
  std::mt19937 rng(11);
  for (int round = 0; round < 3000; ++round) {
    std::string secret(1 + rng() % 5, 0), text(rng() % 40, 0);
    for (char& c : secret) c = "ab"[rng() % 2];
    for (char& c : text) c = "ab"[rng() % 2];
    std::vector<bool> covered(text.size());
    for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at + 1)) {
      for (size_t k = 0; k < secret.size(); ++k) covered[at + k] = true;
    }
    std::string want;
    for (size_t i = 0; i < text.size(); ++i) {
      if (!covered[i])
        want += text[i];
      else if (i == 0 || !covered[i - 1])
        want += M;
    }
    std::vector<size_t> cuts;
    for (size_t i = 1; i < text.size(); ++i) {
      if (rng() % 3 == 0) cuts.push_back(i);
    }
    Redactor r = Make(secret);
    ASSERT_EQ(RunPieces(r, text, cuts), want) << "secret=" << secret << " text=" << text;
  }
}

TEST(RedactorTest, ShortSecretsAreStillRedacted) {
  EXPECT_EQ(Redact("x", "xax"), M + "a" + M);
  EXPECT_EQ(Redact("x", "eA=="), M);  // base64("x") on its own
  EXPECT_EQ(Redact("x", "hello"), "hello");
  EXPECT_EQ(Redact("ab", "%61%62 and YWI= and \\u0061b"), M + " and " + M + " and " + M);
}

TEST(RedactorTest, BinarySecretInBinaryBody) {
  const std::string secret("\x00\xff\r\n%\\\"\x80", 8);
  std::mt19937 rng(3);
  std::string body, want;
  for (int i = 0; i < 200; ++i) {
    std::string noise(rng() % 50, 0);
    for (char& c : noise) c = static_cast<char>('A' + rng() % 20);  // no accidental matches
    body += noise;
    want += noise;
    const std::string form = i % 3 == 0   ? secret
                             : i % 3 == 1 ? PercentEncode(secret, Percent::kUpper)
                                          : Base64(secret, false, true);
    body += form;
    want += M;
    body += '|';
    want += '|';
  }
  Redactor r = Make(secret);
  SegmentOutput out;
  std::vector<size_t> cuts;
  for (size_t at = 1 + rng() % 64; at < body.size(); at += 1 + rng() % 64) cuts.push_back(at);
  EXPECT_EQ(RunPieces(r, body, cuts, &out), want);
  EXPECT_FALSE(out.PlainContains(secret));
  EXPECT_EQ(r.redactions(), 200u);
}

TEST(RedactorTest, EscapesThatDoNotDecodeToTheSecretPassThrough) {
  const std::string in = "100% %zz %4 \\x \\u12 \\ud800 \\udc00 + %2 \\";
  EXPECT_EQ(Redact("topsecret", in), in);
  // A lone surrogate in front must not hide the secret that follows.
  EXPECT_EQ(Redact("topsecret", "\\ud800topsecret"), "\\ud800" + M);
  EXPECT_EQ(Redact("topsecret", "%%74opsecret"), "%" + M);
  EXPECT_EQ(Redact("top secret", "top+secret top%20secret"), M + " " + M);
}

// A backslash the upstream did not escape, just before the escaped secret, shifts the
// escape parity; the second JSON lane reads the run the other way.
TEST(RedactorTest, StrayBackslashesBeforeAJsonEscapedSecret) {
  const std::string secret = "ghp_abc123XYZ";
  const std::string form = JsonEscape(secret, Json::kEverything);
  EXPECT_EQ(Redact(secret, "v\\" + form + "."), "v\\" + M + ".");
  // The form starts with its own backslash: 3 and 4 backslashes in a row.
  EXPECT_EQ(Redact(secret, "\\\\" + form), "\\\\" + M);
  EXPECT_EQ(Redact(secret, "\\\\\\" + form), "\\\\\\" + M);
  const std::string quoted = "\"" + secret;  // minimal escaping: \" then the rest raw
  EXPECT_EQ(Redact(quoted, "x\\" + JsonEscape(quoted, Json::kMinimal)), "x\\" + M);
}

TEST(RedactorTest, BasicAuthRedactsThePasswordAloneToo) {
  const std::string userpass = "alice:pa55w0rd!";
  EXPECT_EQ(Redact(userpass, "user alice, pass pa55w0rd!", SecretKind::kBasicUserPass),
            "user alice, pass " + M);
  EXPECT_EQ(Redact(userpass, "Basic " + Base64(userpass, false, true), SecretKind::kBasicUserPass),
            "Basic " + M);
  EXPECT_EQ(Redact(userpass, "p=" + PercentEncode("pa55w0rd!", Percent::kUpper),
                   SecretKind::kBasicUserPass),
            "p=" + M);
  // Opaque secrets are redacted as a whole only.
  EXPECT_EQ(Redact(userpass, "pass pa55w0rd!"), "pass pa55w0rd!");
}

TEST(RedactorTest, HeaderValuesAreIndependentOfTheStream) {
  const std::string secret = "sk_live_0123456789abcdef";
  Redactor r = Make(secret);
  SegmentOutput body;
  r.Process(AsBytes("abc " + secret.substr(0, 10)), body);
  EXPECT_GT(r.holdback_bytes(), 0u);
  EXPECT_EQ(r.RedactHeaderValue("Bearer " + secret), "Bearer " + M);
  EXPECT_EQ(r.RedactHeaderValue("nothing here"), "nothing here");
  EXPECT_EQ(r.RedactHeaderValue(secret.substr(0, 10)), secret.substr(0, 10));
  r.Process(AsBytes(secret.substr(10) + " def"), body);
  r.Finish(body);
  EXPECT_EQ(body.text(), "abc " + M + " def");
  EXPECT_EQ(r.redactions(), 1u);  // header values are not counted
}

TEST(RedactorTest, HoldbackIsBoundedByTheLongestPattern) {
  const std::string secret(40, 'k');
  Redactor r = Make(secret);
  // The longest pattern is the padded base64 (56 bytes); JSON \u escapes allow 6 input
  // bytes per decoded byte, hence the bound.
  EXPECT_LE(r.max_holdback_bytes(), 6u * (56 + 2) + 24);
  SegmentOutput out;
  r.Process(AsBytes("plain text, no secret."), out);
  EXPECT_EQ(r.holdback_bytes(), 0u);
  r.Process(AsBytes("abc"), out);
  // A base64 character may be the edge of a base64 run that encodes the secret.
  EXPECT_EQ(r.holdback_bytes(), 1u);
  r.Process(AsBytes(secret.substr(0, 39)), out);
  EXPECT_EQ(r.holdback_bytes(), 39u);  // all of it could still become the secret
  r.Process(AsBytes("!"), out);
  EXPECT_EQ(r.holdback_bytes(), 0u);
  r.Finish(out);
  EXPECT_EQ(out.text(), "plain text, no secret.abc" + secret.substr(0, 39) + "!");
}

// Output that scans for the secret on the fly without keeping the stream.
class StreamingChecker final : public Redactor::Output {
 public:
  explicit StreamingChecker(std::string secret) : secret_(std::move(secret)) {}
  void Write(ByteView bytes) override {
    out_bytes_ += bytes.size();
    tail_.append(AsChars(bytes));
    if (tail_.find(secret_) != std::string::npos) leaked_ = true;
    if (tail_.size() > secret_.size()) tail_.erase(0, tail_.size() - secret_.size());
  }
  void WriteMarker() override {
    ++markers_;
    tail_.clear();  // a plain segment ends here
  }
  bool leaked_ = false;
  uint64_t out_bytes_ = 0, markers_ = 0;

 private:
  std::string secret_;
  std::string tail_;
};

TEST(RedactorTest, SixtyFourMebibytesInSixteenKibPiecesWithBoundedMemory) {
  const std::string secret = "ghp_TESTSECRET_0123456789abcdefABCDEF";
  const std::vector<std::string> forms = {secret, Base64(secret, false, true),
                                          PercentEncode(secret, Percent::kLower),
                                          JsonEscape(secret, Json::kEverything)};
  Redactor r = Make(secret);
  StreamingChecker out(secret);
  constexpr size_t kTotal = size_t{64} << 20, kPiece = 16 << 10;
  const std::string filler = "The quick brown fox jumps over the lazy dog; {\"k\":\"v\\/w\"} %20 ";
  std::string piece(kPiece, 0);
  uint64_t inserted = 0, inserted_bytes = 0, sent = 0;
  size_t f = 0, max_holdback = 0;
  bool just_inserted = false;
  std::mt19937 rng(5);
  while (sent < kTotal) {
    for (size_t i = 0; i < kPiece;) {
      // Roughly every 4 KiB one occurrence, often straddling two pieces, never two in a
      // row (adjacent occurrences are one run, one marker).
      if (rng() % 4096 == 0 && !just_inserted) {
        just_inserted = true;
        const std::string& form = forms[inserted % forms.size()];
        const size_t n = std::min(form.size(), kPiece - i);
        memcpy(&piece[i], form.data(), n);
        i += n;
        if (n < form.size()) {  // finish it at the start of the next piece
          r.Process(AsBytes(piece), out);
          sent += kPiece;
          memcpy(&piece[0], form.data() + n, form.size() - n);
          i = form.size() - n;
        }
        ++inserted;
        inserted_bytes += form.size();
        continue;
      }
      just_inserted = false;
      piece[i++] = filler[f++ % filler.size()];
    }
    r.Process(AsBytes(piece), out);
    sent += kPiece;
    max_holdback = std::max(max_holdback, r.holdback_bytes());
    ASSERT_LE(r.holdback_bytes(), r.max_holdback_bytes());
  }
  r.Finish(out);
  EXPECT_FALSE(out.leaked_);
  EXPECT_EQ(out.markers_, inserted);
  EXPECT_EQ(r.redactions(), inserted);
  EXPECT_EQ(out.out_bytes_, sent - inserted_bytes);
  EXPECT_GT(inserted, 10000u);
  EXPECT_LE(max_holdback, r.max_holdback_bytes());
  EXPECT_LT(r.max_holdback_bytes(), 1024u);  // fixed at construction, independent of 64 MiB
}

int g_wipes = 0;
int g_dirty_wipes = 0;
void CountWipe(const uint8_t* data, size_t n) {
  ++g_wipes;
  for (size_t i = 0; i < n; ++i) {
    if (data[i] != 0) {
      ++g_dirty_wipes;
      return;
    }
  }
}

TEST(RedactorTest, EveryBufferIsWipedOnDestruction) {
  g_wipes = g_dirty_wipes = 0;
  SecureBuffer::SetWipeObserverForTest(&CountWipe);
  {
    const std::string secret = "wipe-me-please-0123";
    Redactor r = Make(secret);
    SegmentOutput out;
    r.Process(AsBytes("x " + secret + " y " + secret.substr(0, 12)), out);  // a partial match held
    EXPECT_GT(r.holdback_bytes(), 0u);
    g_wipes = 0;  // the pattern buffer is wiped during Create; count the rest
  }
  SecureBuffer::SetWipeObserverForTest(nullptr);
  EXPECT_EQ(g_wipes, 1);  // one buffer: the automaton and both streams' state
  EXPECT_EQ(g_dirty_wipes, 0);
}

TEST(RedactionPatternsTest, DerivesStandaloneAndEmbeddedBase64) {
  KC_ASSERT_OK_AND_ASSIGN(auto patterns, DerivePatterns(Secret("hello"), SecretKind::kOpaque));
  auto has = [&](std::string_view s, bool extend) {
    for (size_t i = 0; i < patterns.entries.size(); ++i) {
      if (AsChars(patterns.pattern(i).bytes()) == s &&
          patterns.entries[i].extend_before == extend) {
        return true;
      }
    }
    return false;
  };
  EXPECT_TRUE(has("hello", false));
  EXPECT_TRUE(has("aGVsbG8", false));
  EXPECT_TRUE(has("aGVsbG8=", false));
  EXPECT_TRUE(has("aGVsbG", false));  // alignment 0, stable middle (6 chars)
  // Alignment 1: base64("\0hello") = "AGhlbGxv": chars 2..7 carry only secret bits.
  EXPECT_TRUE(has("hlbGxv", true));
  EXPECT_EQ(DerivePatterns(SecretView(), SecretKind::kOpaque).status().code(),
            Err::kInvalidArgument);
}

TEST(RedactionPatternsTest, TinySecretsGetNoEmbeddedForms) {
  KC_ASSERT_OK_AND_ASSIGN(auto patterns, DerivePatterns(Secret("abcd"), SecretKind::kOpaque));
  for (size_t i = 0; i < patterns.entries.size(); ++i) {
    EXPECT_FALSE(patterns.entries[i].extend_before);
    EXPECT_GE(patterns.entries[i].size, 4u);
  }
}

}  // namespace
}  // namespace keycell::enclave::http

// ResponseParser: well-formed responses fed in every split (whole, every two-piece
// split, byte by byte, random splits with a fixed seed) must give the same transcript;
// hostile ones are refused with a fixed message in every split too.

#include "enclave/http/response_parser.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "tests/support/status_testing.h"

namespace keycell::enclave::http {
namespace {

using namespace std::string_literals;

// Records everything as text; body bytes concatenated so that splits compare equal.
class RecordingSink : public ResponseSink {
 public:
  Status OnInterim(const ResponseHead& h) override {
    log_ += "interim " + std::to_string(h.status) + Fields(h.fields) + "\n";
    return Status::Ok();
  }
  Status OnHead(const ResponseHead& h) override {
    static const char* kFraming[] = {"none", "length", "chunked", "close"};
    log_ += "head HTTP/" + std::to_string(h.version / 10) + "." + std::to_string(h.version % 10) +
            " " + std::to_string(h.status) + " '" + std::string(h.reason) + "' " +
            kFraming[static_cast<int>(h.framing)] +
            (h.content_length ? " cl=" + std::to_string(*h.content_length) : "") +
            (h.keep_alive ? " keep-alive" : "") + Fields(h.fields) + "\n";
    return Status::Ok();
  }
  Status OnBody(ByteView b) override {
    if (fail_body_) return Status(Err::kUpstreamIo, "test sink");
    body_.append(AsChars(b));
    ++body_calls_;
    return Status::Ok();
  }
  Status OnTrailers(std::span<const HeaderField> f) override {
    log_ += "trailers" + Fields(f) + "\n";
    return Status::Ok();
  }
  Status OnDone() override {
    log_ += "body '" + body_ + "'\ndone\n";
    return Status::Ok();
  }
  static std::string Fields(std::span<const HeaderField> f) {
    std::string s;
    for (const HeaderField& h : f)
      s += " [" + std::string(h.name) + ": " + std::string(h.value) + "]";
    return s;
  }
  std::string log_, body_;
  size_t body_calls_ = 0;
  bool fail_body_ = false;
};

struct Outcome {
  std::string log;
  Status status;
  bool keep_alive = false;
  size_t consumed = 0;
};

// Feeds `in` cut at `cuts`, then EOF if `eof`.
Outcome Parse(const std::string& in, const std::vector<size_t>& cuts, bool eof,
              ResponseParserOptions opt = {}) {
  auto p = ResponseParser::Create(opt);
  KC_CHECK(p.ok());
  RecordingSink sink;
  Outcome o;
  size_t at = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(in.size());
  for (size_t end : ends) {
    auto r = p->Feed(AsBytes(std::string_view(in).substr(at, end - at)), sink);
    at = end;
    if (!r.ok()) {
      o.status = r.status();
      o.log = sink.log_;
      return o;
    }
    o.consumed += *r;
  }
  if (eof) o.status = p->FeedEof(sink);
  if (o.status.ok() && !p->done()) o.status = Status(Err::kInternal, "test: not done");
  o.log = sink.log_;
  o.keep_alive = p->KeepAlive();
  return o;
}

std::vector<std::vector<size_t>> Splits(size_t n) {
  std::vector<std::vector<size_t>> all = {{}};
  for (size_t i = 1; i < n; ++i) all.push_back({i});
  std::vector<size_t> each;
  for (size_t i = 1; i < n; ++i) each.push_back(i);
  all.push_back(each);
  std::mt19937 rng(42);
  for (int k = 0; k < 20; ++k) {
    std::vector<size_t> cuts;
    for (size_t i = 1; i < n; ++i) {
      if (rng() % 7 == 0) cuts.push_back(i);
    }
    all.push_back(cuts);
  }
  return all;
}

struct GoodCase {
  const char* name;
  std::string in;
  bool head_request;
  bool eof;  // the body ends at EOF
  std::string log;
  bool keep_alive;
};

std::vector<GoodCase> GoodCases() {
  return {
      {"content-length",
       "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello", false,
       false,
       "head HTTP/1.1 200 'OK' length cl=5 keep-alive [Content-Length: 5] [Content-Type: "
       "text/plain]\nbody 'hello'\ndone\n",
       true},
      {"chunked with extensions and trailers",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5;ext=1\r\nhello\r\n6 ; a=\"q\\\"x\"\r\n world\r\nA\r\n\r\n0123\r\n67\r\n0;last\r\n"
       "X-Trailer: t1\r\nX-Other:  t2 \r\n\r\n",
       false, false,
       "head HTTP/1.1 200 'OK' chunked keep-alive [Transfer-Encoding: chunked]\n"
       "trailers [X-Trailer: t1] [X-Other: t2]\nbody 'hello world\r\n0123\r\n67'\ndone\n",
       true},
      {"chunked, empty", "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n", false,
       false,
       "head HTTP/1.1 200 'OK' chunked keep-alive [Transfer-Encoding: Chunked]\nbody ''\ndone\n",
       true},
      {"close-delimited", "HTTP/1.1 200 OK\r\nContent-Type: x\r\n\r\nuntil close\r\n\r\nstill body",
       false, true,
       "head HTTP/1.1 200 'OK' close [Content-Type: x]\nbody 'until close\r\n\r\nstill body'\n"
       "done\n",
       false},
      {"HEAD with Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", true, false,
       "head HTTP/1.1 200 'OK' none cl=1234 keep-alive [Content-Length: 1234]\nbody ''\ndone\n",
       true},
      {"HEAD with chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true, false,
       "head HTTP/1.1 200 'OK' none keep-alive [Transfer-Encoding: chunked]\nbody ''\ndone\n",
       true},
      {"204", "HTTP/1.1 204 No Content\r\nDate: x\r\n\r\n", false, false,
       "head HTTP/1.1 204 'No Content' none keep-alive [Date: x]\nbody ''\ndone\n", true},
      {"304 with Content-Length",
       "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\nETag: \"e\"\r\n\r\n", false, false,
       "head HTTP/1.1 304 'Not Modified' none cl=50 keep-alive [Content-Length: 50] [ETag: "
       "\"e\"]\nbody ''\ndone\n",
       true},
      {"Content-Length 0", "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", false, false,
       "head HTTP/1.1 201 'Created' length cl=0 keep-alive [Content-Length: 0]\nbody ''\ndone\n",
       true},
      {"100-continue then 200",
       "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false, false,
       "interim 100\nhead HTTP/1.1 200 'OK' length cl=2 keep-alive [Content-Length: 2]\nbody "
       "'ok'\ndone\n",
       true},
      {"103 early hints twice then 200",
       "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 103 Early Hints\r\n\r\n"
       "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
       false, false,
       "interim 103 [Link: </a>]\ninterim 103\nhead HTTP/1.1 200 'OK' length cl=1 keep-alive "
       "[Content-Length: 1]\nbody 'x'\ndone\n",
       true},
      {"Connection: close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
       false, false,
       "head HTTP/1.1 200 'OK' length cl=2 [Connection: close] [Content-Length: 2]\nbody "
       "'ok'\ndone\n",
       false},
      {"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false, false,
       "head HTTP/1.0 200 'OK' length cl=2 [Content-Length: 2]\nbody 'ok'\ndone\n", false},
      {"HTTP/1.0 keep-alive",
       "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", false, false,
       "head HTTP/1.0 200 'OK' length cl=2 keep-alive [Connection: keep-alive] [Content-Length: "
       "2]\nbody 'ok'\ndone\n",
       true},
      {"HTTP/1.0 close-delimited", "HTTP/1.0 404 Not Found\r\n\r\nnope", false, true,
       "head HTTP/1.0 404 'Not Found' close\nbody 'nope'\ndone\n", false},
      {"empty reason, obs-text value, binary body",
       "HTTP/1.1 500 \r\nX-Name: caf\xc3\xa9\r\nContent-Length: 6\r\n\r\n\0\r\n\xff\n\r"s, false,
       false,
       "head HTTP/1.1 500 '' length cl=6 keep-alive [X-Name: caf\xc3\xa9] [Content-Length: "
       "6]\nbody '\0\r\n\xff\n\r'\ndone\n"s,
       true},
      {"Content-Encoding identity",
       "HTTP/1.1 200 OK\r\nContent-Encoding: identity\r\nContent-Length: 1\r\n\r\nx", false, false,
       "head HTTP/1.1 200 'OK' length cl=1 keep-alive [Content-Encoding: identity] "
       "[Content-Length: 1]\nbody 'x'\ndone\n",
       true},
  };
}

TEST(ResponseParserTest, WellFormedResponsesInEverySplit) {
  for (const GoodCase& c : GoodCases()) {
    ResponseParserOptions opt;
    opt.head_request = c.head_request;
    for (const auto& cuts : Splits(c.in.size())) {
      const Outcome o = Parse(c.in, cuts, c.eof, opt);
      ASSERT_TRUE(o.status.ok()) << c.name << ": " << test::Describe(o.status)
                                 << " cuts=" << cuts.size();
      ASSERT_EQ(o.log, c.log) << c.name << " cuts=" << cuts.size();
      ASSERT_EQ(o.keep_alive, c.keep_alive) << c.name;
      ASSERT_EQ(o.consumed, c.in.size()) << c.name;
    }
  }
}

TEST(ResponseParserTest, BytesPastTheEndAreNotConsumedAndEndKeepAlive) {
  const std::string msg = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  for (const auto& cuts : Splits(msg.size() + 5)) {
    const Outcome o = Parse(msg + "HTTP/", cuts, false);
    ASSERT_TRUE(o.status.ok());
    EXPECT_EQ(o.consumed, msg.size());
    EXPECT_FALSE(o.keep_alive);
  }
}

TEST(ResponseParserTest, ResetServesTheNextResponseOnTheConnection) {
  KC_ASSERT_OK_AND_ASSIGN(ResponseParser p, ResponseParser::Create({}));
  RecordingSink a, b;
  KC_ASSERT_OK(p.Feed(AsBytes("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA"), a));
  EXPECT_TRUE(p.KeepAlive());
  EXPECT_EQ(p.body_bytes(), 1u);
  p.Reset(/*head_request=*/false);
  EXPECT_FALSE(p.done());
  KC_ASSERT_OK(p.Feed(
      AsBytes("HTTP/1.1 404 Nope\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nBB\r\n0\r\n\r\n"), b));
  EXPECT_TRUE(p.done());
  EXPECT_EQ(p.framing(), BodyFraming::kChunked);
  EXPECT_EQ(b.body_, "BB");
}

TEST(ResponseParserTest, BodyIsStreamedNotBuffered) {
  KC_ASSERT_OK_AND_ASSIGN(ResponseParser p, ResponseParser::Create({}));
  RecordingSink sink;
  KC_ASSERT_OK(p.Feed(AsBytes("HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n"), sink));
  const std::string piece(100000, 'z');
  for (int i = 0; i < 3; ++i) {
    KC_ASSERT_OK_AND_ASSIGN(size_t n, p.Feed(AsBytes(piece), sink));
    EXPECT_EQ(n, piece.size());
    EXPECT_EQ(sink.body_.size(), (i + 1) * piece.size());  // delivered at once, not held
  }
  EXPECT_TRUE(p.done());
}

struct BadCase {
  const char* name;
  std::string in;
  Err code;
  bool eof = false;
  ResponseParserOptions opt = {};
};

std::vector<BadCase> BadCases() {
  ResponseParserOptions small_body;
  small_body.max_body_bytes = 10;
  ResponseParserOptions small_head;
  small_head.max_header_bytes = 1024;
  const std::string canary = "SECRETCANARY";
  std::string many_fields = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 300; ++i) many_fields += "X-" + std::to_string(i) + ": v\r\n";
  std::string many_interims;
  for (int i = 0; i < 9; ++i) many_interims += "HTTP/1.1 100 Continue\r\n\r\n";
  return {
      {"CL + TE",
       "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       Err::kBadFrame},
      {"TE + CL",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
       Err::kBadFrame},
      {"two equal CLs", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
       Err::kBadFrame},
      {"two different CLs", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
       Err::kBadFrame},
      {"CL list", "HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok", Err::kBadFrame},
      {"CL not a number", "HTTP/1.1 200 OK\r\nContent-Length: 0x2\r\n\r\nok", Err::kBadFrame},
      {"CL negative", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nok", Err::kBadFrame},
      {"TE gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx", Err::kBadFrame, true},
      {"TE gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
       Err::kBadFrame},
      {"TE twice",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       Err::kBadFrame},
      {"TE in HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       Err::kBadFrame},
      {"bad chunk size",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
       Err::kBadFrame},
      {"negative chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nab\r\n",
       Err::kBadFrame},
      {"chunk size overflow",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nab\r\n",
       Err::kBadFrame},
      {"chunk size over the body limit",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffff\r\nab\r\n", Err::kTooLarge,
       false, small_body},
      {"chunk without CRLF",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n0\r\n\r\n",
       Err::kBadFrame},
      {"CL in trailers",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: 3\r\n\r\n",
       Err::kBadFrame},
      {"head too large", "HTTP/1.1 200 OK\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n",
       Err::kTooLarge, false, small_head},
      {"unterminated head too large", "HTTP/1.1 200 OK\r\nX-Big: " + std::string(2000, 'a'),
       Err::kTooLarge, false, small_head},
      {"chunk extension too large",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;e=" + std::string(2000, 'e') +
           "\r\nx\r\n",
       Err::kTooLarge, false, small_head},
      {"trailers too large",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: " + std::string(2000, 't'),
       Err::kTooLarge, false, small_head},
      {"too many fields", many_fields + "\r\n", Err::kTooLarge},
      {"body over limit (length)", "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world",
       Err::kTooLarge, false, small_body},
      {"body over limit (chunked)",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello "
       "\r\n5\r\nworld\r\n0\r\n\r\n",
       Err::kTooLarge, false, small_body},
      {"body over limit (close)", "HTTP/1.1 200 OK\r\n\r\nhello world", Err::kTooLarge, true,
       small_body},
      {"101",
       "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
       Err::kBadFrame},
      {"status 2000", "HTTP/1.1 2000 OK\r\n\r\n", Err::kBadFrame},
      {"status 099", "HTTP/1.1 099 Low\r\n\r\n", Err::kBadFrame},
      {"status 600", "HTTP/1.1 600 High\r\n\r\n", Err::kBadFrame},
      {"HTTP/2.0", "HTTP/2.0 200 OK\r\n\r\n", Err::kBadFrame},
      {"not HTTP", "FOO/1.1 200 OK\r\n\r\n", Err::kBadFrame},
      {"garbage", canary + " garbage\r\n\r\n", Err::kBadFrame},
      {"leading empty line", "\r\nHTTP/1.1 200 OK\r\n\r\n", Err::kBadFrame},
      {"obs-fold", "HTTP/1.1 200 OK\r\nX-A: " + canary + "\r\n folded\r\nContent-Length: 0\r\n\r\n",
       Err::kBadFrame},
      {"obs-fold after empty value",
       "HTTP/1.1 200 OK\r\nX-A:\r\n\tfolded\r\nContent-Length: 0\r\n\r\n", Err::kBadFrame},
      {"obs-fold in trailers",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: a\r\n b\r\n\r\n",
       Err::kBadFrame},
      {"bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", Err::kBadFrame},
      {"bare CR", "HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n", Err::kBadFrame},
      {"NUL in value", "HTTP/1.1 200 OK\r\nX-A: a\0b\r\n\r\n"s, Err::kBadFrame},
      {"space before colon", "HTTP/1.1 200 OK\r\nX-A : a\r\n\r\n", Err::kBadFrame},
      {"gzip body", "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc",
       Err::kPolicyDenied},
      {"br chunked body",
       "HTTP/1.1 200 OK\r\nContent-Encoding: identity, br\r\nTransfer-Encoding: chunked\r\n\r\n",
       Err::kPolicyDenied},
      {"too many 1xx", many_interims + "HTTP/1.1 200 OK\r\n\r\n", Err::kTooLarge},
      {"truncated length body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
       Err::kBadFrame, true},
      {"truncated chunked body", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
       Err::kBadFrame, true},
      {"truncated chunk line", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5",
       Err::kBadFrame, true},
      {"truncated head", "HTTP/1.1 200 OK\r\nContent-", Err::kBadFrame, true},
      {"only an interim", "HTTP/1.1 100 Continue\r\n\r\n", Err::kBadFrame, true},
      {"nothing", "", Err::kBadFrame, true},
  };
}

TEST(ResponseParserTest, HostileResponsesAreRefusedInEverySplit) {
  for (const BadCase& c : BadCases()) {
    std::vector<std::vector<size_t>> splits = {{}};
    if (c.in.size() > 1) {
      std::vector<size_t> each;
      for (size_t i = 1; i < c.in.size(); ++i) each.push_back(i);
      splits.push_back(each);
      splits.push_back({c.in.size() / 2});
    }
    for (const auto& cuts : splits) {
      const Outcome o = Parse(c.in, cuts, c.eof, c.opt);
      ASSERT_EQ(o.status.code(), c.code)
          << c.name << ": " << test::Describe(o.status) << " cuts=" << cuts.size();
      // Errors name the rule, never the bytes (which may hold the secret).
      EXPECT_EQ(std::string(o.status.where()).find("CANARY"), std::string::npos);
      EXPECT_EQ(std::string(o.status.where()).rfind("http response: ", 0), 0u) << o.status.where();
    }
  }
}

TEST(ResponseParserTest, ContentEncodingCanBeAllowedAndIsHarmlessWithoutBody) {
  ResponseParserOptions allow;
  allow.allow_content_encoding = true;
  EXPECT_TRUE(Parse("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 1\r\n\r\nx", {},
                    false, allow)
                  .status.ok());
  EXPECT_TRUE(
      Parse("HTTP/1.1 304 Not Modified\r\nContent-Encoding: gzip\r\n\r\n", {}, false).status.ok());
  EXPECT_TRUE(
      Parse("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 0\r\n\r\n", {}, false)
          .status.ok());
}

TEST(ResponseParserTest, SinkErrorsStopTheParseAndStick) {
  KC_ASSERT_OK_AND_ASSIGN(ResponseParser p, ResponseParser::Create({}));
  RecordingSink sink;
  sink.fail_body_ = true;
  auto r = p.Feed(AsBytes("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody"), sink);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Err::kUpstreamIo);
  EXPECT_STREQ(r.status().where(), "test sink");
  EXPECT_EQ(p.Feed(AsBytes("more"), sink).status().code(), Err::kUpstreamIo);
  EXPECT_EQ(p.FeedEof(sink).code(), Err::kUpstreamIo);
  EXPECT_FALSE(p.KeepAlive());
}

TEST(ResponseParserTest, RefusesUnusableOptions) {
  ResponseParserOptions zero;
  zero.max_header_bytes = 0;
  EXPECT_EQ(ResponseParser::Create(zero).status().code(), Err::kInvalidArgument);
}

}  // namespace
}  // namespace keycell::enclave::http

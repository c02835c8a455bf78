// Parser and redactor together, the way the enclave will use them: upstream bytes in,
// redacted head and body out. The secret is split across chunk boundaries and TLS
// record boundaries (Feed calls).

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "enclave/http/redactor.h"
#include "enclave/http/response_parser.h"
#include "tests/enclave/http/test_encoders.h"
#include "tests/support/status_testing.h"

namespace keycell::enclave::http {
namespace {

using test::Base64;
using test::Secret;
using test::SegmentOutput;

const std::string M(kRedactionMarker);

// What the enclave would send to the broker: redacted head fields and body.
class RedactingSink final : public ResponseSink {
 public:
  explicit RedactingSink(Redactor* r) : r_(r) {}
  Status OnHead(const ResponseHead& h) override {
    for (const HeaderField& f : h.fields) {
      head_ += std::string(f.name) + ": " + r_->RedactHeaderValue(f.value) + "\n";
    }
    return Status::Ok();
  }
  Status OnBody(ByteView b) override {
    r_->Process(b, body_);
    return Status::Ok();
  }
  Status OnTrailers(std::span<const HeaderField> fields) override {
    for (const HeaderField& f : fields) {
      head_ += "trailer " + std::string(f.name) + ": " + r_->RedactHeaderValue(f.value) + "\n";
    }
    return Status::Ok();
  }
  Status OnDone() override {
    r_->Finish(body_);
    return Status::Ok();
  }
  std::string head_;
  SegmentOutput body_;

 private:
  Redactor* r_;
};

std::string Hex(size_t n) {
  char b[32];
  snprintf(b, sizeof(b), "%zx", n);
  return b;
}

TEST(PipelineTest, SecretSplitAcrossChunksAndFeedsIsRedacted) {
  const std::string secret = "sk_live_51HxYzABCDEFghijklmnop";
  const std::string body =
      "{\"error\":\"invalid key " + secret + "\",\"b64\":\"" + Base64(secret, false, true) + "\"}";
  const std::string want = "{\"error\":\"invalid key " + M + "\",\"b64\":\"" + M + "\"}";
  // Every way to cut the body into two chunks, each response fed in 7-byte records.
  for (size_t cut = 1; cut < body.size(); ++cut) {
    const std::string response =
        "HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n"
        "X-Echo: Bearer " +
        secret + "\r\n\r\n" + Hex(cut) + "\r\n" + body.substr(0, cut) + "\r\n" +
        Hex(body.size() - cut) + ";x=y\r\n" + body.substr(cut) + "\r\n" +
        "0\r\nX-Trailer-Echo: " + secret + "\r\n\r\n";
    KC_ASSERT_OK_AND_ASSIGN(Redactor r, Redactor::Create(Secret(secret)));
    KC_ASSERT_OK_AND_ASSIGN(ResponseParser p, ResponseParser::Create({}));
    RedactingSink sink(&r);
    for (size_t at = 0; at < response.size(); at += 7) {
      KC_ASSERT_OK(p.Feed(AsBytes(std::string_view(response).substr(at, 7)), sink));
    }
    ASSERT_TRUE(p.done());
    EXPECT_TRUE(p.KeepAlive());
    ASSERT_EQ(sink.body_.text(), want) << "cut " << cut;
    EXPECT_FALSE(sink.body_.PlainContains(secret));
    EXPECT_EQ(sink.head_, "Transfer-Encoding: chunked\nX-Echo: Bearer " + M +
                              "\ntrailer X-Trailer-Echo: " + M + "\n");
  }
}

TEST(PipelineTest, CloseDelimitedBodyFlushesTheHoldbackAtEof) {
  const std::string secret = "tok-0123456789";
  KC_ASSERT_OK_AND_ASSIGN(Redactor r, Redactor::Create(Secret(secret)));
  KC_ASSERT_OK_AND_ASSIGN(ResponseParser p, ResponseParser::Create({}));
  RedactingSink sink(&r);
  KC_ASSERT_OK(p.Feed(AsBytes("HTTP/1.0 200 OK\r\n\r\nends with tok-0123456789"), sink));
  KC_ASSERT_OK(p.Feed(AsBytes(" and tok-01234"), sink));  // a partial match at EOF is not a secret
  EXPECT_GT(r.holdback_bytes(), 0u);
  KC_ASSERT_OK(p.FeedEof(sink));
  EXPECT_EQ(sink.body_.text(), "ends with " + M + " and tok-01234");
  EXPECT_FALSE(p.KeepAlive());
}

}  // namespace
}  // namespace keycell::enclave::http

#include "broker/http/response.h"

#include <gtest/gtest.h>

#include <string>

#include "broker/http/errors.h"
#include "broker/json/json.h"
#include "tests/broker/http/http_test_util.h"
#include "tests/support/status_testing.h"

namespace keycell::broker::http {
namespace {

using test::BodyOf;
using test::CaptureChannel;

TEST(ResponseWriterTest, SendWritesOneCompleteResponse) {
  CaptureChannel ch;
  ResponseWriter res(ch, {});
  KC_ASSERT_OK(res.SetHeader("X-Request-Id", "abc"));
  KC_ASSERT_OK(res.Send(201, "application/json", "{}"));
  EXPECT_EQ(ch.out,
            "HTTP/1.1 201 Created\r\nX-Request-Id: abc\r\nContent-Type: application/json\r\n"
            "Content-Length: 2\r\n\r\n{}");
  EXPECT_EQ(ch.writes, 1);  // head and body in one write
  EXPECT_TRUE(res.finished());
  EXPECT_TRUE(res.keep_alive());
  EXPECT_EQ(res.body_bytes(), 2u);
  // Everything after the head is refused.
  EXPECT_FALSE(res.SetHeader("X-Late", "1").ok());
  EXPECT_FALSE(res.Send(200, "", "").ok());
}

TEST(ResponseWriterTest, ConnectionHeaderFollowsTheChannelAndTheVersion) {
  {
    CaptureChannel ch(/*keep_alive=*/false);
    ResponseWriter res(ch, {});
    KC_ASSERT_OK(res.Send(200, "", ""));
    EXPECT_NE(ch.out.find("Connection: close\r\n"), std::string::npos);
    EXPECT_FALSE(res.keep_alive());
  }
  {
    CaptureChannel ch;
    ResponseWriter res(ch, {.head_request = false, .version = 10});
    KC_ASSERT_OK(res.Send(200, "", ""));
    EXPECT_NE(ch.out.find("Connection: keep-alive\r\n"), std::string::npos);
  }
  {
    CaptureChannel ch;
    ResponseWriter res(ch, {});
    res.CloseAfterResponse();
    KC_ASSERT_OK(res.Send(200, "", ""));
    EXPECT_NE(ch.out.find("Connection: close\r\n"), std::string::npos);
  }
}

TEST(ResponseWriterTest, RefusesHeadersThatCouldSplitTheResponse) {
  CaptureChannel ch;
  ResponseWriter res(ch, {});
  EXPECT_EQ(res.SetHeader("X-A", "v\r\nSet-Cookie: x=1").code(), Err::kInvalidArgument);
  EXPECT_FALSE(res.SetHeader("X-A", "v\nx").ok());
  EXPECT_FALSE(res.SetHeader("X-A", std::string("v\0x", 3)).ok());
  EXPECT_FALSE(res.SetHeader("X A", "v").ok());
  EXPECT_FALSE(res.SetHeader("X-A:", "v").ok());
  EXPECT_FALSE(res.SetHeader("", "v").ok());
  for (const char* owned : {"Content-Length", "transfer-encoding", "Connection", "Keep-Alive",
                            "Upgrade", "Trailer", "TE"}) {
    EXPECT_FALSE(res.SetHeader(owned, "x").ok()) << owned;
  }
  KC_EXPECT_OK(res.SetHeader("X-Tab", "a\tb"));
  EXPECT_FALSE(res.Send(200, "text/plain\r\nX: y", "").ok());
  EXPECT_FALSE(res.Send(99, "", "").ok());
  EXPECT_FALSE(res.Send(600, "", "").ok());
  EXPECT_FALSE(res.Send(204, "", "body").ok());
  EXPECT_TRUE(ch.out.empty());
}

TEST(ResponseWriterTest, NoContentHasNoLength) {
  CaptureChannel ch;
  ResponseWriter res(ch, {});
  KC_ASSERT_OK(res.Send(204, "", ""));
  EXPECT_EQ(ch.out, "HTTP/1.1 204 No Content\r\n\r\n");
}

TEST(ResponseWriterTest, ChunkedStreamsEachWriteAsOneChunk) {
  CaptureChannel ch;
  ResponseWriter res(ch, {});
  KC_ASSERT_OK(res.SetHeader("Content-Type", "text/event-stream"));
  KC_ASSERT_OK(res.BeginChunked(200));
  const int head_writes = ch.writes;
  KC_ASSERT_OK(res.Write("data: 1\n\n"));
  EXPECT_EQ(ch.writes, head_writes + 1);  // flushed at once
  KC_ASSERT_OK(res.Write(""));            // never the terminating chunk
  KC_ASSERT_OK(res.Write(std::string(300, 'x')));
  KC_ASSERT_OK(res.Finish());
  EXPECT_EQ(
      ch.out,
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
      "9\r\ndata: 1\n\n\r\n12c\r\n" +
          std::string(300, 'x') + "\r\n0\r\n\r\n");
  EXPECT_EQ(res.body_bytes(), 309u);
  EXPECT_FALSE(res.Write("late").ok());
}

TEST(ResponseWriterTest, FixedLengthIsEnforced) {
  {
    CaptureChannel ch;
    ResponseWriter res(ch, {});
    KC_ASSERT_OK(res.BeginFixed(200, 5));
    KC_ASSERT_OK(res.Write("abc"));
    EXPECT_FALSE(res.Write("def").ok());  // would overrun Content-Length
    EXPECT_TRUE(res.failed());
  }
  {
    CaptureChannel ch;
    ResponseWriter res(ch, {});
    KC_ASSERT_OK(res.BeginFixed(200, 5));
    KC_ASSERT_OK(res.Write("abc"));
    EXPECT_FALSE(res.Finish().ok());  // short body
    EXPECT_TRUE(res.failed());
    EXPECT_FALSE(res.finished());
  }
  {
    CaptureChannel ch;
    ResponseWriter res(ch, {});
    KC_ASSERT_OK(res.BeginFixed(200, 5));
    KC_ASSERT_OK(res.Write("ab"));
    KC_ASSERT_OK(res.Write("cde"));
    KC_ASSERT_OK(res.Finish());
    EXPECT_EQ(BodyOf(ch.out), "abcde");
    EXPECT_NE(ch.out.find("Content-Length: 5\r\n"), std::string::npos);
  }
}

TEST(ResponseWriterTest, HeadRequestsGetTheHeadOnly) {
  CaptureChannel ch;
  ResponseWriter res(ch, {.head_request = true, .version = 11});
  KC_ASSERT_OK(res.Send(200, "text/plain", "hello"));
  EXPECT_EQ(ch.out, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n");
  EXPECT_EQ(res.body_bytes(), 0u);

  CaptureChannel ch2;
  ResponseWriter chunked(ch2, {.head_request = true, .version = 11});
  KC_ASSERT_OK(chunked.BeginChunked(200));
  KC_ASSERT_OK(chunked.Write("ignored"));
  KC_ASSERT_OK(chunked.Finish());
  EXPECT_EQ(BodyOf(ch2.out), "");
}

TEST(ResponseWriterTest, Http10StreamingIsDelimitedByClose) {
  CaptureChannel ch;
  ResponseWriter res(ch, {.head_request = false, .version = 10});
  KC_ASSERT_OK(res.BeginChunked(200));
  KC_ASSERT_OK(res.Write("a"));
  KC_ASSERT_OK(res.Write("b"));
  KC_ASSERT_OK(res.Finish());
  EXPECT_EQ(ch.out, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nab");
  EXPECT_FALSE(res.keep_alive());
}

TEST(ErrorsTest, ErrorJsonShape) {
  KC_ASSERT_OK_AND_ASSIGN(json::Json j,
                          json::ParseJson(ErrorJson(ErrorCode::kNotFound, "credential not found")));
  EXPECT_EQ(json::GetString(j.get(), "error"), "credential not found");
  EXPECT_EQ(json::GetString(j.get(), "code"), "not_found");
  EXPECT_EQ(json::GetInt(j.get(), "status"), 404);
  EXPECT_EQ(json::ChildCount(j.get()), 3u);
  // Quotes and controls are escaped; invalid UTF-8 falls back to the reason phrase.
  EXPECT_EQ(ErrorJson(ErrorCode::kBadRequest, "a\"b\n"),
            R"({"error":"a\"b\n","code":"bad_request","status":400})");
  EXPECT_EQ(ErrorJson(ErrorCode::kBadGateway, "\xff"),
            R"({"error":"Bad Gateway","code":"bad_gateway","status":502})");
}

TEST(ErrorsTest, EveryCodeMapsToItsStatus) {
  const std::pair<ErrorCode, std::pair<int, const char*>> table[] = {
      {ErrorCode::kBadRequest, {400, "bad_request"}},
      {ErrorCode::kUnauthorized, {401, "unauthorized"}},
      {ErrorCode::kForbidden, {403, "forbidden"}},
      {ErrorCode::kNotFound, {404, "not_found"}},
      {ErrorCode::kMethodNotAllowed, {405, "method_not_allowed"}},
      {ErrorCode::kRequestTimeout, {408, "request_timeout"}},
      {ErrorCode::kConflict, {409, "conflict"}},
      {ErrorCode::kPayloadTooLarge, {413, "payload_too_large"}},
      {ErrorCode::kUnsupportedMediaType, {415, "unsupported_media_type"}},
      {ErrorCode::kExpectationFailed, {417, "expectation_failed"}},
      {ErrorCode::kLocked, {423, "locked"}},
      {ErrorCode::kRateLimited, {429, "rate_limited"}},
      {ErrorCode::kHeadersTooLarge, {431, "headers_too_large"}},
      {ErrorCode::kInternal, {500, "internal_error"}},
      {ErrorCode::kNotImplemented, {501, "not_implemented"}},
      {ErrorCode::kBadGateway, {502, "bad_gateway"}},
      {ErrorCode::kServiceUnavailable, {503, "service_unavailable"}},
      {ErrorCode::kGatewayTimeout, {504, "gateway_timeout"}},
  };
  for (const auto& [code, expected] : table) {
    const ErrorInfo info = GetErrorInfo(code);
    EXPECT_EQ(info.status, expected.first);
    EXPECT_STREQ(info.code, expected.second);
    CaptureChannel ch;
    ResponseWriter res(ch, {});
    KC_ASSERT_OK(SendError(res, code, "x"));
    EXPECT_EQ(res.status(), expected.first);
    EXPECT_EQ(ch.out.rfind("HTTP/1.1 " + std::to_string(expected.first) + " ", 0), 0u) << ch.out;
    EXPECT_NE(ch.out.find("Content-Type: application/json\r\n"), std::string::npos);
  }
}

TEST(ErrorsTest, RateLimitedCarriesRetryAfter) {
  CaptureChannel ch;
  ResponseWriter res(ch, {});
  KC_ASSERT_OK(SendRateLimited(res, 7));
  EXPECT_EQ(ch.out.rfind("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\n", 0), 0u) << ch.out;
  EXPECT_EQ(BodyOf(ch.out),
            R"({"error":"rate limit exceeded","code":"rate_limited","status":429})");

  CaptureChannel clamp;
  ResponseWriter res2(clamp, {});
  KC_ASSERT_OK(SendRateLimited(res2, 0, "slow down"));
  EXPECT_NE(clamp.out.find("Retry-After: 1\r\n"), std::string::npos);  // never 0
}

TEST(ErrorsTest, BodyReadErrorsMapAndClose) {
  const std::pair<Err, int> cases[] = {
      {Err::kTooLarge, 413}, {Err::kTimeout, 408}, {Err::kBadFrame, 400}};
  for (const auto& [err, status] : cases) {
    CaptureChannel ch;
    ResponseWriter res(ch, {});
    KC_ASSERT_OK(SendBodyReadError(res, Status(err, "x")));
    EXPECT_EQ(res.status(), status);
    EXPECT_FALSE(res.keep_alive());
  }
}

TEST(ErrorsTest, SendJsonPrintsTheTree) {
  const json::Json obj = json::MakeObject();
  KC_ASSERT_OK(json::SetString(obj.get(), "name", "x"));
  CaptureChannel ch;
  ResponseWriter res(ch, {});
  KC_ASSERT_OK(SendJson(res, 200, obj.get()));
  EXPECT_EQ(BodyOf(ch.out), R"({"name":"x"})");
  CaptureChannel ch2;
  ResponseWriter res2(ch2, {});
  KC_ASSERT_OK(SendJson(res2, 200, nullptr));
  EXPECT_EQ(res2.status(), 500);
}

TEST(BodyReaderTest, ReadAllHonoursTheLimit) {
  StringBodyReader exact("12345");
  KC_ASSERT_OK_AND_ASSIGN(std::string all, exact.ReadAll(5));
  EXPECT_EQ(all, "12345");
  StringBodyReader declared("123456");
  EXPECT_EQ(declared.ReadAll(5).status().code(), Err::kTooLarge);
  EXPECT_EQ(declared.bytes_read(), 0u);  // refused from Content-Length, before reading
  StringBodyReader chunked("123456", /*declare_length=*/false);
  EXPECT_EQ(chunked.ReadAll(5).status().code(), Err::kTooLarge);
  StringBodyReader big(std::string(100000, 'z'), false);
  KC_ASSERT_OK_AND_ASSIGN(std::string got, big.ReadAll(SIZE_MAX));
  EXPECT_EQ(got.size(), 100000u);
}

}  // namespace
}  // namespace keycell::broker::http

#pragma once
// In-memory helpers for the unit tests: a ResponseChannel that captures bytes, and
// Requests built without a socket.

#include <gtest/gtest.h>

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "broker/http/request.h"
#include "broker/http/response.h"
#include "broker/http/target.h"

namespace keycell::broker::http::test {

class CaptureChannel final : public ResponseChannel {
 public:
  explicit CaptureChannel(bool keep_alive = true) : keep_alive_(keep_alive) {}
  bool KeepAliveAfterResponse() override {
    ++keep_alive_queries;
    return keep_alive_;
  }
  Status Write(std::span<const std::string_view> pieces) override {
    for (const std::string_view p : pieces) out.append(p);
    ++writes;
    return Status::Ok();
  }
  std::string out;
  int writes = 0;
  int keep_alive_queries = 0;

 private:
  bool keep_alive_;
};

// A Request for `target` (must parse) with `headers`; body from `body`.
inline Request MakeTestRequest(std::string method, std::string target,
                               std::vector<HeaderField> headers, BodyReader* body) {
  auto parsed = ParseTarget(target);
  EXPECT_TRUE(parsed.ok()) << target;
  return Request(std::move(method), target,
                 parsed.ok() ? std::move(parsed).value() : ParsedTarget{}, 11, std::move(headers),
                 PeerAddress{"127.0.0.1", 40000}, body);
}

// The body of a captured response (after the blank line).
inline std::string BodyOf(const std::string& response) {
  const size_t pos = response.find("\r\n\r\n");
  return pos == std::string::npos ? std::string() : response.substr(pos + 4);
}

}  // namespace keycell::broker::http::test

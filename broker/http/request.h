#pragma once
// One parsed HTTP request as a handler sees it: method, target (path and its decoded
// segments, the raw query), headers with case-insensitive lookup, the peer's address,
// route parameters, and a BodyReader that streams the body in chunks.
//
// Lifetime: a Request lives on its connection thread for the duration of one handler
// call. Views returned by its accessors point into it and die with it. Not thread-safe;
// handlers that hand work to another thread copy what they need.
//
// Nothing here logs. Header values and the query may hold credentials: keep them out of
// logs and error messages (the access log records only method, path, status, bytes,
// latency).

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "broker/http/target.h"
#include "common/result.h"

namespace keycell::broker::http {

// The methods routes can name. kOther: anything else the client sent (TRACE, CONNECT,
// PROPFIND...): it never matches a route and is answered 405 or 404. Method names are
// case-sensitive (RFC 9110 §9.1): "get" is kOther.
enum class Method : uint8_t { kGet, kHead, kPost, kPut, kPatch, kDelete, kOptions, kOther };
inline constexpr int kMethodCount = 7;  // named methods, kGet..kOptions

Method ParseMethod(std::string_view name);
const char* MethodName(Method m);  // "GET", ...; "OTHER" for kOther

struct HeaderField {
  std::string name;   // as sent
  std::string value;  // leading/trailing whitespace removed
};

struct PeerAddress {
  std::string ip;  // numeric: "127.0.0.1", "::1"
  uint16_t port = 0;
};

// ASCII case-insensitive equality (header names, tokens).
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// The request body, de-chunked. Reads block, each bounded by the server's body read
// timeout; nothing is buffered beyond one read's worth, so a handler can stream a body
// of any size (up to ServerOptions::max_body_bytes) in constant memory.
//
// A handler need not read the body: the connection drains a small remainder after the
// response (keeping the connection alive) or closes the connection.
class BodyReader {
 public:
  virtual ~BodyReader() = default;

  // Reads up to `n` bytes into `buf`; returns 0 once the body is complete (and for a
  // request without a body). Blocks until at least one byte is available. On the first
  // read of a request that sent "Expect: 100-continue", sends "100 Continue" first.
  // Errors (the connection closes after the response):
  //   kTooLarge     body beyond ServerOptions::max_body_bytes (413)
  //   kTimeout      no body bytes for the body read timeout (408)
  //   kBadFrame     malformed chunked encoding, or the peer closed mid-body (400)
  //   kUpstreamIo   socket error (errno in detail)
  //   kUnavailable  the connection was already broken by an earlier error
  virtual Result<size_t> Read(char* buf, size_t n) = 0;

  virtual bool done() const = 0;            // every body byte has been read
  virtual uint64_t bytes_read() const = 0;  // de-chunked body bytes read so far
  // The Content-Length the client declared; nullopt for chunked (and bodiless) requests.
  virtual std::optional<uint64_t> content_length() const = 0;

  // Reads the whole body into a string, for JSON APIs. A declared Content-Length above
  // `limit` fails at once without reading; a chunked body fails as soon as it passes
  // `limit`. Errors: kTooLarge, plus Read's.
  Result<std::string> ReadAll(size_t limit);
};

// A body reader over a fixed string, for tests and for requests built in memory.
class StringBodyReader final : public BodyReader {
 public:
  explicit StringBodyReader(std::string body, bool declare_length = true)
      : body_(std::move(body)), declare_length_(declare_length) {}
  Result<size_t> Read(char* buf, size_t n) override;
  bool done() const override { return pos_ == body_.size(); }
  uint64_t bytes_read() const override { return pos_; }
  std::optional<uint64_t> content_length() const override {
    return declare_length_ ? std::optional<uint64_t>(body_.size()) : std::nullopt;
  }

 private:
  std::string body_;
  size_t pos_ = 0;
  bool declare_length_;
};

class Request {
 public:
  // Built by the connection (or a test). `body` and `stopping` must outlive the Request;
  // `stopping` may be null (never stopping).
  Request(std::string method, std::string target, ParsedTarget parsed, int version,
          std::vector<HeaderField> headers, PeerAddress peer, BodyReader* body,
          const std::atomic<bool>* stopping = nullptr);

  Method method() const { return method_; }
  std::string_view method_name() const { return method_name_; }  // as sent
  std::string_view target() const { return target_; }            // raw request-target
  std::string_view path() const { return parsed_.path; }         // raw, no query
  std::string_view query() const { return parsed_.query; }       // raw, no "?"
  bool has_query() const { return parsed_.has_query; }
  const std::vector<std::string>& segments() const { return parsed_.segments; }  // decoded
  // Absolute-form targets only (ServerOptions::allow_absolute_form): "http", "host:port".
  std::string_view scheme() const { return parsed_.scheme; }
  std::string_view authority() const { return parsed_.authority; }
  int version() const { return version_; }  // 10 (HTTP/1.0) or 11
  const ParsedTarget& parsed_target() const { return parsed_; }

  // The first header named `name` (case-insensitive), or nullopt.
  std::optional<std::string_view> Header(std::string_view name) const;
  // How many headers are named `name`: callers that need exactly one check for > 1.
  size_t HeaderCount(std::string_view name) const;
  const std::vector<HeaderField>& headers() const { return headers_; }

  const PeerAddress& peer() const { return peer_; }
  BodyReader& body() { return *body_; }

  // True once the server's Stop() began. Long-running handlers (SSE streams) poll it
  // between events and return, so a graceful stop does not wait for its whole deadline.
  bool stopping() const { return stopping_ != nullptr && stopping_->load(); }

  // Route parameters, set by the router: the decoded value of ":name", or nullopt.
  std::optional<std::string_view> Param(std::string_view name) const;
  // What a trailing "*" matched, raw (still percent-encoded): "" when it matched nothing,
  // else starting with "/" ("/r/:route/*" on "/r/x/v1/chat" gives "/v1/chat"). Forward
  // this, not the decoded segments, so "%2F" stays one segment upstream.
  std::string_view rest() const { return rest_; }
  void SetRouteMatch(std::vector<std::pair<std::string, std::string>> params, std::string rest);

 private:
  std::string method_name_;
  Method method_;
  std::string target_;
  ParsedTarget parsed_;
  int version_;
  std::vector<HeaderField> headers_;
  PeerAddress peer_;
  BodyReader* body_;
  const std::atomic<bool>* stopping_;
  std::vector<std::pair<std::string, std::string>> params_;
  std::string rest_;
};

}  // namespace keycell::broker::http

// libFuzzer harness for keycelld's HTTP request path (STYLE.md §3.12). Not built from
// this folder's sources alone: fuzz/CMakeLists.txt links kc_broker_http_auth (and with
// KEYCELL_FUZZ=OFF, replay_main.cc replays the corpus as a ctest).
//
// Input: byte 0 chooses how the bytes arrive (bits 0-5: at most that many bytes per read,
// 0 = all at once; bit 6: absolute-form targets allowed), the rest is what a client sends
// on one connection. It runs through ServeConnection, the code the server runs per
// connection: HeadScanner, Beast's request parser with our limits, our framing checks,
// ParseTarget, the router, BodyReader (Content-Length and chunked), ResponseWriter,
// keep-alive and draining. The handlers below touch every body and response shape.
//
// Properties checked (a violation aborts, which libFuzzer reports):
//   1. Nothing crashes, leaks or trips a sanitizer, whatever the bytes.
//   2. The output is a well-formed sequence of HTTP/1.1 responses: status line, header
//      fields with no control bytes, a body framed exactly by Content-Length or chunked
//      encoding (none for HEAD, 1xx, 204, 304), nothing after a "Connection: close"
//      response, no stray bytes at the end. One response per access-log entry, in order.
//   3. No access-log path holds a "?" or a control byte.
//   4. ParseTarget, on the raw input, accepts only targets whose decoded segments have no
//      control byte and no "."/".." segment, whose offsets point at their raw segments,
//      and whose path starts with "/"; parsing the accepted path again gives the same.

#include <stddef.h>
#include <stdint.h>

#include <string>
#include <string_view>
#include <vector>

#include "broker/http/auth.h"
#include "broker/http/connection.h"
#include "broker/http/errors.h"
#include "broker/http/target.h"
#include "common/result.h"

namespace keycell::broker::http {
namespace {

// Set by /partial, whose response is cut off by design (the connection then closes).
bool g_partial_called = false;

Router MakeRouter() {
  Router r;
  KC_CHECK(r.Add({Method::kGet, Method::kHead}, "/", [](Request& req, ResponseWriter& res) {
              const auto host = req.Header("Host");
              (void)res.Send(200, "text/plain",
                             host && IsLoopbackHostHeader(*host) ? "local" : "remote");
            }).ok());
  KC_CHECK(r.Add({Method::kPost, Method::kPut}, "/echo", [](Request& req, ResponseWriter& res) {
              auto body = req.body().ReadAll(4096);
              if (!body.ok()) return (void)SendBodyReadError(res, body.status());
              (void)res.Send(200, "application/octet-stream", *body);
            }).ok());
  KC_CHECK(r.Add(Method::kPost, "/stream", [](Request& req, ResponseWriter& res) {
              char buf[7];
              uint64_t total = 0;
              for (;;) {
                auto got = req.body().Read(buf, sizeof(buf));
                if (!got.ok()) return (void)SendBodyReadError(res, got.status());
                if (*got == 0) break;
                total += *got;
              }
              if (!res.BeginChunked(200).ok()) return;
              (void)res.Write("bytes=");
              (void)res.Write(std::to_string(total));
              (void)res.Finish();
            }).ok());
  KC_CHECK(
      r.Add(Method::kGet, "/api/v1/agents/:id/credentials", [](Request& req, ResponseWriter& res) {
         auto cred = PresentedCredential(req);
         if (!cred.ok()) return (void)SendError(res, ErrorCode::kBadRequest, cred.status().where());
         if (!cred->has_value()) return (void)SendRateLimited(res, 2);
         (void)res.Send(200, "text/plain", std::string(*req.Param("id")));
       }).ok());
  KC_CHECK(r.Add({Method::kGet, Method::kPost, Method::kDelete}, "/r/:route/*",
                 [](Request& req, ResponseWriter& res) {
                   const std::string rest(req.rest());
                   if (!res.BeginFixed(200, rest.size()).ok()) return;
                   (void)res.Write(std::string_view(rest).substr(0, rest.size() / 2));
                   (void)res.Write(std::string_view(rest).substr(rest.size() / 2));
                   (void)res.Finish();
                 })
               .ok());
  KC_CHECK(r.Add(Method::kGet, "/sse", [](Request&, ResponseWriter& res) {
              (void)res.SetHeader("Content-Type", "text/event-stream");
              if (!res.BeginChunked(200).ok()) return;
              for (int i = 0; i < 3; ++i) (void)res.Write("data: " + std::to_string(i) + "\n\n");
              (void)res.Finish();
            }).ok());
  KC_CHECK(r.Add(Method::kGet, "/partial", [](Request&, ResponseWriter& res) {
              g_partial_called = true;
              if (res.BeginFixed(200, 10).ok()) (void)res.Write("abc");  // never finished
            }).ok());
  KC_CHECK(r.Add(Method::kGet, "/nothing", [](Request&, ResponseWriter&) {}).ok());
  return r;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool HasControl(std::string_view s) {
  for (const char c : s) {
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) return true;
  }
  return false;
}

// Consumes one line ending in CRLF from `out` at `*pos`.
std::string_view Line(std::string_view out, size_t* pos) {
  const size_t end = out.find("\r\n", *pos);
  KC_CHECK(end != std::string_view::npos);
  const std::string_view line = out.substr(*pos, end - *pos);
  *pos = end + 2;
  return line;
}

uint64_t ParseHexOrDec(std::string_view s, int base) {
  KC_CHECK(!s.empty() && s.size() <= 15);
  uint64_t v = 0;
  for (const char c : s) {
    int d = IsDigit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    KC_CHECK(d >= 0 && d < base);
    v = v * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
  }
  return v;
}

// Property 2: walks the output response by response. `may_truncate`: the last response
// may end short of its Content-Length (only /partial does that).
void CheckResponses(std::string_view out, const std::vector<std::string>& methods,
                    bool may_truncate) {
  size_t pos = 0;
  size_t logged = 0;
  bool closed = false;
  while (pos < out.size()) {
    KC_CHECK(!closed);
    const std::string_view status_line = Line(out, &pos);
    KC_CHECK(status_line.size() >= 13 && status_line.substr(0, 9) == "HTTP/1.1 ");
    KC_CHECK(IsDigit(status_line[9]) && IsDigit(status_line[10]) && IsDigit(status_line[11]));
    KC_CHECK(status_line[12] == ' ');
    const int status = std::stoi(std::string(status_line.substr(9, 3)));
    std::string content_length, transfer_encoding, connection;
    for (std::string_view field = Line(out, &pos); !field.empty(); field = Line(out, &pos)) {
      const size_t colon = field.find(": ");
      KC_CHECK(colon != std::string_view::npos && colon > 0);
      KC_CHECK(!HasControl(field));
      const std::string name(field.substr(0, colon));
      const std::string_view value = field.substr(colon + 2);
      KC_CHECK(IsToken(name));
      if (EqualsIgnoreCase(name, "Content-Length")) content_length = value;
      if (EqualsIgnoreCase(name, "Transfer-Encoding")) transfer_encoding = value;
      if (EqualsIgnoreCase(name, "Connection")) connection = value;
    }
    if (status == 100) continue;  // interim: no body, no log entry
    KC_CHECK(logged < methods.size());
    const bool head = methods[logged++] == "HEAD";
    KC_CHECK(content_length.empty() || transfer_encoding.empty());
    closed = connection == "close";
    if (head || status == 204 || status == 304) continue;
    if (!content_length.empty()) {
      const uint64_t n = ParseHexOrDec(content_length, 10);
      if (n > out.size() - pos) {
        KC_CHECK(may_truncate);
        pos = out.size();
        break;
      }
      pos += n;
    } else if (!transfer_encoding.empty()) {
      KC_CHECK(transfer_encoding == "chunked");
      for (;;) {
        const uint64_t n = ParseHexOrDec(Line(out, &pos), 16);
        if (n == 0) {
          KC_CHECK(Line(out, &pos).empty());
          break;
        }
        KC_CHECK(n + 2 <= out.size() - pos && out.substr(pos + n, 2) == "\r\n");
        pos += n + 2;
      }
    } else {
      KC_CHECK(closed);  // delimited by the close: the rest of the output
      pos = out.size();
    }
  }
  KC_CHECK(logged == methods.size());
}

void CheckTarget(std::string_view input) {
  for (const bool absolute : {false, true}) {
    auto t = ParseTarget(input, {.allow_absolute_form = absolute});
    if (!t.ok()) continue;
    KC_CHECK(!t->path.empty() && t->path.front() == '/');
    KC_CHECK(t->segments.size() == t->segment_offsets.size());
    for (size_t i = 0; i < t->segments.size(); ++i) {
      const std::string& seg = t->segments[i];
      KC_CHECK(seg != "." && seg != "..");
      for (const char c : seg) KC_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
      KC_CHECK(t->segment_offsets[i] >= 1 && t->path[t->segment_offsets[i] - 1] == '/');
    }
    if (!absolute) KC_CHECK(t->path + (t->has_query ? "?" + t->query : "") == input);
    auto again = ParseTarget(t->path);
    KC_CHECK(again.ok() && again->segments == t->segments);
  }
}

}  // namespace
}  // namespace keycell::broker::http

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace keycell::broker::http;  // NOLINT: harness entry point only
  if (size == 0) return 0;
  static const Router router = MakeRouter();
  const uint8_t mode = data[0];
  const std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
  g_partial_called = false;

  std::vector<std::string> methods;
  ServerOptions options;
  options.max_header_bytes = 2048;
  options.max_header_fields = 32;
  options.max_body_bytes = 8192;
  options.allow_absolute_form = (mode & 0x40) != 0;
  options.access_log = [&methods](const AccessLogEntry& e) {
    KC_CHECK(e.path.find('?') == std::string_view::npos && !HasControl(e.path));
    methods.emplace_back(e.method);
  };
  const size_t max_read = (mode & 0x3f) == 0 ? SIZE_MAX : (mode & 0x3f);
  MemoryTransport transport(input, max_read);
  ConnectionContext ctx;
  ctx.router = &router;
  ctx.options = &options;
  ctx.peer = {"127.0.0.1", 1};
  ServeConnection(transport, ctx);

  CheckResponses(transport.output(), methods, g_partial_called);
  CheckTarget(input);
  return 0;
}

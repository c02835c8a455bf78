#include "tests/support/upstream/upstream_http.h"

#include <mbedtls/sha256.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <vector>

#include "enclave/tls/mbed_ctx.h"

namespace keycell::test::upstream {
namespace {

using Sha256Ctx =
    enclave::tls::MbedCtx<mbedtls_sha256_context, mbedtls_sha256_init, mbedtls_sha256_free>;

constexpr size_t kReadBytes = 16 * 1024;
constexpr size_t kMaxLineBytes = 8 * 1024;   // chunk-size and trailer lines
constexpr size_t kMaxChunkBytes = 8 * 1024;  // /chunked
constexpr char kHexUpper[] = "0123456789ABCDEF";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string HexNumber(uint64_t v) {
  std::string out;
  do {
    out.insert(out.begin(), kHexUpper[v & 15]);
    v >>= 4;
  } while (v != 0);
  return out;
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return Lower(x) == Lower(y); });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 9110 tchar.
bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (std::isalnum(c) == 0 &&
        std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) == std::string_view::npos)
      return false;
  }
  return true;
}

// Field values: visible ASCII, obs-text, SP and HTAB; no other control characters.
bool IsFieldValue(std::string_view s) {
  for (unsigned char c : s) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

// Decimal without sign or spaces, at most 19 digits (fits uint64_t).
std::optional<uint64_t> ParseDecimal(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

// Comma-separated list elements, trimmed, empty ones skipped.
std::vector<std::string_view> ListElements(std::string_view s) {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    const size_t comma = s.find(',');
    const std::string_view item = Trim(s.substr(0, comma));
    if (!item.empty()) out.push_back(item);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

// Splits the head (without its final CRLF CRLF) into request line and header lines.
bool ParseHead(std::string_view head, RecordedRequest* out, std::string* version) {
  std::vector<std::string_view> lines;
  while (!head.empty()) {
    const size_t eol = head.find("\r\n");
    lines.push_back(head.substr(0, eol));
    if (eol == std::string_view::npos) break;
    head.remove_prefix(eol + 2);
  }
  if (lines.empty()) return false;
  for (std::string_view line : lines) {
    if (line.find_first_of("\r\n") != std::string_view::npos) return false;  // bare CR/LF
  }
  const std::string_view rl = lines[0];
  const size_t sp1 = rl.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : rl.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || rl.find(' ', sp2 + 1) != std::string_view::npos)
    return false;
  const std::string_view method = rl.substr(0, sp1);
  const std::string_view target = rl.substr(sp1 + 1, sp2 - sp1 - 1);
  *version = std::string(rl.substr(sp2 + 1));
  if (!IsToken(method) || target.empty() || !IsFieldValue(target) ||
      target.find('\t') != std::string_view::npos ||
      (*version != "HTTP/1.1" && *version != "HTTP/1.0"))
    return false;
  out->method = std::string(method);
  out->target = std::string(target);
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return false;  // also rejects obs-fold lines
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = Trim(line.substr(colon + 1));
    if (!IsToken(name) || !IsFieldValue(value)) return false;
    out->headers.emplace_back(std::string(name), std::string(value));
  }
  return true;
}

struct Framing {
  bool chunked = false;
  uint64_t length = 0;
  bool close = false;
  bool expect_continue = false;
};

bool DecideFraming(const RecordedRequest& r, const std::string& version, Framing* f) {
  std::optional<uint64_t> length;
  bool has_te = false;
  std::string_view last_coding;
  for (const auto& [name, value] : r.headers) {
    if (IEquals(name, "Transfer-Encoding")) {
      has_te = true;
      const auto codings = ListElements(value);
      if (!codings.empty()) last_coding = codings.back();
    } else if (IEquals(name, "Content-Length")) {
      const auto v = ParseDecimal(value);
      if (!v || (length && *length != *v)) return false;
      length = v;
    } else if (IEquals(name, "Connection")) {
      for (std::string_view token : ListElements(value)) {
        if (IEquals(token, "close")) f->close = true;
      }
    } else if (IEquals(name, "Expect")) {
      f->expect_continue = IEquals(value, "100-continue");
    }
  }
  if (has_te) {
    // A request whose last coding is not chunked has no knowable length (RFC 9112 §6.3).
    if (!IEquals(last_coding, "chunked")) return false;
    f->chunked = true;
    if (length) f->close = true;  // both: possible smuggling attempt; never reuse
  } else {
    f->length = length.value_or(0);
  }
  if (version == "HTTP/1.0") f->close = true;
  return true;
}

}  // namespace

// Count, running SHA-256 and first kBodyPrefixBytes of a body.
class RequestReader::BodySink {
 public:
  BodySink() { (void)mbedtls_sha256_starts_ret(sha_.get(), /*is224=*/0); }
  void Add(const char* p, size_t n) {
    (void)mbedtls_sha256_update_ret(sha_.get(), reinterpret_cast<const unsigned char*>(p), n);
    bytes_ += n;
    const size_t room = HttpsUpstream::kBodyPrefixBytes - prefix_.size();
    prefix_.append(p, std::min(room, n));
  }
  void Finish(RecordedRequest* out) {
    (void)mbedtls_sha256_finish_ret(sha_.get(), out->body_sha256.data());
    out->body_bytes = bytes_;
    out->body_prefix = std::move(prefix_);
  }

 private:
  Sha256Ctx sha_;
  uint64_t bytes_ = 0;
  std::string prefix_;
};

Got RequestReader::Fill() {
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ >= kReadBytes) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  char tmp[kReadBytes];
  const long n = stream_.Read(tmp, sizeof(tmp));
  if (n == 0) return Got::kClosed;
  if (n < 0) return Got::kBroken;
  buf_.append(tmp, static_cast<size_t>(n));
  return Got::kRequest;
}

Got RequestReader::ReadHead(std::string* head) {
  size_t checked = 0;  // bytes after pos_ known not to begin "\r\n\r\n" (Fill keeps them)
  while (true) {
    // RFC 9112 §2.2: ignore empty lines before the request line.
    while (buf_.compare(pos_, 2, "\r\n") == 0) {
      pos_ += 2;
      checked = 0;
    }
    const size_t end = buf_.find("\r\n\r\n", pos_ + checked);
    if (end != std::string::npos) {
      if (end - pos_ > HttpsUpstream::kMaxHeadBytes) return Got::kMalformed;
      head->assign(buf_, pos_, end - pos_);
      pos_ = end + 4;
      return Got::kRequest;
    }
    const size_t pending = buf_.size() - pos_;
    if (pending > HttpsUpstream::kMaxHeadBytes) return Got::kMalformed;
    checked = pending >= 3 ? pending - 3 : 0;
    const Got g = Fill();
    if (g == Got::kClosed) return pending == 0 ? Got::kClosed : Got::kBroken;
    if (g != Got::kRequest) return g;
  }
}

Got RequestReader::ReadLine(std::string* line) {
  while (true) {
    const size_t eol = buf_.find("\r\n", pos_);
    if (eol != std::string::npos) {
      if (eol - pos_ > kMaxLineBytes) return Got::kMalformed;
      line->assign(buf_, pos_, eol - pos_);
      pos_ = eol + 2;
      return Got::kRequest;
    }
    if (buf_.size() - pos_ > kMaxLineBytes) return Got::kMalformed;
    const Got g = Fill();
    if (g != Got::kRequest) return g == Got::kClosed ? Got::kBroken : g;
  }
}

Got RequestReader::ReadBody(uint64_t n, BodySink* sink) {
  while (n > 0) {
    if (pos_ == buf_.size()) {
      const Got g = Fill();
      if (g != Got::kRequest) return g == Got::kClosed ? Got::kBroken : g;
    }
    const size_t take = static_cast<size_t>(std::min<uint64_t>(n, buf_.size() - pos_));
    sink->Add(buf_.data() + pos_, take);
    pos_ += take;
    n -= take;
  }
  return Got::kRequest;
}

Got RequestReader::ReadChunked(BodySink* sink) {
  std::string line;
  while (true) {
    Got g = ReadLine(&line);
    if (g != Got::kRequest) return g;
    // chunk-size [ BWS ";" chunk-ext ]: 1..15 hex digits (no overflow).
    std::string_view size_text = Trim(std::string_view(line).substr(0, line.find(';')));
    if (size_text.empty() || size_text.size() > 15) return Got::kMalformed;
    uint64_t size = 0;
    for (char c : size_text) {
      const int d = HexValue(c);
      if (d < 0) return Got::kMalformed;
      size = size * 16 + static_cast<uint64_t>(d);
    }
    if (size == 0) break;
    if ((g = ReadBody(size, sink)) != Got::kRequest) return g;
    if ((g = ReadLine(&line)) != Got::kRequest) return g;
    if (!line.empty()) return Got::kMalformed;  // data longer than its chunk-size
  }
  // Trailer section: header lines up to an empty line; dropped.
  while (true) {
    const Got g = ReadLine(&line);
    if (g != Got::kRequest || line.empty()) return g;
  }
}

Got RequestReader::Next(RecordedRequest* out, bool* close_after) {
  std::string head, version;
  Got g = ReadHead(&head);
  if (g != Got::kRequest) return g;
  Framing framing;
  if (!ParseHead(head, out, &version) || !DecideFraming(*out, version, &framing))
    return Got::kMalformed;
  if (framing.expect_continue && version == "HTTP/1.1" &&
      !stream_.WriteAll("HTTP/1.1 100 Continue\r\n\r\n"))
    return Got::kBroken;
  BodySink sink;
  g = framing.chunked ? ReadChunked(&sink) : ReadBody(framing.length, &sink);
  if (g != Got::kRequest) return g;
  sink.Finish(out);
  *close_after = framing.close;
  return Got::kRequest;
}

// ---- Responses ----

std::string JsonEscape(std::string_view s, bool every_byte) {
  std::string out;
  out.reserve(s.size() + 8);
  for (unsigned char c : s) {
    if (!every_byte && c == '"') {
      out += "\\\"";
    } else if (!every_byte && c == '\\') {
      out += "\\\\";
    } else if (every_byte || c < 0x20 || c >= 0x7f) {
      out += "\\u00";
      out += kHexUpper[c >> 4];
      out += kHexUpper[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

namespace {

// One response being written.
struct Exchange {
  Stream& stream;
  const RecordedRequest& request;
  std::string_view query;  // after '?', without it
  std::string_view leak_secret;
  bool head_only;   // HEAD: no body bytes
  bool keep_alive;  // a route may clear it
};

const char* Reason(int status) {
  static constexpr struct {
    int status;
    const char* reason;
  } kReasons[] = {
      {200, "OK"},
      {201, "Created"},
      {204, "No Content"},
      {301, "Moved Permanently"},
      {302, "Found"},
      {303, "See Other"},
      {304, "Not Modified"},
      {307, "Temporary Redirect"},
      {308, "Permanent Redirect"},
      {400, "Bad Request"},
      {401, "Unauthorized"},
      {403, "Forbidden"},
      {404, "Not Found"},
      {413, "Content Too Large"},
      {429, "Too Many Requests"},
      {500, "Internal Server Error"},
      {502, "Bad Gateway"},
      {503, "Service Unavailable"},
      {504, "Gateway Timeout"},
  };
  for (const auto& r : kReasons) {
    if (r.status == status) return r.reason;
  }
  return "Status";
}

bool BodyForbidden(int status) { return status == 204 || status == 304; }

// Status line and headers. `length` < 0: chunked. `extra`: whole header lines with CRLF.
bool WriteHead(Exchange& x, int status, std::string_view content_type, int64_t length,
               std::string_view extra = "") {
  std::string h = "HTTP/1.1 " + std::to_string(status) + " " + Reason(status) + "\r\n";
  if (!BodyForbidden(status)) {
    h += "Content-Type: " + std::string(content_type) + "\r\n";
    h += length < 0 ? std::string("Transfer-Encoding: chunked\r\n")
                    : "Content-Length: " + std::to_string(length) + "\r\n";
  }
  h += extra;
  if (!x.keep_alive) h += "Connection: close\r\n";
  h += "\r\n";
  return x.stream.WriteAll(h);
}

bool SendWhole(Exchange& x, int status, std::string_view content_type, std::string_view body,
               std::string_view extra = "") {
  if (BodyForbidden(status)) body = {};
  if (!WriteHead(x, status, content_type, static_cast<int64_t>(body.size()), extra)) return false;
  return x.head_only || body.empty() || x.stream.WriteAll(body);
}

// One chunk, written at once (size line, data and CRLF in one write).
bool WriteChunk(Exchange& x, std::string_view data) {
  if (x.head_only || data.empty()) return true;
  std::string chunk = HexNumber(data.size()) + "\r\n";
  chunk.append(data);
  chunk += "\r\n";
  return x.stream.WriteAll(chunk);
}

bool EndChunks(Exchange& x) { return x.head_only || x.stream.WriteAll("0\r\n\r\n"); }

bool BadRequest(Exchange& x, std::string_view why) {
  x.keep_alive = false;
  SendWhole(x, 400, "text/plain", std::string(why) + "\n");
  return false;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const int hi = s[i] == '%' && i + 2 < s.size() ? HexValue(s[i + 1]) : -1;
    const int lo = hi >= 0 ? HexValue(s[i + 2]) : -1;
    if (lo >= 0) {
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// The raw value of query parameter `key`, or nullopt.
std::optional<std::string_view> QueryParam(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == key)
      return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

bool RouteEcho(Exchange& x, std::string_view /*rest*/) {
  const RecordedRequest& r = x.request;
  std::string j = "{\"method\":\"" + JsonEscape(r.method) + "\",\"target\":\"" +
                  JsonEscape(r.target) + "\",\"headers\":[";
  for (size_t i = 0; i < r.headers.size(); ++i) {
    j += i ? ",[\"" : "[\"";
    j += JsonEscape(r.headers[i].first) + "\",\"" + JsonEscape(r.headers[i].second) + "\"]";
  }
  j += "],\"body_bytes\":" + std::to_string(r.body_bytes) + ",\"body_sha256\":\"" +
       HttpsUpstream::Hex(r.body_sha256) + "\"}";
  return SendWhole(x, 200, "application/json", j);
}

bool RouteStatus(Exchange& x, std::string_view rest) {
  const auto status = ParseDecimal(rest);
  if (!status || *status < 200 || *status > 599) return BadRequest(x, "bad status");
  const int code = static_cast<int>(*status);
  std::string extra;
  const auto to = QueryParam(x.query, "to");
  if (code >= 300 && code < 400 && to) {
    const std::string location = PercentDecode(*to);
    if (!IsFieldValue(location)) return BadRequest(x, "bad location");
    extra = "Location: " + location + "\r\n";
  }
  return SendWhole(x, code, "text/plain", "status " + std::to_string(code) + "\n", extra);
}

// Pattern bytes [0, n) as Content-Length data or as chunks of kMaxChunkBytes.
bool StreamPattern(Exchange& x, uint64_t n, bool chunked) {
  if (!WriteHead(x, 200, "application/octet-stream", chunked ? -1 : static_cast<int64_t>(n)))
    return false;
  if (x.head_only) return true;
  char piece[kReadBytes];
  const size_t piece_bytes = chunked ? kMaxChunkBytes : sizeof(piece);
  for (uint64_t off = 0; off < n;) {
    const size_t len = static_cast<size_t>(std::min<uint64_t>(piece_bytes, n - off));
    for (size_t i = 0; i < len; ++i) piece[i] = HttpsUpstream::PatternByte(off + i);
    const std::string_view data(piece, len);
    if (!(chunked ? WriteChunk(x, data) : x.stream.WriteAll(data))) return false;
    off += len;
  }
  return !chunked || EndChunks(x);
}

bool PatternRoute(Exchange& x, std::string_view rest, bool chunked) {
  const auto n = ParseDecimal(rest);
  if (!n || *n > HttpsUpstream::kMaxPatternBytes) return BadRequest(x, "bad length");
  return StreamPattern(x, *n, chunked);
}
bool RouteBytes(Exchange& x, std::string_view rest) { return PatternRoute(x, rest, false); }
bool RouteChunked(Exchange& x, std::string_view rest) { return PatternRoute(x, rest, true); }

bool RouteSse(Exchange& x, std::string_view rest) {
  const auto n = ParseDecimal(rest);
  if (!n || *n > static_cast<uint64_t>(HttpsUpstream::kMaxSseEvents))
    return BadRequest(x, "bad event count");
  if (!WriteHead(x, 200, "text/event-stream", -1, "Cache-Control: no-cache\r\n")) return false;
  for (uint64_t i = 0; i < *n && !x.head_only; ++i) {
    if (i > 0 && !x.stream.Pause(HttpsUpstream::kSsePause)) return false;
    if (!WriteChunk(x, "data: event " + std::to_string(i) + "\n\n")) return false;
  }
  return EndChunks(x);
}

bool RouteLeak(Exchange& x, std::string_view /*rest*/) {
  const std::string_view secret = x.leak_secret;
  if (secret.empty()) return SendWhole(x, 404, "text/plain", "no leak_secret configured\n");
  if (!WriteHead(x, 200, "text/plain", -1, "X-Leak: " + std::string(secret) + "\r\n")) return false;
  for (const LeakForm& form : HttpsUpstream::LeakForms(secret)) {
    const std::string line = form.label == "json" ? "json=\"" + form.value + "\"\n"
                                                  : form.label + "=" + form.value + "\n";
    if (!WriteChunk(x, line)) return false;
  }
  // The raw secret cut across two chunks (and so, usually, two TLS records).
  const size_t half = secret.size() / 2;
  return WriteChunk(x, "split=" + std::string(secret.substr(0, half))) &&
         WriteChunk(x, std::string(secret.substr(half)) + "\n") && EndChunks(x);
}

bool RouteClose(Exchange& x, std::string_view /*rest*/) {
  x.keep_alive = false;
  return SendWhole(x, 200, "text/plain", "bye");
}

struct Route {
  std::string_view path;  // exact path, or a prefix when it ends in '/'
  bool (*fn)(Exchange&, std::string_view rest);
};
constexpr Route kRoutes[] = {
    {"/echo", RouteEcho},        {"/status/", RouteStatus}, {"/bytes/", RouteBytes},
    {"/chunked/", RouteChunked}, {"/sse/", RouteSse},       {"/leak", RouteLeak},
    {"/close", RouteClose},
};

// The path of an origin-form or absolute-form target (RFC 9112 §3.2).
std::string_view PathOf(std::string_view target) {
  const size_t scheme_end = target.find("://");
  if (target.front() != '/' && scheme_end != std::string_view::npos) {
    const size_t slash = target.find('/', scheme_end + 3);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  return target.substr(0, target.find('?'));
}

}  // namespace

bool Respond(Stream& stream, const RecordedRequest& request, std::string_view leak_secret,
             bool keep_alive) {
  const std::string_view target = request.target;
  const size_t q = target.find('?');
  Exchange x{stream,
             request,
             q == std::string_view::npos ? std::string_view() : target.substr(q + 1),
             leak_secret,
             request.method == "HEAD",
             keep_alive};
  const std::string_view path = PathOf(target);
  for (const Route& route : kRoutes) {
    const bool prefix = route.path.back() == '/';
    if (prefix ? path.substr(0, route.path.size()) == route.path : path == route.path) {
      const bool ok = route.fn(x, path.substr(prefix ? route.path.size() : path.size()));
      return ok && x.keep_alive;
    }
  }
  return SendWhole(x, 404, "text/plain", "not found\n") && x.keep_alive;
}

void RespondMalformed(Stream& stream) {
  static const RecordedRequest kNone;
  Exchange x{stream, kNone, {}, {}, false, false};
  BadRequest(x, "malformed request");
}

}  // namespace keycell::test::upstream

// Upstream response bytes through ResponseParser + Redactor, as the enclave will run
// them, with the secret planted in the stream in its usual encodings. Input layout:
//   secret_len-1 (1) | secret | flags (1) | split seed (1) | template
// Flags: bit 0 Basic auth (user:pass), bit 1 HEAD request, bit 2 allow Content-Encoding.
// In the template, 0x01 k plants the secret in encoding k % 8 (raw, base64, base64url
// unpadded, percent upper, percent lower everything, JSON \u00XX, JSON minimal, form).
// The expanded stream is fed in pieces cut by a PRNG seeded from the split seed:
//   1. through the parser, head/trailer values via RedactHeaderValue, body via Process;
//   2. straight into a second Redactor (so the redactor is fuzzed even when the parser
//      refuses the bytes).
// Properties (abort on violation):
//   - no plain (unredacted) output segment contains the raw secret or its base64,
//     base64url (padded or not);
//   - the holdback never exceeds max_holdback_bytes();
//   - Feed never consumes more than it was given, nothing after done; a completed
//     Content-Length body has exactly that many bytes.

#include <ctype.h>
#include <stdint.h>
#include <string.h>

#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "enclave/http/redactor.h"
#include "enclave/http/response_parser.h"

namespace keycell::enclave::http {
namespace {

std::string Base64(std::string_view in, bool url, bool pad) {
  const char* a = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                      : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += a[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += a[(acc << (6 - bits)) & 63];
  while (pad && out.size() % 4 != 0) out += '=';
  return out;
}

std::string Encode(std::string_view s, unsigned form) {
  static const char* kUpper = "0123456789ABCDEF";
  static const char* kLower = "0123456789abcdef";
  std::string out;
  switch (form % 8) {
    case 0:
      return std::string(s);
    case 1:
      return Base64(s, false, true);
    case 2:
      return Base64(s, true, false);
    default:
      break;
  }
  for (unsigned char c : s) {
    const bool unreserved = isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
    switch (form % 8) {
      case 3:  // percent, upper hex
      case 7:  // form encoding
        if (form % 8 == 7 && c == ' ') {
          out += '+';
        } else if (unreserved) {
          out += static_cast<char>(c);
        } else {
          out += {'%', kUpper[c >> 4], kUpper[c & 15]};
        }
        break;
      case 4:  // every byte, lower hex
        out += {'%', kLower[c >> 4], kLower[c & 15]};
        break;
      case 5:  // ASCII as \u00XX; other bytes as they are (JSON of UTF-8 text)
        if (c < 0x80) {
          out += {'\\', 'u', '0', '0', kLower[c >> 4], kLower[c & 15]};
        } else {
          out += static_cast<char>(c);
        }
        break;
      default:  // 6: minimal JSON escaping
        if (c == '"' || c == '\\') {
          out += {'\\', static_cast<char>(c)};
        } else if (c < 0x20) {
          out += {'\\', 'u', '0', '0', kLower[c >> 4], kLower[c & 15]};
        } else {
          out += static_cast<char>(c);
        }
        break;
    }
  }
  return out;
}

// Output split into plain segments; checks each one when it closes.
class CheckedOutput final : public Redactor::Output {
 public:
  explicit CheckedOutput(const std::vector<std::string>* forbidden) : forbidden_(forbidden) {}
  ~CheckedOutput() override { Close(); }
  void Write(ByteView bytes) override {
    segment_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  void WriteMarker() override { Close(); }
  void Close() {
    for (const std::string& f : *forbidden_) KC_CHECK(segment_.find(f) == std::string::npos);
    segment_.clear();
  }

 private:
  const std::vector<std::string>* forbidden_;
  std::string segment_;
};

class FuzzSink final : public ResponseSink {
 public:
  FuzzSink(Redactor* r, const std::vector<std::string>* forbidden)
      : r_(r), forbidden_(forbidden), body_(forbidden) {}
  Status OnInterim(const ResponseHead& h) override { return Fields(h.fields); }
  Status OnHead(const ResponseHead& h) override {
    KC_CHECK(!head_seen_);
    head_seen_ = true;
    if (h.framing == BodyFraming::kContentLength) expected_body_ = h.content_length;
    CheckedOutput reason(forbidden_);
    r_->RedactHeaderValue(h.reason, reason);
    return Fields(h.fields);
  }
  Status OnBody(ByteView b) override {
    KC_CHECK(head_seen_ && !done_);
    body_bytes_ += b.size();
    r_->Process(b, body_);
    KC_CHECK(r_->holdback_bytes() <= r_->max_holdback_bytes());
    return Status::Ok();
  }
  Status OnTrailers(std::span<const HeaderField> f) override { return Fields(f); }
  Status OnDone() override {
    KC_CHECK(head_seen_ && !done_);
    done_ = true;
    r_->Finish(body_);
    body_.Close();
    if (expected_body_) KC_CHECK(body_bytes_ == *expected_body_);
    return Status::Ok();
  }

 private:
  Status Fields(std::span<const HeaderField> fields) {
    for (const HeaderField& f : fields) {
      CheckedOutput value(forbidden_);
      r_->RedactHeaderValue(f.value, value);
    }
    return Status::Ok();
  }

  Redactor* r_;
  const std::vector<std::string>* forbidden_;
  CheckedOutput body_;
  bool head_seen_ = false, done_ = false;
  uint64_t body_bytes_ = 0;
  std::optional<uint64_t> expected_body_;
};

std::vector<size_t> Cuts(size_t n, uint8_t seed) {
  std::vector<size_t> cuts;
  if (n == 0) return cuts;
  std::minstd_rand rng(seed + 1u);
  const unsigned mode = seed % 4;  // whole, byte by byte, small pieces, large pieces
  for (size_t at = 0; at < n;) {
    size_t step = mode == 0 ? n : mode == 1 ? 1 : mode == 2 ? 1 + rng() % 8 : 1 + rng() % 512;
    at += step;
    if (at < n) cuts.push_back(at);
  }
  return cuts;
}

void RunParser(std::string_view stream, const std::vector<size_t>& cuts, uint8_t flags, Redactor* r,
               const std::vector<std::string>* forbidden) {
  ResponseParserOptions opt;
  opt.max_header_bytes = 4096;
  opt.max_body_bytes = 1 << 20;
  opt.head_request = (flags & 2) != 0;
  opt.allow_content_encoding = (flags & 4) != 0;
  auto parser = ResponseParser::Create(opt);
  KC_CHECK(parser.ok());
  FuzzSink sink(r, forbidden);
  size_t at = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(stream.size());
  for (size_t end : ends) {
    const bool was_done = parser->done();
    auto used = parser->Feed(
        ByteView(reinterpret_cast<const uint8_t*>(stream.data()) + at, end - at), sink);
    if (!used.ok()) return;
    KC_CHECK(*used <= end - at);
    if (was_done) KC_CHECK(*used == 0);
    if (!parser->done()) KC_CHECK(*used == end - at);
    at = end;
  }
  if (!parser->FeedEof(sink).ok()) return;
  KC_CHECK(parser->done());
  if (parser->KeepAlive()) KC_CHECK(parser->framing() != BodyFraming::kUntilClose);
}

}  // namespace
}  // namespace keycell::enclave::http

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace keycell;
  using namespace keycell::enclave::http;
  if (size < 1) return 0;
  const size_t secret_len = 1 + data[0] % 32;
  if (size < 3 + secret_len) return 0;
  const std::string secret(reinterpret_cast<const char*>(data + 1), secret_len);
  const uint8_t flags = data[1 + secret_len];
  const uint8_t seed = data[2 + secret_len];
  const std::string_view tmpl(reinterpret_cast<const char*>(data + 3 + secret_len),
                              size - 3 - secret_len);
  std::string stream;
  // Bounded so that byte-by-byte runs stay fast: 64 KiB covers every state.
  for (size_t i = 0; i < tmpl.size() && stream.size() < 64 * 1024; ++i) {
    if (tmpl[i] == '\x01' && i + 1 < tmpl.size()) {
      stream += Encode(secret, static_cast<uint8_t>(tmpl[++i]));
    } else {
      stream += tmpl[i];
    }
  }
  const std::vector<std::string> forbidden = {
      secret, Base64(secret, false, true), Base64(secret, false, false), Base64(secret, true, true),
      Base64(secret, true, false)};
  const SecretKind kind = (flags & 1) ? SecretKind::kBasicUserPass : SecretKind::kOpaque;
  auto r = Redactor::Create(
      SecretView(reinterpret_cast<const uint8_t*>(secret.data()), secret.size()), kind);
  KC_CHECK(r.ok());
  const std::vector<size_t> cuts = Cuts(stream.size(), seed);
  RunParser(stream, cuts, flags, &*r, &forbidden);

  // The redactor alone over the whole stream.
  auto direct = Redactor::Create(
      SecretView(reinterpret_cast<const uint8_t*>(secret.data()), secret.size()), kind);
  KC_CHECK(direct.ok());
  {
    CheckedOutput out(&forbidden);
    size_t at = 0;
    for (size_t end : cuts) {
      direct->Process(ByteView(reinterpret_cast<const uint8_t*>(stream.data()) + at, end - at),
                      out);
      KC_CHECK(direct->holdback_bytes() <= direct->max_holdback_bytes());
      at = end;
    }
    direct->Process(
        ByteView(reinterpret_cast<const uint8_t*>(stream.data()) + at, stream.size() - at), out);
    direct->Finish(out);
    KC_CHECK(direct->holdback_bytes() == 0);
  }
  return 0;
}

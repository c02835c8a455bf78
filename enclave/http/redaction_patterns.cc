#include "enclave/http/redaction_patterns.h"

#include <string.h>

namespace keycell::enclave::http {
namespace {

constexpr char kStdAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kUrlAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Byte k of the virtual buffer (a zero bytes || x || zero bytes...).
uint8_t VirtualByte(SecretView x, size_t a, size_t k) {
  return (k >= a && k - a < x.size()) ? x.data()[k - a] : 0;
}

// 6-bit group i (bits 6i..6i+5, most significant first) of that virtual buffer.
uint8_t Sextet(SecretView x, size_t a, size_t i) {
  const size_t bit = 6 * i;
  const size_t k = bit / 8;
  const unsigned w = (unsigned{VirtualByte(x, a, k)} << 8) | VirtualByte(x, a, k + 1);
  return static_cast<uint8_t>((w >> (10 - bit % 8)) & 0x3f);
}

// Runs twice: first with no storage, to size the one allocation, then to fill it.
class PatternWriter {
 public:
  explicit PatternWriter(PatternSet* set) : set_(set) {}
  size_t used() const { return used_; }

  void Add(SecretView bytes, bool extend_before) {
    if (Begin(bytes.size(), extend_before)) memcpy(out_, bytes.data(), bytes.size());
  }

  // Characters [from, to) of x at alignment `a` in `alphabet`, then the character with
  // value `extra` if it is not negative, then `pad` '=' characters.
  void AddBase64(SecretView x, size_t a, size_t from, size_t to, const char* alphabet, int extra,
                 size_t pad, bool extend_before) {
    const size_t n = to - from + (extra >= 0 ? 1 : 0) + pad;
    if (!Begin(n, extend_before)) return;
    uint8_t* o = out_;
    for (size_t i = from; i < to; ++i) *o++ = static_cast<uint8_t>(alphabet[Sextet(x, a, i)]);
    if (extra >= 0) *o++ = static_cast<uint8_t>(alphabet[extra]);
    for (size_t i = 0; i < pad; ++i) *o++ = '=';
  }

 private:
  // Reserves n bytes; true (with out_ set) in the filling pass.
  bool Begin(size_t n, bool extend_before) {
    const size_t at = used_;
    used_ += n;
    if (set_->bytes.empty()) return false;
    KC_CHECK(used_ <= set_->bytes.size());
    set_->entries.push_back(PatternSet::Entry{at, n, extend_before});
    out_ = set_->bytes.data() + at;
    return true;
  }

  PatternSet* set_;
  size_t used_ = 0;
  uint8_t* out_ = nullptr;
};

// base64 of x on its own: every character, unpadded and padded.
void AddStandalone(PatternWriter& w, SecretView x, const char* alphabet) {
  const size_t chars = (8 * x.size() + 5) / 6;
  const size_t pad = (3 - x.size() % 3) % 3;
  w.AddBase64(x, 0, 0, chars, alphabet, -1, 0, false);
  if (pad != 0) w.AddBase64(x, 0, 0, chars, alphabet, -1, pad, false);
}

// base64 of x starting at byte offset a (mod 3) inside longer encoded data.
void AddEmbedded(PatternWriter& w, SecretView x, size_t a, const char* alphabet) {
  const size_t end_bit = 8 * (a + x.size());
  const size_t first = (8 * a + 5) / 6;  // first character made of x's bits only
  const size_t last = end_bit / 6;       // one past the last such character
  if (last < first || last - first < kMinEmbeddedBase64Chars) return;
  const bool extend = a != 0;  // the character before `first` holds x's first bits
  w.AddBase64(x, a, first, last, alphabet, -1, 0, extend);
  const size_t known = end_bit - 6 * last;  // bits of x in the trailing character: 0, 2 or 4
  if (known == 0) return;
  const unsigned free_bits = 6 - static_cast<unsigned>(known);
  const uint8_t top = Sextet(x, a, last);  // x's bits, the rest zero
  for (unsigned v = 0; v < (1u << free_bits); ++v) {
    w.AddBase64(x, a, first, last, alphabet, static_cast<int>(top | v), 0, extend);
  }
}

void AddAllForms(PatternWriter& w, SecretView x) {
  w.Add(x, false);
  for (const char* alphabet : {kStdAlphabet, kUrlAlphabet}) {
    AddStandalone(w, x, alphabet);
    for (size_t a = 0; a < 3; ++a) AddEmbedded(w, x, a, alphabet);
  }
}

void AddEverything(PatternWriter& w, SecretView secret, SecretKind kind) {
  AddAllForms(w, secret);
  if (kind != SecretKind::kBasicUserPass) return;
  // The user name is an identifier, not a secret; the password on its own is.
  const void* colon = memchr(secret.data(), ':', secret.size());
  if (colon == nullptr) return;
  const size_t at = static_cast<size_t>(static_cast<const uint8_t*>(colon) - secret.data()) + 1;
  const SecretView password = secret.substr(at, secret.size() - at);
  if (!password.empty()) AddAllForms(w, password);
}

}  // namespace

bool IsBase64Char(uint8_t c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/' || c == '-' || c == '_';
}

Result<PatternSet> DerivePatterns(SecretView secret, SecretKind kind) {
  if (secret.empty()) return Status(Err::kInvalidArgument, "redactor: empty secret");
  PatternSet set;
  PatternWriter sizing(&set);
  AddEverything(sizing, secret, kind);
  KC_ASSIGN_OR_RETURN(set.bytes, SecureBuffer::Allocate(sizing.used()));
  PatternWriter filling(&set);
  AddEverything(filling, secret, kind);
  KC_CHECK(filling.used() == set.bytes.size());
  return set;
}

}  // namespace keycell::enclave::http

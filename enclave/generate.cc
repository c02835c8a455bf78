#include "enclave/generate.h"

namespace keycell::enclave {
namespace {

// Random bytes are drawn in blocks of this size (one getrandom call each).
constexpr size_t kRandomBlockBytes = 256;
// With n >= 2 distinct characters at most 66 of 256 byte values are rejected, so a
// working CSPRNG needs ~1.35 draws per character; 16x that plus a floor means "broken".
constexpr size_t kMaxDrawsPerChar = 16;
constexpr size_t kMinDrawBudget = 1024;

Result<SecureBuffer> GenerateRaw(uint32_t length, RandomSource random) {
  KC_ASSIGN_OR_RETURN(SecureBuffer out, SecureBuffer::Allocate(length));
  KC_RETURN_IF_ERROR(random(out.mutable_bytes()));
  return out;
}

Result<SecureBuffer> GenerateFromAlphabet(uint32_t length, const Alphabet& a, RandomSource random) {
  // The largest multiple of n that fits in a byte: bytes at or above it are dropped,
  // so each residue class b % n holds the same number of accepted values.
  const unsigned limit = 256u - (256u % a.size);
  KC_ASSIGN_OR_RETURN(SecureBuffer out, SecureBuffer::Allocate(length));
  // The raw bytes determine the secret as much as the output does: locked and wiped too.
  KC_ASSIGN_OR_RETURN(SecureBuffer block, SecureBuffer::Allocate(kRandomBlockBytes));
  size_t budget = kMinDrawBudget + kMaxDrawsPerChar * size_t{length};
  size_t used = block.size();
  for (size_t n = 0; n < length;) {
    if (used == block.size()) {
      if (budget < block.size()) return Status(Err::kInternal, "generate: random source stuck");
      budget -= block.size();
      KC_RETURN_IF_ERROR(random(block.mutable_bytes()));
      used = 0;
    }
    const unsigned b = block.data()[used++];
    if (b < limit) out.data()[n++] = a.chars[b % a.size];
  }
  return out;
}

}  // namespace

Result<Alphabet> ParseAlphabet(std::string_view spec) {
  if (spec.empty() || spec.size() > kMaxAlphabetBytes)
    return Status(Err::kInvalidArgument, "generate: alphabet must be 1..256 bytes");
  bool seen[128] = {};
  for (const char c : spec) {
    const auto u = static_cast<unsigned char>(c);
    // Printable ASCII only: a generated value must survive headers, .env files and
    // terminals unchanged, and "one character" must mean one byte.
    if (u < 0x20 || u > 0x7e)
      return Status(Err::kInvalidArgument, "generate: alphabet must be printable ASCII");
    seen[u] = true;
  }
  Alphabet a;
  for (unsigned u = 0x20; u <= 0x7e; ++u)
    if (seen[u]) a.chars[a.size++] = static_cast<uint8_t>(u);
  if (a.size < 2)
    return Status(Err::kInvalidArgument, "generate: alphabet needs two distinct characters");
  return a;
}

Status CheckGenerateLength(uint32_t length) {
  if (length == 0 || length > kMaxGenerateLength)
    return Status(Err::kInvalidArgument, "generate: length must be 1..4096");
  return Status::Ok();
}

Result<SecureBuffer> GenerateSecret(uint32_t length, std::string_view alphabet,
                                    RandomSource random) {
  KC_RETURN_IF_ERROR(CheckGenerateLength(length));
  if (alphabet.empty()) return GenerateRaw(length, random);
  KC_ASSIGN_OR_RETURN(const Alphabet a, ParseAlphabet(alphabet));
  return GenerateFromAlphabet(length, a, random);
}

}  // namespace keycell::enclave

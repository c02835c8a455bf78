#pragma once
// Secrets the enclave makes itself (the Generate request): webhook signing secrets,
// the audit log's HMAC key, rotated API tokens. The value exists only in the enclave's
// locked memory until it is sealed, and optionally written once to a handed-in fd.
//
// Two modes:
//  - raw: `length` bytes straight from the kernel CSPRNG (random.h);
//  - alphabet: `length` characters drawn independently and uniformly from the
//    alphabet's distinct characters. A random byte b is used only if
//    b < 256 - (256 % n) and then maps to b % n (rejection sampling), so every
//    character has probability exactly 1/n: no modulo bias.

#include <array>
#include <cstdint>
#include <string_view>

#include "common/bytes.h"
#include "common/result.h"
#include "common/secure_buffer.h"
#include "enclave/random.h"

namespace keycell::enclave {

inline constexpr uint32_t kMaxGenerateLength = 4096;  // bytes (raw) or characters
inline constexpr size_t kMaxAlphabetBytes = 256;      // enclave.options: Generate.alphabet 257

// The distinct characters of an alphabet, in ascending byte order. At most the 95
// printable ASCII characters.
struct Alphabet {
  std::array<uint8_t, 95> chars{};
  size_t size = 0;
};

// Parses an alphabet spec: 1..256 bytes, each printable ASCII (0x20 ' ' .. 0x7e '~');
// repeats are allowed and collapse, but at least two distinct characters must remain
// (one would make the value constant). Errors: kInvalidArgument.
Result<Alphabet> ParseAlphabet(std::string_view spec);

// 1..kMaxGenerateLength. Errors: kInvalidArgument.
Status CheckGenerateLength(uint32_t length);

// Fills a buffer with random bytes; production uses FillRandom. Tests pass a scripted
// source to pin the rejection rule.
using RandomSource = Status (*)(MutableByteView out);

// A fresh secret of `length` bytes/characters in locked memory. An empty `alphabet`
// means raw bytes. The random bytes drawn along the way are wiped. A source that keeps
// producing only rejected bytes (a broken RNG; odds below 2^-1000 for a real one) ends
// with kInternal instead of spinning. Errors: kInvalidArgument (length, alphabet),
// kInternal (random source), kNoMem. Never blocks once the kernel pool is initialised.
Result<SecureBuffer> GenerateSecret(uint32_t length, std::string_view alphabet,
                                    RandomSource random = FillRandom);

}  // namespace keycell::enclave

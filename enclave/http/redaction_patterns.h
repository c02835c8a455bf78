#pragma once
// The byte strings the redactor looks for, derived from one secret. Internal to
// redactor.cc; a separate unit so that tests can check the derivation directly.
//
// For each base secret X (the secret itself; for Basic auth also the password alone):
//   - X itself;
//   - base64 of X alone, standard and URL-safe alphabets, unpadded and padded;
//   - base64 of X *inside a longer base64 string*. Where X starts at a byte offset
//     a = 0, 1 or 2 (mod 3) of the encoded data, the characters that carry only bits of
//     X are fixed (the "stable middle" of that alignment); they are a pattern when at
//     least kMinEmbeddedBase64Chars long (36 bits: chance matches are negligible). The
//     characters at the edges mix bits of X with neighbouring data:
//       leading edge (a = 1, 2): the pattern is marked extend_before, so a match also
//         covers the preceding character if it is a base64 character;
//       trailing edge: every value the edge character can take (4 or 16) is a further
//         pattern (middle + that character), so the longest match covers it.
// Percent-encoding and JSON escaping are not patterns: the redactor decodes them on
// the fly and matches these same patterns against the decoded bytes (redactor.cc).

#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/secure_buffer.h"

namespace keycell::enclave::http {

enum class SecretKind : uint8_t {
  kOpaque,         // bearer tokens, API keys, header/query/cookie values: the secret as a whole
  kBasicUserPass,  // "user:pass" for Authorization: Basic; the password alone is also a secret
};

// Fewer stable base64 characters than this: no mid-string base64 pattern for that alignment
// (secrets of 4 bytes or less; see docs/enclave-http.md).
inline constexpr size_t kMinEmbeddedBase64Chars = 6;

// Every pattern back to back in one SecureBuffer (one allocation: this runs per request).
struct PatternSet {
  struct Entry {
    size_t offset;  // into bytes
    size_t size;
    bool extend_before;
  };
  SecureBuffer bytes;
  std::vector<Entry> entries;  // positions and lengths only, never pattern bytes

  SecretView pattern(size_t i) const {
    return SecretView(bytes.data() + entries[i].offset, entries[i].size);
  }
};

// Derives every pattern for `secret`. The caller keeps ownership of `secret`.
// Errors: kInvalidArgument (empty secret), kNoMem.
Result<PatternSet> DerivePatterns(SecretView secret, SecretKind kind);

// Whether `c` belongs to the standard or the URL-safe base64 alphabet (padding excluded).
bool IsBase64Char(uint8_t c);

}  // namespace keycell::enclave::http

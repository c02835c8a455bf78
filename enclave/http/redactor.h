#pragma once
// Streaming redaction of one secret from upstream response bytes, before any byte
// reaches the broker (DESIGN.md §4 step 3: "redacts any echo of the secret").
//
// What is replaced (docs/enclave-http.md has the full list and what is NOT covered):
// every occurrence of the secret
//   - as is;
//   - base64, standard and URL-safe, padded or not, on its own or inside a longer
//     base64 string at any of the three byte alignments (redaction_patterns.h);
//   - percent-encoded, with any mix of raw bytes and %XX in upper or lower case, with
//     or without '+' for space (the base64 forms too, e.g. %2B and %2F);
//   - JSON-string-escaped: \" \\ \/ \b \f \n \r \t and \uXXXX (surrogate pairs
//     included) for any character (the base64 forms too, e.g. \/).
// For Basic auth (SecretKind::kBasicUserPass, secret "user:pass") the password alone is
// a secret as well. Each maximal run of bytes covered by one or more occurrences
// (overlapping or adjacent) becomes one kRedactionMarker; everything else passes
// through byte for byte.
//
// Streaming: matches across Process() calls (TLS records, chunk boundaries) are found
// because the redactor holds back the bytes that could still be the start of a match:
// at most max_holdback_bytes(), which is fixed at construction from the longest
// pattern (about 6 bytes per secret byte, for the all-\u00XX JSON form) — memory is
// bounded whatever the stream length. Time is linear in the input (Aho–Corasick over
// five decoding lanes: raw, percent, percent with '+', JSON, JSON read with the other
// backslash parity). The held-back bytes and every piece of matcher state live in one
// SecureBuffer (mlocked, wiped).
//
// Short secrets are still redacted, whatever their length: a 1-byte secret replaces
// every occurrence of that byte. Over-redaction is visible; a leak is not.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/result.h"
#include "common/secure_buffer.h"
#include "enclave/http/redaction_patterns.h"

namespace keycell::enclave::http {

// What replaces each redacted run. ASCII without quotes or backslashes, so it is
// harmless inside JSON strings, header values and URLs.
inline constexpr std::string_view kRedactionMarker = "[REDACTED:keycell]";

class Redactor {
 public:
  // Where redacted bytes go. Views passed to Write() are valid only during the call.
  class Output {
   public:
    virtual ~Output() = default;
    virtual void Write(ByteView bytes) = 0;
    // One redacted run. The default writes kRedactionMarker; tests override it to
    // know where the markers are.
    virtual void WriteMarker() { Write(AsBytes(kRedactionMarker)); }
  };

  // Longest secret accepted: the automaton (~20 bytes per pattern byte, about
  // 9 pattern bytes per secret byte) and the holdback grow with it.
  static constexpr size_t kMaxSecretBytes = 8192;

  // Copies what it needs from `secret` into locked memory; the caller keeps ownership
  // of (and wipes) `secret`. Errors: kInvalidArgument (empty secret), kTooLarge (over
  // kMaxSecretBytes), kNoMem. Does not block.
  static Result<Redactor> Create(SecretView secret, SecretKind kind = SecretKind::kOpaque);

  Redactor(Redactor&&) noexcept;
  Redactor& operator=(Redactor&&) noexcept;
  ~Redactor();  // wipes everything

  // Scans the next piece of the stream and writes every byte that can no longer be
  // part of a match. Never fails (OOM aborts; an internal invariant breach aborts
  // rather than leak).
  void Process(ByteView in, Output& out);
  // End of stream: writes the held-back bytes (redacted where they match) and wipes
  // them. The redactor is then ready for a new stream (the next response).
  void Finish(Output& out);

  // One-shot redaction of a header value (or a reason phrase, or a trailer), with the
  // same patterns. Independent of the Process() stream state.
  void RedactHeaderValue(std::string_view value, Output& out);
  // The same into a string. The result holds no secret occurrence, so an ordinary
  // string is acceptable.
  std::string RedactHeaderValue(std::string_view value);

  // Bytes currently held back by the Process() stream, and the bound it never exceeds.
  size_t holdback_bytes() const;
  size_t max_holdback_bytes() const;
  // Markers written by the Process() stream since construction.
  uint64_t redactions() const;

 private:
  struct Impl;
  explicit Redactor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace keycell::enclave::http

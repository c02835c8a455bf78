#pragma once
// The byte-level checks ParseJson runs before cJSON sees the text, and that the
// builders run on strings before they enter a tree. Internal to kc_json; public only so
// that tests can pin each rule on its own. Includes no cJSON.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/result.h"

namespace keycell::json {

// Index of the first byte that is not part of well-formed UTF-8 (Unicode 15, Table 3-7:
// no overlong forms, no UTF-16 surrogates U+D800..U+DFFF, nothing above U+10FFFF), or
// text.size() when every byte is. NUL counts as well-formed here; callers that forbid it
// check it themselves.
size_t FindInvalidUtf8(std::string_view text);

// Structural pre-scan of a JSON text, linear time, no allocation. Rejects:
//   - invalid UTF-8 anywhere (Err::kBadFrame, "json: invalid UTF-8");
//   - a NUL byte anywhere, and the escape \u0000 inside a string: cJSON stores strings
//     NUL-terminated, so either would silently truncate a key or value
//     (Err::kBadFrame, "json: NUL in input" / "json: \\u0000 escape");
//   - raw control characters (< 0x20) inside strings, as RFC 8259 §7 requires, and outside
//     strings other than the four JSON whitespace bytes: cJSON would skip any byte <= 0x20
//     as whitespace (Err::kBadFrame, "json: control character");
//   - more than `max_depth` nested arrays/objects (Err::kTooLarge, "json: nesting too deep"),
//     so cJSON's recursive descent never goes deeper than we allow;
//   - unterminated strings and unbalanced brackets (Err::kBadFrame, "json: truncated
//     input" / "json: unbalanced brackets"): complete documents only, so no cJSON code
//     path runs off the end of the text (cf. CVE-2023-53154, an over-read on "{\"1\":1,").
// On error, detail is the byte offset of the problem (saturated at INT32_MAX).
// Everything else (grammar, numbers, literals) is left to cJSON.
Status ScanJsonText(std::string_view text, int max_depth);

// A byte offset as a Status detail, saturated at INT32_MAX.
int32_t SaturatedOffset(size_t offset);

}  // namespace keycell::json

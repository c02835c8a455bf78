#pragma once
// The cJSON RAII wrapper (STYLE.md §3.3.5). broker/json is the only code in the repo that
// includes <cjson/cJSON.h>; everything else reaches cJSON through this header.
//
// NO SECRET EVER ENTERS A cJSON TREE. cJSON allocates with plain malloc, reallocates
// while printing and frees without wiping, so any byte it holds can linger in the heap.
// The broker never sees a credential's plaintext; keep it that way. PINs, secret values
// and injected headers travel in SecureBuffer and nanopb frames only.
//
// Ownership: Json owns a whole tree (cJSON_Delete); JsonText owns a printed buffer
// (cJSON_free). Borrowed `const cJSON*` pointers returned by the getters point into a
// tree and never outlive its Json root.
//
// Threads: cJSON_GetErrorPtr (global) is never called. cJSON 1.7.15 still writes that
// global error position on every parse, so ParseJson serialises the cJSON call with a
// mutex: a data race is undefined behaviour even on state nobody reads. (TSan cannot see
// it: Debian's libcjson is not instrumented.)
// Everything else is thread-safe on distinct trees; a tree is not safe to mutate while
// another thread reads it. Nothing here blocks except on that mutex.
//
// What the parser accepts is stricter than cJSON alone. ParseJson rejects, with
// Err::kBadFrame unless noted (`where` names the rule, `detail` is a byte offset where
// one exists):
//   - empty or whitespace-only input, and input larger than `max_bytes` (Err::kTooLarge);
//   - invalid UTF-8 anywhere. cJSON itself copies raw bytes through unchecked (it only
//     validates \uXXXX escapes, rejecting lone surrogates), so without this check a
//     tree could print as invalid UTF-8 and break the MCP client reading it;
//   - NUL bytes and \u0000 escapes: cJSON strings are NUL-terminated, so "a\u0000b"
//     would silently become "a" (a key-smuggling primitive);
//   - raw control characters inside strings (RFC 8259 §7; cJSON accepts them);
//   - nesting deeper than kMaxJsonDepth (Err::kTooLarge), checked before cJSON recurses:
//     Debian ships cJSON as a shared library built with CJSON_NESTING_LIMIT 1000;
//   - any non-whitespace byte after the value ("{} x", "[1]]"; cJSON would stop early);
//   - duplicate keys in one object. cJSON keeps both members and its lookups return the
//     first, while other parsers take the last: a request could mean two things.
//   - numbers that overflow a double ("1e999"): cJSON would print them as null.
// It stays lenient, as cJSON is, about leading zeros ("0123" reads as 123), a trailing
// decimal point ("1.") and a UTF-8 byte-order mark before the value (skipped).

#include <cjson/cJSON.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace keycell::json {

// Default cap on the size of a text handed to ParseJson. Callers with a tighter budget
// (the config file, one MCP message) pass their own.
inline constexpr size_t kMaxJsonBytes = 1u << 20;
// Deepest nesting of arrays/objects ParseJson accepts. MCP and config documents need
// well under 10; 64 keeps the recursive walks (cJSON's and ours) shallow.
inline constexpr int kMaxJsonDepth = 64;
// Largest magnitude GetInt/MakeInt accept: 2^53 - 1, the largest n for which n + 1 is
// also an exact double. Above it a double may be a rounded neighbour: the text
// 9007199254740993 reads as 2^53, so 2^53 itself is refused too.
inline constexpr int64_t kMaxSafeInteger = (int64_t{1} << 53) - 1;

struct CjsonDelete {
  void operator()(cJSON* p) const noexcept { cJSON_Delete(p); }
};
using Json = std::unique_ptr<cJSON, CjsonDelete>;
struct CjsonFree {
  void operator()(char* p) const noexcept { cJSON_free(p); }
};
// Owns a cJSON_Print* result, for code that needs cJSON's own printer. The wrapper's
// Print below does not use it (see there).
using JsonText = std::unique_ptr<char, CjsonFree>;

// ---- Parsing and printing ---------------------------------------------------------

// Parses one complete JSON value (see the rules at the top of this file). Never returns
// a null Json on success. Errors: kTooLarge (size, depth), kBadFrame (everything else;
// an allocation failure inside cJSON looks like a syntax error and reports as one).
// Linear time in the input; memory a small multiple of it.
Result<Json> ParseJson(std::string_view text, size_t max_bytes = kMaxJsonBytes);

// Prints `item` compactly, or indented by two spaces when `pretty`. Uses its own printer
// (json_print.cc), not cJSON_Print, which rounds integers above 10^15 to 15 significant
// digits; numbers print in the shortest form that reads back to the same double.
// Whatever Print returns, ParseJson accepts and reads back equal. Errors:
// kInvalidArgument (null item, a string that is not clean UTF-8, a non-finite number:
// only possible in a tree not built through this header), kTooLarge (nesting deeper
// than kMaxJsonDepth).
Result<std::string> Print(const cJSON* item, bool pretty = false);

// Deep copy, or an empty Json when `item` is null. Aborts on allocation failure.
Json Clone(const cJSON* item);

// Structural equality (cJSON_Compare, case-sensitive keys; numbers compared with a
// relative epsilon). False if either side is null.
bool Equal(const cJSON* a, const cJSON* b);

// ---- Reading ----------------------------------------------------------------------

enum class Type { kInvalid, kNull, kBool, kNumber, kString, kArray, kObject };
Type TypeOf(const cJSON* item);  // kInvalid for null
const char* TypeName(Type t);    // "string", "number", ... for error messages

// Value accessors for an item itself: nullopt when the item is null or of another type.
// AsString's view points into the tree. AsInt accepts only integral numbers with
// |x| <= kMaxSafeInteger (1.5, 1e300 and 9007199254740993 are all rejected).
std::optional<std::string_view> AsString(const cJSON* item);
std::optional<int64_t> AsInt(const cJSON* item);
std::optional<bool> AsBool(const cJSON* item);

// Member lookups on an object, case-sensitive only ("Key" never matches "key"). Each
// returns nullopt/nullptr when `obj` is not an object, the key is absent, or the member
// has another type.
const cJSON* GetMember(const cJSON* obj, const char* key);  // any type
std::optional<std::string_view> GetString(const cJSON* obj, const char* key);
std::optional<int64_t> GetInt(const cJSON* obj, const char* key);
std::optional<bool> GetBool(const cJSON* obj, const char* key);
const cJSON* GetArray(const cJSON* obj, const char* key);
const cJSON* GetObject(const cJSON* obj, const char* key);

// The key of an object member (empty for array elements and roots).
std::string_view KeyOf(const cJSON* item);

// Iteration over the children of an array or object (nothing for other types):
//   for (const cJSON* member : Children(obj)) { ... KeyOf(member) ... }
class ChildIterator {
 public:
  explicit ChildIterator(const cJSON* at) : at_(at) {}
  const cJSON* operator*() const { return at_; }
  ChildIterator& operator++() {
    at_ = at_->next;
    return *this;
  }
  bool operator!=(const ChildIterator& o) const { return at_ != o.at_; }

 private:
  const cJSON* at_;
};
struct ChildRange {
  const cJSON* first;
  ChildIterator begin() const { return ChildIterator(first); }
  ChildIterator end() const { return ChildIterator(nullptr); }
};
ChildRange Children(const cJSON* item);
size_t ChildCount(const cJSON* item);

// ---- Building ---------------------------------------------------------------------
// Make* never return an empty Json: allocation failure aborts (OOM is fatal, as for the
// std::string next to it). Values that could not be parsed back are refused instead.

Json MakeObject();
Json MakeArray();
Json MakeNull();
Json MakeBool(bool value);
// Err::kInvalidArgument: invalid UTF-8 or a NUL byte (see above).
Result<Json> MakeString(std::string_view value);
// Err::kInvalidArgument: |value| > kMaxSafeInteger.
Result<Json> MakeInt(int64_t value);
// Err::kInvalidArgument: NaN or infinite.
Result<Json> MakeNumber(double value);

// Adds `child` to object `obj` under `key`, replacing an existing member of that key (so
// a built tree never has duplicate keys). Ownership moves into the tree only on
// success; on error `child` still owns its value. Errors (kInvalidArgument): obj not an
// object, child empty, key null or not valid UTF-8.
Status Set(cJSON* obj, const char* key, Json&& child);
// Appends `child` to array `arr`; same ownership rule. kInvalidArgument if arr is not
// an array or child is empty.
Status Append(cJSON* arr, Json&& child);

// Shorthands for Set(obj, key, Make*(value)); same errors.
Status SetString(cJSON* obj, const char* key, std::string_view value);
Status SetInt(cJSON* obj, const char* key, int64_t value);
Status SetNumber(cJSON* obj, const char* key, double value);
Status SetBool(cJSON* obj, const char* key, bool value);

}  // namespace keycell::json

#include "broker/json/json.h"

#include <malloc.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_set>

#include "broker/json/json_scan.h"
#include "common/secure_buffer.h"

namespace keycell::json {
namespace {

// Every cJSON node and string is wiped when freed. JSON in keycelld carries secrets on
// their way through (an MCP tool's value argument, a token given to the proxy op, a
// revealed value in a reply), and trees are copied, printed and freed in many places;
// wiping at the allocator catches every one of them. A custom free also stops cJSON from
// using realloc (print buffers grow by malloc + copy + free), so no buffer is released
// unwiped behind our back.
void WipingFree(void* p) {
  if (p == nullptr) return;
  SecureWipe(p, malloc_usable_size(p));
  free(p);
}

const bool kWipingHooksInstalled = [] {
  cJSON_Hooks hooks{.malloc_fn = malloc, .free_fn = WipingFree};
  cJSON_InitHooks(&hooks);
  return true;
}();

// Zero bytes after the copy handed to cJSON. Debian's 1.7.15 carries the fix for
// CVE-2023-53154 (a read past the end of a truncated object), and ScanJsonText already
// refuses truncated documents; the padding turns any similar slip into a read of our own
// zeros instead of someone else's heap.
constexpr size_t kParsePadding = 8;
// Objects with more members than this use a hash set for the duplicate check, so a
// hostile object with 100k keys stays linear instead of quadratic.
constexpr size_t kPairwiseKeyCheckMax = 16;

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool IsBlank(std::string_view text) {
  for (char c : text) {
    if (!IsJsonSpace(c)) return false;
  }
  return true;
}

Status CheckUniqueKeys(const cJSON* obj) {
  if (ChildCount(obj) <= kPairwiseKeyCheckMax) {
    for (const cJSON* a = obj->child; a != nullptr; a = a->next) {
      for (const cJSON* b = a->next; b != nullptr; b = b->next) {
        if (std::strcmp(a->string, b->string) == 0) {
          return Status(Err::kBadFrame, "json: duplicate key");
        }
      }
    }
    return Status::Ok();
  }
  std::unordered_set<std::string_view> seen;
  for (const cJSON* member : Children(obj)) {
    if (!seen.insert(member->string).second) return Status(Err::kBadFrame, "json: duplicate key");
  }
  return Status::Ok();
}

// Post-parse rules cJSON cannot express. Recursion depth is bounded by ScanJsonText.
Status CheckTree(const cJSON* item) {
  if (cJSON_IsNumber(item) && !std::isfinite(item->valuedouble)) {
    return Status(Err::kBadFrame, "json: number out of range");
  }
  if (cJSON_IsObject(item)) KC_RETURN_IF_ERROR(CheckUniqueKeys(item));
  for (const cJSON* child : Children(item)) KC_RETURN_IF_ERROR(CheckTree(child));
  return Status::Ok();
}

}  // namespace

Result<Json> ParseJson(std::string_view text, size_t max_bytes) {
  if (text.size() > max_bytes) {
    return Status(Err::kTooLarge, "json: input too large", SaturatedOffset(text.size()));
  }
  if (IsBlank(text)) return Status(Err::kBadFrame, "json: empty input");
  KC_RETURN_IF_ERROR(ScanJsonText(text, kMaxJsonDepth));

  std::string copy;
  const ScopedStringWipe wipe_copy(copy);  // the text may hold a secret argument
  copy.reserve(text.size() + kParsePadding);
  copy.append(text).append(kParsePadding, '\0');
  const char* end = nullptr;
  Json root;
  {
    // cJSON writes its process-global error position on every parse (see json.h).
    static std::mutex cjson_global_error_mutex;
    const std::lock_guard<std::mutex> lock(cjson_global_error_mutex);
    // require_null_terminated = false: we check what follows the value ourselves, since
    // with a length cJSON's own check would look at our padding.
    root.reset(cJSON_ParseWithLengthOpts(copy.data(), text.size(), &end, false));
  }
  const size_t consumed = end != nullptr ? static_cast<size_t>(end - copy.data()) : 0;
  if (!root) return Status(Err::kBadFrame, "json: syntax error", SaturatedOffset(consumed));
  if (consumed > text.size() || !IsBlank(text.substr(consumed))) {
    return Status(Err::kBadFrame, "json: trailing bytes after value", SaturatedOffset(consumed));
  }
  KC_RETURN_IF_ERROR(CheckTree(root.get()));
  return root;
}

Json Clone(const cJSON* item) {
  if (item == nullptr) return Json();
  Json copy(cJSON_Duplicate(item, /*recurse=*/true));
  KC_CHECK(copy != nullptr);  // OOM is fatal
  return copy;
}

bool Equal(const cJSON* a, const cJSON* b) {
  return a != nullptr && b != nullptr && cJSON_Compare(a, b, /*case_sensitive=*/true);
}

Type TypeOf(const cJSON* item) {
  if (item == nullptr) return Type::kInvalid;
  if (cJSON_IsNull(item)) return Type::kNull;
  if (cJSON_IsBool(item)) return Type::kBool;
  if (cJSON_IsNumber(item)) return Type::kNumber;
  if (cJSON_IsString(item)) return Type::kString;
  if (cJSON_IsArray(item)) return Type::kArray;
  if (cJSON_IsObject(item)) return Type::kObject;
  return Type::kInvalid;  // cJSON_Raw, never produced by the parser
}

const char* TypeName(Type t) {
  switch (t) {
    case Type::kInvalid:
      return "invalid";
    case Type::kNull:
      return "null";
    case Type::kBool:
      return "boolean";
    case Type::kNumber:
      return "number";
    case Type::kString:
      return "string";
    case Type::kArray:
      return "array";
    case Type::kObject:
      return "object";
  }
  return "invalid";
}

std::optional<std::string_view> AsString(const cJSON* item) {
  if (!cJSON_IsString(item) || item->valuestring == nullptr) return std::nullopt;
  return std::string_view(item->valuestring);
}

std::optional<int64_t> AsInt(const cJSON* item) {
  if (!cJSON_IsNumber(item)) return std::nullopt;
  const double d = item->valuedouble;
  // The range check comes first so the cast below is always defined.
  if (!std::isfinite(d) || std::fabs(d) > static_cast<double>(kMaxSafeInteger)) {
    return std::nullopt;
  }
  if (d != std::trunc(d)) return std::nullopt;
  return static_cast<int64_t>(d);
}

std::optional<bool> AsBool(const cJSON* item) {
  if (!cJSON_IsBool(item)) return std::nullopt;
  return cJSON_IsTrue(item) != 0;
}

const cJSON* GetMember(const cJSON* obj, const char* key) {
  if (!cJSON_IsObject(obj) || key == nullptr) return nullptr;
  return cJSON_GetObjectItemCaseSensitive(obj, key);
}

std::optional<std::string_view> GetString(const cJSON* obj, const char* key) {
  return AsString(GetMember(obj, key));
}

std::optional<int64_t> GetInt(const cJSON* obj, const char* key) {
  return AsInt(GetMember(obj, key));
}

std::optional<bool> GetBool(const cJSON* obj, const char* key) {
  return AsBool(GetMember(obj, key));
}

const cJSON* GetArray(const cJSON* obj, const char* key) {
  const cJSON* m = GetMember(obj, key);
  return cJSON_IsArray(m) ? m : nullptr;
}

const cJSON* GetObject(const cJSON* obj, const char* key) {
  const cJSON* m = GetMember(obj, key);
  return cJSON_IsObject(m) ? m : nullptr;
}

std::string_view KeyOf(const cJSON* item) {
  if (item == nullptr || item->string == nullptr) return {};
  return item->string;
}

ChildRange Children(const cJSON* item) {
  if (!cJSON_IsArray(item) && !cJSON_IsObject(item)) return ChildRange{nullptr};
  return ChildRange{item->child};
}

size_t ChildCount(const cJSON* item) {
  size_t n = 0;
  for (const cJSON* child : Children(item)) {
    (void)child;
    ++n;
  }
  return n;
}

}  // namespace keycell::json

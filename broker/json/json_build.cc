// Builders: every tree they make prints as valid JSON that ParseJson reads back to an
// equal tree (same UTF-8 and NUL rules as the parser, no duplicate keys, finite numbers).

#include <cmath>
#include <string>

#include "broker/json/json.h"
#include "broker/json/json_scan.h"

namespace keycell::json {
namespace {

Json Owned(cJSON* item) {
  KC_CHECK(item != nullptr);  // cJSON_Create* fails only on allocation failure: OOM is fatal
  return Json(item);
}

bool IsCleanText(std::string_view s) {
  return s.find('\0') == std::string_view::npos && FindInvalidUtf8(s) == s.size();
}

}  // namespace

Json MakeObject() { return Owned(cJSON_CreateObject()); }
Json MakeArray() { return Owned(cJSON_CreateArray()); }
Json MakeNull() { return Owned(cJSON_CreateNull()); }
Json MakeBool(bool value) { return Owned(cJSON_CreateBool(value)); }

Result<Json> MakeString(std::string_view value) {
  // A NUL would truncate the value inside cJSON; invalid UTF-8 would print as invalid JSON.
  if (!IsCleanText(value)) return Status(Err::kInvalidArgument, "json: string not clean UTF-8");
  const std::string terminated(value);
  return Owned(cJSON_CreateString(terminated.c_str()));
}

Result<Json> MakeInt(int64_t value) {
  if (value > kMaxSafeInteger || value < -kMaxSafeInteger) {
    return Status(Err::kInvalidArgument, "json: integer beyond 2^53-1");
  }
  return Owned(cJSON_CreateNumber(static_cast<double>(value)));
}

Result<Json> MakeNumber(double value) {
  // cJSON prints NaN and infinities as null, which would not read back as a number.
  if (!std::isfinite(value)) return Status(Err::kInvalidArgument, "json: non-finite number");
  return Owned(cJSON_CreateNumber(value));
}

Status Set(cJSON* obj, const char* key, Json&& child) {
  if (!cJSON_IsObject(obj)) return Status(Err::kInvalidArgument, "json: Set on a non-object");
  if (!child) return Status(Err::kInvalidArgument, "json: Set of an empty value");
  if (key == nullptr || !IsCleanText(key)) {
    return Status(Err::kInvalidArgument, "json: key not clean UTF-8");
  }
  // Replace rather than add when the key exists, so a built tree has no duplicate keys.
  const bool ok = cJSON_GetObjectItemCaseSensitive(obj, key) != nullptr
                      ? cJSON_ReplaceItemInObjectCaseSensitive(obj, key, child.get())
                      : cJSON_AddItemToObject(obj, key, child.get());
  if (!ok) return Status(Err::kNoMem, "json: cJSON_AddItemToObject");
  (void)child.release();  // the tree owns it now
  return Status::Ok();
}

Status Append(cJSON* arr, Json&& child) {
  if (!cJSON_IsArray(arr)) return Status(Err::kInvalidArgument, "json: Append to a non-array");
  if (!child) return Status(Err::kInvalidArgument, "json: Append of an empty value");
  if (!cJSON_AddItemToArray(arr, child.get())) {
    return Status(Err::kNoMem, "json: cJSON_AddItemToArray");
  }
  (void)child.release();  // the tree owns it now
  return Status::Ok();
}

Status SetString(cJSON* obj, const char* key, std::string_view value) {
  KC_ASSIGN_OR_RETURN(Json item, MakeString(value));
  return Set(obj, key, std::move(item));
}

Status SetInt(cJSON* obj, const char* key, int64_t value) {
  KC_ASSIGN_OR_RETURN(Json item, MakeInt(value));
  return Set(obj, key, std::move(item));
}

Status SetNumber(cJSON* obj, const char* key, double value) {
  KC_ASSIGN_OR_RETURN(Json item, MakeNumber(value));
  return Set(obj, key, std::move(item));
}

Status SetBool(cJSON* obj, const char* key, bool value) { return Set(obj, key, MakeBool(value)); }

}  // namespace keycell::json

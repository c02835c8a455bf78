#include "broker/mcp/schema.h"

#include <string_view>

namespace keycell::mcp {
namespace {

using json::Type;

constexpr const char* kAnnotationKeywords[] = {
    "$schema",  "$id",    "$comment",   "title",    "description", "default",
    "examples", "format", "deprecated", "readOnly", "writeOnly",
};

constexpr const char* kTypeNames[] = {"string", "integer", "number", "boolean",
                                      "object", "array",   "null"};

bool IsOneOf(std::string_view s, const char* const* list, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (s == list[i]) return true;
  }
  return false;
}

bool IsTypeName(std::string_view s) {
  return IsOneOf(s, kTypeNames, sizeof(kTypeNames) / sizeof(kTypeNames[0]));
}

Status Bad(std::string* why, const std::string& at, const std::string& text) {
  if (why != nullptr) *why = at + ": " + text;
  return Status(Err::kInvalidArgument, "unsupported or malformed JSON Schema");
}

bool IsNonNegativeInt(const cJSON* item) {
  const std::optional<int64_t> n = json::AsInt(item);
  return n && *n >= 0;
}

Status CheckAt(const cJSON* schema, const std::string& at, std::string* why, int depth) {
  if (depth > 16) return Bad(why, at, "schema nested deeper than 16 levels");
  if (json::TypeOf(schema) != Type::kObject) return Bad(why, at, "schema is not an object");
  for (const cJSON* kw : json::Children(schema)) {
    const std::string_view key = json::KeyOf(kw);
    const std::string here = at + "." + std::string(key);
    if (IsOneOf(key, kAnnotationKeywords,
                sizeof(kAnnotationKeywords) / sizeof(kAnnotationKeywords[0]))) {
      continue;
    }
    if (key == "type") {
      if (const auto name = json::AsString(kw)) {
        if (!IsTypeName(*name)) return Bad(why, here, "unknown type name");
        continue;
      }
      if (json::TypeOf(kw) != Type::kArray || json::ChildCount(kw) == 0) {
        return Bad(why, here, "must be a type name or a non-empty array of them");
      }
      for (const cJSON* t : json::Children(kw)) {
        const auto name = json::AsString(t);
        if (!name || !IsTypeName(*name)) return Bad(why, here, "unknown type name");
      }
    } else if (key == "properties") {
      if (json::TypeOf(kw) != Type::kObject) return Bad(why, here, "must be an object");
      for (const cJSON* prop : json::Children(kw)) {
        KC_RETURN_IF_ERROR(
            CheckAt(prop, here + "." + std::string(json::KeyOf(prop)), why, depth + 1));
      }
    } else if (key == "required") {
      if (json::TypeOf(kw) != Type::kArray) return Bad(why, here, "must be an array");
      for (const cJSON* name : json::Children(kw)) {
        if (!json::AsString(name)) return Bad(why, here, "must hold only strings");
      }
    } else if (key == "additionalProperties") {
      if (json::AsBool(kw)) continue;
      KC_RETURN_IF_ERROR(CheckAt(kw, here, why, depth + 1));
    } else if (key == "items") {
      KC_RETURN_IF_ERROR(CheckAt(kw, here, why, depth + 1));
    } else if (key == "enum") {
      if (json::TypeOf(kw) != Type::kArray || json::ChildCount(kw) == 0) {
        return Bad(why, here, "must be a non-empty array");
      }
    } else if (key == "minLength" || key == "maxLength" || key == "minItems" || key == "maxItems") {
      if (!IsNonNegativeInt(kw)) return Bad(why, here, "must be a non-negative integer");
    } else if (key == "minimum" || key == "maximum") {
      if (json::TypeOf(kw) != Type::kNumber) return Bad(why, here, "must be a number");
    } else {
      return Bad(why, here, "keyword not supported by keycell's validator");
    }
  }
  return Status::Ok();
}

bool HasType(const cJSON* value, std::string_view name) {
  const Type t = json::TypeOf(value);
  if (name == "string") return t == Type::kString;
  if (name == "integer") return json::AsInt(value).has_value();
  if (name == "number") return t == Type::kNumber;
  if (name == "boolean") return t == Type::kBool;
  if (name == "object") return t == Type::kObject;
  if (name == "array") return t == Type::kArray;
  if (name == "null") return t == Type::kNull;
  return false;
}

std::string ExpectedTypes(const cJSON* type_kw) {
  if (const auto name = json::AsString(type_kw)) return std::string(*name);
  std::string out;
  for (const cJSON* t : json::Children(type_kw)) {
    if (!out.empty()) out += " or ";
    out += std::string(*json::AsString(t));
  }
  return out;
}

bool TypeMatches(const cJSON* type_kw, const cJSON* value) {
  if (const auto name = json::AsString(type_kw)) return HasType(value, *name);
  for (const cJSON* t : json::Children(type_kw)) {
    if (HasType(value, *json::AsString(t))) return true;
  }
  return false;
}

// Unicode code points in valid UTF-8 (ParseJson guarantees validity).
size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (const char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

bool InList(const cJSON* list, const cJSON* value) {
  for (const cJSON* allowed : json::Children(list)) {
    // json::Equal compares numbers with an epsilon; enums of integers stay exact
    // because both sides are safe integers.
    if (json::Equal(allowed, value)) return true;
  }
  return false;
}

std::string AllowedNames(const cJSON* properties) {
  std::string out;
  for (const cJSON* prop : json::Children(properties)) {
    if (!out.empty()) out += ", ";
    out += std::string(json::KeyOf(prop));
  }
  return out.empty() ? "none" : out;
}

std::string Validate(const cJSON* schema, const cJSON* value, const std::string& at) {
  if (const cJSON* type = json::GetMember(schema, "type")) {
    if (!TypeMatches(type, value)) return at + ": expected " + ExpectedTypes(type);
  }
  if (const cJSON* list = json::GetArray(schema, "enum")) {
    if (!InList(list, value)) return at + ": not one of the allowed values";
  }
  if (const auto s = json::AsString(value)) {
    const size_t len = CodePoints(*s);
    if (const auto max = json::GetInt(schema, "maxLength"); max && len > size_t(*max)) {
      return at + ": longer than " + std::to_string(*max) + " characters";
    }
    if (const auto min = json::GetInt(schema, "minLength"); min && len < size_t(*min)) {
      return at + ": shorter than " + std::to_string(*min) + " characters";
    }
  }
  if (json::TypeOf(value) == Type::kNumber) {
    const double v = value->valuedouble;
    const cJSON* max = json::GetMember(schema, "maximum");
    if (max != nullptr && v > max->valuedouble) return at + ": above the maximum";
    const cJSON* min = json::GetMember(schema, "minimum");
    if (min != nullptr && v < min->valuedouble) return at + ": below the minimum";
  }
  if (json::TypeOf(value) == Type::kArray) {
    const size_t n = json::ChildCount(value);
    if (const auto max = json::GetInt(schema, "maxItems"); max && n > size_t(*max)) {
      return at + ": more than " + std::to_string(*max) + " items";
    }
    if (const auto min = json::GetInt(schema, "minItems"); min && n < size_t(*min)) {
      return at + ": fewer than " + std::to_string(*min) + " items";
    }
    if (const cJSON* items = json::GetObject(schema, "items")) {
      size_t i = 0;
      for (const cJSON* element : json::Children(value)) {
        std::string err = Validate(items, element, at + "[" + std::to_string(i++) + "]");
        if (!err.empty()) return err;
      }
    }
  }
  if (json::TypeOf(value) == Type::kObject) {
    const cJSON* properties = json::GetObject(schema, "properties");
    if (const cJSON* required = json::GetArray(schema, "required")) {
      for (const cJSON* name : json::Children(required)) {
        const std::string key(*json::AsString(name));
        if (json::GetMember(value, key.c_str()) == nullptr) {
          return at + "." + key + ": required property missing";
        }
      }
    }
    const cJSON* additional = json::GetMember(schema, "additionalProperties");
    for (const cJSON* member : json::Children(value)) {
      const std::string key(json::KeyOf(member));
      const cJSON* sub = json::GetObject(properties, key.c_str());
      if (sub != nullptr) {
        std::string err = Validate(sub, member, at + "." + key);
        if (!err.empty()) return err;
        continue;
      }
      if (additional == nullptr || json::AsBool(additional) == true) continue;
      if (json::AsBool(additional) == false) {
        // The member's name came from the client: not echoed (see schema.h).
        return at + ": unexpected property (allowed: " + AllowedNames(properties) + ")";
      }
      std::string err = Validate(additional, member, at + ".<additional property>");
      if (!err.empty()) return err;
    }
  }
  return std::string();
}

}  // namespace

Status CheckSchema(const cJSON* schema, std::string* why) {
  return CheckAt(schema, "schema", why, 0);
}

std::string ValidateAgainstSchema(const cJSON* schema, const cJSON* value,
                                  const std::string& root_name) {
  return Validate(schema, value, root_name);
}

}  // namespace keycell::mcp

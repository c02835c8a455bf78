#pragma once
// The registry of configuration keys: one row per key, and the only place a later issue
// touches to add one (row in config_keys.cc + field in Config + docs regenerated; the
// tests then check default, validator, env name and docs for the new row).

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "broker/config/config.h"
#include "broker/config/environment.h"

namespace keycell::broker {

enum class KeyType { kString, kInt, kBool, kDuration, kList };
// "string", "integer", "boolean", "duration", "list" (as the docs and errors say).
const char* KeyTypeName(KeyType type);

// A typed value. kDuration is held as int64_t seconds, kList as strings.
using Value = std::variant<std::string, int64_t, bool, std::vector<std::string>>;

// Where a key's value lives in Config. The alternative must match the KeyType (a test
// checks every row).
using Field = std::variant<std::string Config::*, int64_t Config::*, bool Config::*,
                           std::vector<std::string> Config::*>;

// Checks a typed value; returns "" when valid, else the rule it broke
// ("must be an absolute path").
using Validator = std::string (*)(const Value& value);
// Computes a default in text form (as an environment variable would give it), or
// nullopt when the environment cannot supply one (HOME unset and no XDG variable).
using DefaultFn = std::optional<std::string> (*)(const Environment& env);

struct KeySpec {
  const char* name;  // dotted, lower case: "pkcs11.module"
  KeyType type;
  Field field;
  const char* default_text;  // default in text form; ignored when default_fn is set
  DefaultFn default_fn;      // computed default, or nullptr
  const char* default_doc;   // the default as the docs describe it
  Validator validate;        // nullptr = any value of the type
  const char* help;          // one sentence for the docs table; no '|'
};

std::span<const KeySpec> ConfigKeys();
const KeySpec* FindKey(std::string_view name);
// True when some key starts with `prefix` + "." (so {"pkcs11": {...}} is a section).
bool IsSection(std::string_view prefix);

// "pkcs11.module" -> "KEYCELL_PKCS11_MODULE".
std::string EnvVarName(std::string_view key);

// Text form (environment or default) -> typed value. kInt: optional '-' and digits;
// kBool: true/false/1/0; kDuration: ParseDurationSeconds; kList: comma-separated, items
// trimmed of spaces, none empty. On failure returns nullopt and sets *rule.
std::optional<Value> ValueFromText(KeyType type, std::string_view text, std::string* rule);

// Value as the docs and DescribeConfig print it (durations as "15m", lists comma-joined).
std::string ValueToText(KeyType type, const Value& value);

// Reads / writes the Config field a row names.
Value GetField(const KeySpec& spec, const Config& config);
void SetField(const KeySpec& spec, Value value, Config* config);

}  // namespace keycell::broker

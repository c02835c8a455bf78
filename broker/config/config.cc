// Loading: JSON text -> per-key typed values (validated) -> overlay environment ->
// defaults for the rest -> cross-key checks. Every failure names source and key.

#include "broker/config/config.h"

#include <algorithm>
#include <map>

#include "broker/config/config_error.h"
#include "broker/config/config_file.h"
#include "broker/config/config_keys.h"
#include "broker/config/listen_address.h"
#include "broker/json/json.h"

namespace keycell::broker {
namespace {

using FileValues = std::map<const KeySpec*, Value>;

constexpr size_t kMaxQuotedBytes = 64;   // of a value or key echoed in a message
constexpr size_t kMaxSuggestBytes = 64;  // longer unknown keys get no "did you mean"

// Echoes user input safely in one line: truncated, control bytes replaced.
std::string Quote(std::string_view v) {
  std::string out = "\"";
  for (char c : v.substr(0, kMaxQuotedBytes)) {
    out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  }
  return out + (v.size() > kMaxQuotedBytes ? "...\"" : "\"");
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1] ? 1 : 0)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string Suggestion(std::string_view unknown) {
  if (unknown.size() > kMaxSuggestBytes) return "";
  for (const KeySpec& spec : ConfigKeys()) {
    if (EditDistance(unknown, spec.name) <= 2)
      return std::string(" (did you mean \"") + spec.name + "\"?)";
  }
  return "";
}

// A JSON array of non-empty strings, each passing the same checks as text.
std::optional<Value> ListFromJson(const cJSON* item) {
  if (json::TypeOf(item) != json::Type::kArray) return std::nullopt;
  std::vector<std::string> items;
  for (const cJSON* element : json::Children(item)) {
    const std::optional<std::string_view> e = json::AsString(element);
    std::string ignored;
    if (!e || e->empty() || !ValueFromText(KeyType::kString, *e, &ignored)) return std::nullopt;
    items.emplace_back(*e);
  }
  return items;
}

// JSON member -> typed value of the key's type; sets *rule when it does not fit.
std::optional<Value> ValueFromJson(KeyType type, const cJSON* item, std::string* rule) {
  const std::optional<std::string_view> text = json::AsString(item);
  // Strings, and durations written as strings ("15m"), take the environment's path.
  if (text && (type == KeyType::kString || type == KeyType::kDuration)) {
    return ValueFromText(type, *text, rule);
  }
  std::optional<Value> out;
  switch (type) {
    case KeyType::kString:
      break;
    case KeyType::kInt:
      if (auto n = json::AsInt(item)) out = *n;
      break;
    case KeyType::kDuration:  // a bare number counts as seconds
      if (auto n = json::AsInt(item); n && *n >= 0) out = *n;
      break;
    case KeyType::kBool:
      if (auto b = json::AsBool(item)) out = *b;
      break;
    case KeyType::kList:
      out = ListFromJson(item);
      break;
  }
  if (!out && type == KeyType::kList && json::TypeOf(item) == json::Type::kArray) {
    *rule = "expected list: every item must be a non-empty string without control characters";
  } else if (!out) {
    *rule = std::string("expected ") + KeyTypeName(type) + ", got " +
            json::TypeName(json::TypeOf(item));
  }
  return out;
}

Status CheckValue(const KeySpec& spec, const Value& value, std::string_view where,
                  std::string* why) {
  if (spec.validate == nullptr) return Status::Ok();
  const std::string rule = spec.validate(value);
  if (rule.empty()) return Status::Ok();
  return Fail(why, Status(Err::kInvalidArgument, "config: invalid value"),
              std::string(where) + ": " + spec.name + " " + rule + " (got " +
                  Quote(ValueToText(spec.type, value)) + ")");
}

Status CollectMember(const cJSON* member, const std::string& name, std::string_view source,
                     FileValues* out, std::string* why);

// Walks the top-level object; nested objects are sections ({"pkcs11": {"module": ...}}).
// Recursion depth is bounded by the dots in the longest key name.
Status CollectObject(const cJSON* obj, const std::string& prefix, std::string_view source,
                     FileValues* out, std::string* why) {
  for (const cJSON* member : json::Children(obj)) {
    const std::string name = prefix.empty() ? std::string(json::KeyOf(member))
                                            : prefix + "." + std::string(json::KeyOf(member));
    KC_RETURN_IF_ERROR(CollectMember(member, name, source, out, why));
  }
  return Status::Ok();
}

Status CollectMember(const cJSON* member, const std::string& name, std::string_view source,
                     FileValues* out, std::string* why) {
  const KeySpec* spec = FindKey(name);
  if (spec == nullptr && json::TypeOf(member) == json::Type::kObject && IsSection(name)) {
    return CollectObject(member, name, source, out, why);
  }
  if (spec == nullptr) {
    return Fail(why, Status(Err::kInvalidArgument, "config: unknown key"),
                std::string(source) + ": unknown key " + Quote(name) + Suggestion(name));
  }
  std::string rule;
  std::optional<Value> value = ValueFromJson(spec->type, member, &rule);
  if (!value) {
    return Fail(why, Status(Err::kInvalidArgument, "config: wrong type"),
                std::string(source) + ": " + spec->name + ": " + rule);
  }
  KC_RETURN_IF_ERROR(CheckValue(*spec, *value, source, why));
  if (!out->emplace(spec, std::move(*value)).second) {
    return Fail(why, Status(Err::kInvalidArgument, "config: key given twice"),
                std::string(source) + ": " + spec->name + " is given twice (dotted and nested)");
  }
  return Status::Ok();
}

Status ParseFileText(std::string_view text, std::string_view source, FileValues* out,
                     std::string* why) {
  auto root = json::ParseJson(text, kMaxConfigBytes);
  if (!root.ok()) {
    const Status st = root.status();
    return Fail(why, Status(st.code(), "config: not JSON", st.detail()),
                std::string(source) + ": not valid JSON (" + st.where() + ", byte " +
                    std::to_string(st.detail()) + ")");
  }
  if (json::TypeOf(root->get()) != json::Type::kObject) {
    return Fail(why, Status(Err::kInvalidArgument, "config: not an object"),
                std::string(source) + ": the top level must be a JSON object");
  }
  return CollectObject(root->get(), "", source, out, why);
}

// From text (environment variable or default): parse, validate, store.
Status StoreText(const KeySpec& spec, std::string_view text, const std::string& where,
                 const std::string& origin, Config* config, std::string* why) {
  std::string rule;
  std::optional<Value> value = ValueFromText(spec.type, text, &rule);
  if (!value) {
    return Fail(why, Status(Err::kInvalidArgument, "config: wrong type"),
                where + ": " + spec.name + ": " + rule + " (got " + Quote(text) + ")");
  }
  KC_RETURN_IF_ERROR(CheckValue(spec, *value, where, why));
  SetField(spec, std::move(*value), config);
  config->origin[spec.name] = origin;
  return Status::Ok();
}

// Precedence: environment > file > default.
Status ResolveKey(const KeySpec& spec, const Environment& env, FileValues* file, Config* config,
                  std::string* why) {
  const std::string var = EnvVarName(spec.name);
  if (std::optional<std::string> text = env.Get(var.c_str()); text && !text->empty()) {
    return StoreText(spec, *text, "environment variable " + var, var, config, why);
  }
  if (auto it = file->find(&spec); it != file->end()) {
    SetField(spec, std::move(it->second), config);  // validated when the file was read
    config->origin[spec.name] = "file";
    return Status::Ok();
  }
  const std::optional<std::string> def = spec.default_fn != nullptr
                                             ? spec.default_fn(env)
                                             : std::optional<std::string>(spec.default_text);
  if (!def) {
    return Fail(why, Status(Err::kInvalidArgument, "config: no default"),
                std::string(spec.name) + " has no default here (HOME is unset): set " + var);
  }
  return StoreText(spec, *def, "default", "default", config, why);
}

Status CheckListen(Config* config, std::string* why) {
  auto addr = ParseListenAddress(config->http_listen);
  KC_CHECK(addr.ok());  // ValidateListen accepted it
  config->http_host = addr->host;
  config->http_port = addr->port;
  if (addr->loopback) return Status::Ok();
  if (!config->http_allow_non_loopback) {
    return Fail(why, Status(Err::kPolicyDenied, "config: non-loopback listen address"),
                "http.listen " + Quote(config->http_listen) +
                    " is not a loopback address; set http.allow_non_loopback to true to "
                    "serve the network");
  }
  config->warnings.push_back("http.listen " + config->http_listen +
                             " is not a loopback address: the proxy and MCP endpoints are "
                             "reachable from other machines");
  return Status::Ok();
}

}  // namespace

bool ToolSetEnabled(const Config& config, std::string_view set) {
  const auto& sets = config.mcp_tool_sets;
  return std::find(sets.begin(), sets.end(), "all") != sets.end() ||
         std::find(sets.begin(), sets.end(), set) != sets.end();
}

Result<Config> LoadConfigFromText(std::string_view text, std::string_view source,
                                  const Environment& env, std::string* why) {
  FileValues file;
  if (text.find_first_not_of(" \t\r\n") != std::string_view::npos) {
    KC_RETURN_IF_ERROR(ParseFileText(text, source, &file, why));
  }
  Config config;
  config.config_file = std::string(source);
  for (const KeySpec& spec : ConfigKeys()) {
    KC_RETURN_IF_ERROR(ResolveKey(spec, env, &file, &config, why));
  }
  KC_RETURN_IF_ERROR(CheckListen(&config, why));
  if (config.mcp_allow_password_unlock) {
    config.warnings.push_back(
        "mcp.allow_password_unlock is on: a PIN given to unlock_vault passes through the "
        "model's context");
  }
  return config;
}

Result<Config> LoadConfig(const Environment& env, std::string* why) {
  bool required = false;
  const std::string path = ConfigFilePath(env, &required);
  if (required && (path.empty() || path[0] != '/')) {
    return Fail(why, Status(Err::kInvalidArgument, "config: KEYCELL_CONFIG not absolute"),
                "KEYCELL_CONFIG must be an absolute path (got " + Quote(path) + ")");
  }
  std::optional<std::string> text;
  if (!path.empty()) {
    KC_ASSIGN_OR_RETURN(text, ReadConfigFile(path, required, why));
  }
  return LoadConfigFromText(text ? *text : "", text ? path : "", env, why);
}

}  // namespace keycell::broker

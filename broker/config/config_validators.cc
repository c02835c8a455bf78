#include "broker/config/config_validators.h"

#include <algorithm>

#include "broker/config/duration.h"
#include "broker/config/listen_address.h"

namespace keycell::broker {
namespace {

constexpr const char* kToolSets[] = {"pushkey", "agentkeys", "vault_secret", "all"};
constexpr const char* kLogLevels[] = {"error", "warn", "info", "debug"};

// Config values end up in log lines and `keycell config` output: no control characters,
// so a value cannot forge a second line.
bool HasControl(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

std::string Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return std::string(s);
}

std::optional<int64_t> ParseInt64(std::string_view text) {
  const bool negative = !text.empty() && text[0] == '-';
  if (negative) text.remove_prefix(1);
  if (text.empty() || text.size() > 18) return std::nullopt;  // 18 digits cannot overflow
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return negative ? -v : v;
}

std::optional<std::vector<std::string>> ParseList(std::string_view text) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string item = Trim(text.substr(start, comma - start));
    if (item.empty()) return std::nullopt;
    items.push_back(std::move(item));
    start = comma + 1;
  }
  return items;
}

std::string IntInRange(const Value& v, int64_t lo, int64_t hi) {
  const int64_t n = std::get<int64_t>(v);
  if (n < lo || n > hi)
    return "must be between " + std::to_string(lo) + " and " + std::to_string(hi);
  return "";
}

template <size_t N>
bool OneOf(const std::string& s, const char* const (&options)[N]) {
  return std::find(std::begin(options), std::end(options), s) != std::end(options);
}

}  // namespace

std::optional<Value> ValueFromText(KeyType type, std::string_view text, std::string* rule) {
  if (HasControl(text)) {
    *rule = "must not contain control characters";
    return std::nullopt;
  }
  std::optional<Value> out;
  switch (type) {
    case KeyType::kString:
      out = std::string(text);
      break;
    case KeyType::kInt:
      if (auto n = ParseInt64(text)) out = *n;
      break;
    case KeyType::kBool:
      if (text == "true" || text == "1") out = true;
      if (text == "false" || text == "0") out = false;
      break;
    case KeyType::kDuration:
      if (auto d = ParseDurationSeconds(text); d.ok()) out = *d;
      break;
    case KeyType::kList:
      if (auto l = ParseList(text)) out = std::move(*l);
      break;
  }
  if (!out) *rule = std::string("expected ") + KeyTypeName(type);
  if (!out && type == KeyType::kDuration) *rule += " like 900, 900s, 15m, 2h, 1d or 0";
  if (!out && type == KeyType::kList) *rule += " of comma-separated names";
  if (!out && type == KeyType::kBool) *rule += " (true, false, 1 or 0)";
  return out;
}

std::string ValidateAbsolutePath(const Value& v) {
  const std::string& s = std::get<std::string>(v);
  if (s.empty() || s[0] != '/') return "must be an absolute path";
  if (s.size() > kMaxPathBytes) return "must be at most 4095 bytes";
  return "";
}

std::string ValidateOptionalAbsolutePath(const Value& v) {
  return std::get<std::string>(v).empty() ? "" : ValidateAbsolutePath(v);
}

std::string ValidateRuntimeDir(const Value& v) {
  if (std::string rule = ValidateAbsolutePath(v); !rule.empty()) return rule;
  if (std::get<std::string>(v).size() > kMaxRuntimeDirBytes) {
    return "must be at most 80 bytes (the socket path must fit sun_path)";
  }
  return "";
}

std::string ValidateTokenLabel(const Value& v) {
  const std::string& s = std::get<std::string>(v);
  if (s.empty() || s.size() > kMaxTokenLabelBytes) return "must be 1 to 32 bytes";
  // Labels are blank padded on the token: "keycell " and "keycell" are the same label.
  if (s.front() == ' ' || s.back() == ' ') return "must not start or end with a space";
  return "";
}

std::string ValidateIdleLock(const Value& v) {
  if (std::get<int64_t>(v) > kMaxIdleLockSeconds) return "must be at most 30d (0 = never)";
  return "";
}

std::string ValidateLogLevel(const Value& v) {
  return OneOf(std::get<std::string>(v), kLogLevels) ? "" : "must be error, warn, info or debug";
}

std::string ValidateListen(const Value& v) {
  if (ParseListenAddress(std::get<std::string>(v)).ok()) return "";
  return "must be IPv4:PORT, [IPv6]:PORT or localhost:PORT with PORT 0 to 65535";
}

std::string ValidateToolSets(const Value& v) {
  const auto& sets = std::get<std::vector<std::string>>(v);
  if (sets.empty()) return "must name at least one tool set";
  for (size_t i = 0; i < sets.size(); ++i) {
    if (!OneOf(sets[i], kToolSets)) return "must list pushkey, agentkeys, vault_secret or all";
    if (std::find(sets.begin(), sets.begin() + i, sets[i]) != sets.begin() + i) {
      return "must not repeat a tool set";
    }
  }
  return "";
}

std::string ValidateRequestsPerMinute(const Value& v) { return IntInRange(v, 1, 1'000'000); }
std::string ValidateUnlockAttempts(const Value& v) { return IntInRange(v, 1, 60); }

}  // namespace keycell::broker

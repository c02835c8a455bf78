#include "broker/config/config_keys.h"

#include <algorithm>
#include <type_traits>

#include "broker/config/config_validators.h"
#include "broker/config/duration.h"

#ifndef KEYCELL_PKCS11_MODULE
#error "KEYCELL_PKCS11_MODULE (the default PKCS#11 module path) must be defined by CMake"
#endif

namespace keycell::broker {
namespace {

// An XDG-style variable: used only when set, non-empty and absolute (the XDG spec says
// to ignore relative values).
std::optional<std::string> AbsoluteEnv(const Environment& env, const char* name) {
  std::optional<std::string> v = env.Get(name);
  if (!v || v->empty() || (*v)[0] != '/') return std::nullopt;
  return v;
}

std::optional<std::string> DefaultDataDir(const Environment& env) {
  if (auto x = AbsoluteEnv(env, "XDG_DATA_HOME")) return *x + "/keycell";
  if (auto h = AbsoluteEnv(env, "HOME")) return *h + "/.local/share/keycell";
  return std::nullopt;
}

std::optional<std::string> DefaultRuntimeDir(const Environment& env) {
  if (auto x = AbsoluteEnv(env, "XDG_RUNTIME_DIR")) return *x + "/keycell";
  // Shared /tmp: EnsurePrivateDir refuses this path unless it is ours and 0700.
  return "/tmp/keycell-" + std::to_string(env.Uid());
}

std::optional<std::string> DefaultEnclavePath(const Environment& env) {
  const std::string dir = env.ExecutableDir();
  if (dir.empty() || dir[0] != '/') return std::nullopt;
  return (dir == "/" ? "" : dir) + "/keycell-enclave";
}

// The registry. Order is the order of the docs table and of DescribeConfig.
// Every default must pass its own validator (config_test checks each row).
constexpr KeySpec kKeys[] = {
    {"data_dir", KeyType::kString, &Config::data_dir, nullptr, DefaultDataDir,
     "`$XDG_DATA_HOME/keycell`, else `~/.local/share/keycell`", ValidateAbsolutePath,
     "Directory of the credential store and the embedded SoftHSM2 token."},
    {"runtime_dir", KeyType::kString, &Config::runtime_dir, nullptr, DefaultRuntimeDir,
     "`$XDG_RUNTIME_DIR/keycell`, else `/tmp/keycell-<uid>`", ValidateRuntimeDir,
     "Directory of the daemon's control socket. Must be a directory owned by you with mode "
     "0700 (created so if missing); at most 80 bytes so the socket path fits `sun_path`."},
    {"pkcs11.module", KeyType::kString, &Config::pkcs11_module, KEYCELL_PKCS11_MODULE, nullptr,
     "set at build time (CMake `KEYCELL_PKCS11_MODULE`; SoftHSM2 on Debian: "
     "`/usr/lib/softhsm/libsofthsm2.so`)",
     ValidateAbsolutePath,
     "Absolute path of the PKCS#11 module the enclave loads. It runs with access to your "
     "token: point it only at a trusted library."},
    {"pkcs11.token_label", KeyType::kString, &Config::pkcs11_token_label, "keycell", nullptr,
     "`keycell`", ValidateTokenLabel,
     "Label of the token holding keycell's key-encryption key (1 to 32 bytes, no leading "
     "or trailing space)."},
    {"idle_lock", KeyType::kDuration, &Config::idle_lock_seconds, "15m", nullptr, "`15m`",
     ValidateIdleLock,
     "Lock the vault (log out of the token) after this long without a request: `900`, "
     "`900s`, `15m`, `2h`, `1d`; `0` = never. At most `30d`."},
    {"log.level", KeyType::kString, &Config::log_level, "info", nullptr, "`info`", ValidateLogLevel,
     "Least severe level logged: `error`, `warn`, `info` or `debug`. No level logs a "
     "secret."},
    {"enclave.path", KeyType::kString, &Config::enclave_path, nullptr, DefaultEnclavePath,
     "`keycell-enclave` next to the running executable", ValidateAbsolutePath,
     "Absolute path of the keycell-enclave program the daemon starts."},
    {"http.listen", KeyType::kString, &Config::http_listen, "127.0.0.1:8787", nullptr,
     "`127.0.0.1:8787`", ValidateListen,
     "Local HTTP listener (proxy and MCP): `IPv4:PORT`, `[IPv6]:PORT` or `localhost:PORT`; "
     "port 0 picks a free port. A non-loopback address is refused unless "
     "`http.allow_non_loopback` is true."},
    {"http.allow_non_loopback", KeyType::kBool, &Config::http_allow_non_loopback, "false", nullptr,
     "`false`", nullptr,
     "Allow `http.listen` on a non-loopback address, reachable from other machines (logged "
     "as a warning at startup)."},
    {"tls.extra_ca_file", KeyType::kString, &Config::tls_extra_ca_file, "", nullptr,
     "empty (system CA bundle only)", ValidateOptionalAbsolutePath,
     "Absolute path of a PEM file of extra CA certificates the enclave trusts for upstream "
     "TLS, in addition to the system bundle. Loaded before the sandbox is applied."},
    {"proxy.routes_file", KeyType::kString, &Config::proxy_routes_file, "", nullptr, "empty (no route mounts)",
     ValidateOptionalAbsolutePath,
     "Absolute path of a JSON file of route mounts, `{\"routes\": [{\"name\", \"upstream\", "
     "\"credential\"}]}`, served at `/r/NAME/...` so stock SDKs work by changing their base URL."},
    {"mcp.tool_sets", KeyType::kList, &Config::mcp_tool_sets, "all", nullptr, "`all`",
     ValidateToolSets,
     "MCP tool sets exposed: one or more of `pushkey`, `agentkeys`, `vault_secret`, or "
     "`all`."},
    {"mcp.allow_password_unlock", KeyType::kBool, &Config::mcp_allow_password_unlock, "false",
     nullptr, "`false`", nullptr,
     "Let the MCP `unlock_vault` tool accept the PIN as an argument (Pushkey "
     "compatibility). The PIN then passes through the model's context: leave it off."},
    {"ratelimit.requests_per_minute", KeyType::kInt, &Config::ratelimit_requests_per_minute, "600",
     nullptr, "`600`", ValidateRequestsPerMinute,
     "Requests per minute accepted from one agent before answering 429 (1 to 1000000)."},
    {"unlock.max_attempts_per_minute", KeyType::kInt, &Config::unlock_max_attempts_per_minute, "5",
     nullptr, "`5`", ValidateUnlockAttempts,
     "PIN unlock attempts accepted per minute (1 to 60), so guessing stays slow even "
     "before the token's own lockout."},
};

}  // namespace

std::span<const KeySpec> ConfigKeys() { return kKeys; }

const KeySpec* FindKey(std::string_view name) {
  for (const KeySpec& spec : kKeys) {
    if (name == spec.name) return &spec;
  }
  return nullptr;
}

bool IsSection(std::string_view prefix) {
  for (const KeySpec& spec : kKeys) {
    const std::string_view name(spec.name);
    if (name.size() > prefix.size() && name.starts_with(prefix) && name[prefix.size()] == '.') {
      return true;
    }
  }
  return false;
}

std::string EnvVarName(std::string_view key) {
  std::string out = "KEYCELL_";
  for (char c : key) {
    out += c == '.' ? '_' : (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  }
  return out;
}

const char* KeyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kString:
      return "string";
    case KeyType::kInt:
      return "integer";
    case KeyType::kBool:
      return "boolean";
    case KeyType::kDuration:
      return "duration";
    case KeyType::kList:
      return "list";
  }
  return "?";
}

std::string ValueToText(KeyType type, const Value& value) {
  switch (type) {
    case KeyType::kString:
      return std::get<std::string>(value);
    case KeyType::kInt:
      return std::to_string(std::get<int64_t>(value));
    case KeyType::kBool:
      return std::get<bool>(value) ? "true" : "false";
    case KeyType::kDuration:
      return FormatDuration(std::get<int64_t>(value));
    case KeyType::kList: {
      std::string out;
      for (const std::string& item : std::get<std::vector<std::string>>(value)) {
        out += (out.empty() ? "" : ",") + item;
      }
      return out;
    }
  }
  return "";
}

Value GetField(const KeySpec& spec, const Config& config) {
  return std::visit([&](auto member) -> Value { return config.*member; }, spec.field);
}

void SetField(const KeySpec& spec, Value value, Config* config) {
  std::visit(
      [&](auto member) {
        using T = std::remove_reference_t<decltype(config->*member)>;
        config->*member = std::get<T>(std::move(value));
      },
      spec.field);
}

}  // namespace keycell::broker

#pragma once
// keycelld's configuration: one JSON file plus KEYCELL_* environment variables.
//
// File: $KEYCELL_CONFIG if set (must be absolute, and must exist), else
// $XDG_CONFIG_HOME/keycell/config.json, else ~/.config/keycell/config.json (a missing
// default file means "all defaults"). Keys may be written dotted ({"pkcs11.module": ...})
// or nested ({"pkcs11": {"module": ...}}), not both for the same key.
//
// Every key (the table is config_keys.cc; docs/configuration.md lists them all) has a
// safe default and an environment variable KEYCELL_<KEY>, upper case with dots as
// underscores: pkcs11.module -> KEYCELL_PKCS11_MODULE. Precedence: environment > file >
// default. An empty variable counts as unset (as XDG does), so the environment cannot
// blank a value the file sets.
//
// Strict on purpose: pkcs11.module is a library keycelld loads and enclave.path a program
// it runs, so a typo must not fall back to a default silently and a file someone else can
// write must not be trusted. Unknown keys, wrong types, invalid values, a file that is
// group/other-writable or owned by another user: all errors naming the key and source.
//
// Errors: LoadConfig returns a Status (`where` a fixed category such as
// "config: unknown key") and, when `why` is non-null, a one-line message for the user
// naming the source, the key and the expected type or rule. Config values are not secret
// (the file must never contain one), so messages quote them, truncated.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/config/environment.h"
#include "common/result.h"

namespace keycell::broker {

// Largest config file accepted. Real files are well under 2 KiB.
inline constexpr size_t kMaxConfigBytes = 64 * 1024;

struct Config {
  std::string data_dir;                    // data_dir: store, token, sealed records
  std::string runtime_dir;                 // runtime_dir: control socket; see EnsurePrivateDir
  std::string pkcs11_module;               // pkcs11.module
  std::string pkcs11_token_label;          // pkcs11.token_label
  int64_t idle_lock_seconds = 0;           // idle_lock; 0 = never
  std::string log_level;                   // log.level: error | warn | info | debug
  std::string enclave_path;                // enclave.path
  std::string http_listen;                 // http.listen, as written
  std::string http_host;                   //   ... parsed: numeric host ("localhost" -> 127.0.0.1)
  uint16_t http_port = 0;                  //   ... parsed port
  bool http_allow_non_loopback = false;    // http.allow_non_loopback
  std::string tls_extra_ca_file;           // tls.extra_ca_file; "" = system CAs only
  std::string proxy_routes_file;           // proxy.routes_file; "" = no route mounts
  std::vector<std::string> mcp_tool_sets;  // mcp.tool_sets
  bool mcp_allow_password_unlock = false;  // mcp.allow_password_unlock
  int64_t ratelimit_requests_per_minute = 0;   // ratelimit.requests_per_minute
  int64_t unlock_max_attempts_per_minute = 0;  // unlock.max_attempts_per_minute

  std::string config_file;  // the file that was read; "" when none
  // Key name -> where its value came from: "default", "file" or the variable's name.
  std::map<std::string, std::string, std::less<>> origin;
  // Accepted but worth a log line at startup (e.g. a non-loopback listener).
  std::vector<std::string> warnings;
};

// True when `set` ("pushkey", "agentkeys", "vault_secret") is exposed by mcp.tool_sets.
bool ToolSetEnabled(const Config& config, std::string_view set);

// The config file path the rules above select, or "" when neither XDG_CONFIG_HOME nor
// HOME gives one. `required` is set when the path came from KEYCELL_CONFIG.
std::string ConfigFilePath(const Environment& env, bool* required);

// Resolves the file path, reads the file (a regular file of at most kMaxConfigBytes,
// owned by us or root, not group/other-writable) and applies the environment. Reads one
// small local file; otherwise pure (creates nothing: see EnsurePrivateDir). Errors, with
// `where` naming the category:
//   kInvalidArgument  unknown key, wrong type, invalid value, key given twice, no
//                     default (HOME unset), KEYCELL_CONFIG not absolute;
//   kBadFrame         the file is not strict JSON (why names the rule and byte offset);
//   kTooLarge         file over kMaxConfigBytes, or JSON nested too deep;
//   kPolicyDenied     file not regular / owned by another user / writable by others,
//                     or http.listen not loopback without http.allow_non_loopback;
//   kUpstreamIo       open/read failed (detail = errno; why has strerror).
Result<Config> LoadConfig(const Environment& env, std::string* why = nullptr);

// The same, with the file's content given (as if read from `source`, used in messages).
// Blank text means "no settings". Touches no file itself (a ProcessEnvironment reads
// /proc/self/exe for the enclave.path default; a MapEnvironment nothing); this is what
// the fuzz harness drives.
Result<Config> LoadConfigFromText(std::string_view text, std::string_view source,
                                  const Environment& env, std::string* why = nullptr);

// "# config file: PATH", one line per key "key = value  # origin", then
// "# warning: ..." lines; for `keycell config`.
// Contains no secret because the configuration holds none.
std::string DescribeConfig(const Config& config);

// The markdown table of every key (name, type, default, variable, meaning) that
// docs/configuration.md embeds; a test keeps the two identical.
std::string ConfigKeysMarkdown();

}  // namespace keycell::broker

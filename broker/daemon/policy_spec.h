#pragma once
// From what a user types (--allow-host, --inject, --revealable ...) or an MCP/REST
// client sends, to the Policy the enclave seals — and back to JSON for display.
// Syntax is checked here with the enclave's own rules (enclave/policy.h) so that bad
// input gets a clear message early; the enclave checks again when it seals.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "broker/json/json.h"
#include "common/ipc/enclave.pb.h"
#include "common/result.h"

namespace keycell::broker::daemon {

using Policy = keycell_ipc_Policy;

struct PolicySpec {
  std::vector<std::string> hosts;          // "host", "*.suffix", optionally ":port"
  std::string inject;                      // bearer | basic | header:NAME[:PREFIX] | query:NAME |
                                           // cookie[:NAME] | none; "" = provider default or none
  bool revealable = false;
  std::vector<std::string> reveal_agents;  // empty = any caller allowed to reveal
  bool env_export = false;
  int64_t expires_at = 0;                  // unix seconds; 0 = never
  std::vector<std::string> insecure_http;  // exact hosts allowed over plain http
};

// What a known provider implies when the user gives no host or recipe.
struct ProviderDefaults {
  const char* provider;
  const char* host;
  const char* inject;
  const char* env_name;  // the variable SDKs read
};
// nullptr when the provider is unknown (matching is case-insensitive).
const ProviderDefaults* FindProvider(std::string_view provider);
// Every known provider, for help texts.
std::string KnownProviders();

// Fills hosts/inject from the provider when they are empty, then builds and validates.
// Errors: kInvalidArgument with *message saying what is wrong and how to fix it.
Result<Policy> BuildPolicy(PolicySpec spec, std::string_view provider, std::string* message);

Result<PolicySpec> PolicySpecFromJson(const cJSON* obj, std::string* message);
json::Json PolicyToJson(const Policy& p);

// A credential name as an environment variable name: upper case, [A-Z0-9_], not
// starting with a digit ("openai-prod" → "OPENAI_PROD").
std::string EnvNameFor(std::string_view credential_name);

}  // namespace keycell::broker::daemon

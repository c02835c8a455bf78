// keycell's MCP server driven by the official TypeScript SDK clients (issue 6, "Tests"):
// the v1 client (@modelcontextprotocol/sdk 1.32.2) over Streamable HTTP, legacy SSE and
// stdio, and the v2 client (@modelcontextprotocol/client 2.4.0) in versionNegotiation
// "auto". Each test has its own vault (mcp_vault_fixture.h), runs call_table.cc's steps
// as the agent and as the owner through driver.mjs, and checks every outcome here.
// docs/mcp.md, "Testing with the official clients".

#include <sys/stat.h>

#include <cstdio>

#include "tests/broker/cli/e2e_probes.h"
#include "tests/mcp_clients/call_table.h"
#include "tests/mcp_clients/mcp_vault_fixture.h"

namespace keycell::test {
namespace {

// The protocol era the v2 client must negotiate in "auto" mode: keycell serves the
// 2026-07-28 revision (server/discover), so the client's probe must succeed.
constexpr char kExpectedV2Era[] = "modern";
constexpr char kExpectedV2Version[] = "2026-07-28";

class McpClientsTest : public McpVaultTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(McpVaultTest::SetUp());
    ctx_.upstream = "https://" + UpstreamHost();
    ctx_.project_dir = box_.root() + "/project";
    ASSERT_EQ(mkdir(ctx_.project_dir.c_str(), 0700), 0);
    ctx_.added_value = "sk-added-" + RandomToken("", 32);
    ctx_.rotated_value = "sk-rotated-" + RandomToken("", 32);
  }

  std::vector<std::string> Secrets() const {
    return {alpha_secret_, beta_secret_,     gamma_secret_,
            env_secret_,   ctx_.added_value, ctx_.rotated_value};
  }

  // The whole call table with `client` over `transport`; returns the run for more checks.
  NodeRun RunTable(const std::string& client, const std::string& transport,
                   const std::string& endpoint) {
    const std::vector<Step> steps = CallTable();
    NodeRun run = RunDriver(PlanJson(client, transport, endpoint, steps, ctx_));
    CheckResults(run, steps, Secrets());
    CheckToolList(run, "owner", steps);
    CheckToolList(run, "agent", steps);
    for (const char* as : {"agent", "owner"}) {
      const cJSON* c = run.connection(as);
      EXPECT_EQ(json::GetString(json::GetObject(c, "server"), "name"), "keycell");
      EXPECT_NE(json::GetObject(json::GetObject(c, "capabilities"), "tools"), nullptr);
      EXPECT_NE(json::GetObject(json::GetObject(c, "capabilities"), "logging"), nullptr);
      std::printf(
          "[ %-8s ] %s %s as %s: protocol %s, era %s, session %s\n", "mcp", client.c_str(),
          transport.c_str(), as,
          std::string(json::GetString(c, "protocolVersion").value_or("(not reported)")).c_str(),
          std::string(json::GetString(c, "era").value_or("(n/a)")).c_str(),
          json::GetString(c, "sessionId") ? "yes" : "no");
    }
    return run;
  }

  TableContext ctx_;
};

TEST_F(McpClientsTest, SdkV1StreamableHttpCallsEveryTool) {
  NodeRun run = RunTable("v1", "streamable", McpUrl());
  for (const char* as : {"agent", "owner"}) {
    const cJSON* c = run.connection(as);
    EXPECT_EQ(json::GetString(c, "protocolVersion"), "2025-11-25");
    EXPECT_EQ(json::GetString(c, "sessionId").value_or("").size(), 32u);  // Mcp-Session-Id
  }
}

TEST_F(McpClientsTest, SdkV1LegacySseCallsEveryTool) { RunTable("v1", "sse", SseUrl()); }

// `keycell mcp` with the sandbox's environment and KEYCELL_AGENT_TOKEN set to the agent's
// (or the owner's) API key; keycell mcp relays to the running keycelld.
TEST_F(McpClientsTest, SdkV1StdioCallsEveryTool) { RunTable("v1", "stdio", KEYCELL_CLI_PATH); }

TEST_F(McpClientsTest, SdkV2AutoNegotiationOverHttp) {
  NodeRun run = RunTable("v2", "streamable", McpUrl());
  for (const char* as : {"agent", "owner"}) {
    const cJSON* c = run.connection(as);
    EXPECT_EQ(json::GetString(c, "era"), kExpectedV2Era);
    EXPECT_EQ(json::GetString(c, "protocolVersion"), kExpectedV2Version);
  }
}

// In "auto" mode the v2 client probes on a second, short-lived `keycell mcp` started at
// the same time (gotcha 10).
TEST_F(McpClientsTest, SdkV2AutoNegotiationOverStdio) {
  NodeRun run = RunTable("v2", "stdio", KEYCELL_CLI_PATH);
  for (const char* as : {"agent", "owner"}) {
    const cJSON* c = run.connection(as);
    EXPECT_EQ(json::GetString(c, "era"), kExpectedV2Era);
    EXPECT_EQ(json::GetString(c, "protocolVersion"), kExpectedV2Version);
  }
}

// The agent's whole path through MCP: a key added (by the human, with the CLI) → the
// owner assigns it to the agent → the agent, in a session opened afterwards (see
// mcp_session_scope_test.cc for why that matters today), calls proxy_request by token and
// by name → the upstream received the key → neither the tool results nor keycelld's
// memory hold it.
TEST_F(McpClientsTest, AgentFlowProxyRequestKeepsTheKeyOutOfResultsAndMemory) {
  const std::string secret = "sk-flow-" + RandomToken("", 32);
  ASSERT_NO_FATAL_FAILURE(AddCredential("flow/key", secret));
  const std::vector<Step> steps = {
      {"owner", "assign_credential", R"({"agent":"bot","credential":"flow/key"})", Expect::kOk, "",
       0, "grant", [](const cJSON* s) { EXPECT_EQ(json::GetBool(s, "scope_added"), true); }},
      // A value that came in through MCP (add_key) must not stay either.
      {"owner", "add_key", R"({"name":"flow/added","value":"@ADDED@"})", Expect::kOk},
      {"agent", "list_keys", "{}", Expect::kOk, "flow/key"},
      {"agent", "proxy_request", R"({"token":"${grant.token}","url":"@UP@/echo"})", Expect::kOk,
       "[REDACTED:keycell]", 0, "",
       [](const cJSON* s) { EXPECT_EQ(json::GetInt(s, "status"), 200); }},
      {"agent", "proxy_request",
       R"({"credential":"flow/key","url":"@UP@/echo?via=name","method":"POST","body":"hello"})",
       Expect::kOk, "[REDACTED:keycell]", 0, "",
       [](const cJSON* s) { EXPECT_EQ(json::GetInt(s, "status"), 200); }},
  };
  NodeRun run = RunDriver(PlanJson("v1", "streamable", McpUrl(), steps, ctx_));
  std::vector<std::string> needles;
  for (const LeakForm& f : HttpsUpstream::LeakForms(secret)) needles.push_back(f.value);
  for (const LeakForm& f : HttpsUpstream::LeakForms(ctx_.added_value)) needles.push_back(f.value);
  CheckResults(run, steps, needles);
  ASSERT_FALSE(HasFailure());

  // The upstream saw the key, injected by keycell, on both calls.
  ASSERT_EQ(upstream_->request_count(), 2u);
  for (const RecordedRequest& r : upstream_->requests()) {
    ASSERT_NE(r.Header("Authorization"), nullptr) << r.target;
    EXPECT_EQ(*r.Header("Authorization"), "Bearer " + secret) << r.target;
  }

  // keycelld's memory: the scan must see it (the data dir path is there), and no form of
  // either value may be.
  const pid_t daemon = box_.DaemonPid();
  ASSERT_GT(daemon, 0);
  MemoryScan control = ScanProcessMemory(daemon, {box_.data_dir()});
  ASSERT_TRUE(control.error.empty()) << control.error;
  ASSERT_FALSE(control.hits.empty()) << "the scan cannot see keycelld's memory";
  MemoryScan scan = ScanProcessMemory(daemon, needles);
  EXPECT_GT(scan.bytes, 1u << 20);
  EXPECT_TRUE(scan.hits.empty()) << ::testing::PrintToString(scan.hits);
}

}  // namespace
}  // namespace keycell::test

// An MCP session outlives the authentication that opened it (one `initialize`, then
// many calls), yet narrowing an agent's scopes must apply at once (docs/identity.md):
// every tools/call runs as the principal the identity registry describes now
// (Vault::Reload), not as the one captured when the session opened.
// Raw HTTP (tests/broker/http/test_client.h), so one session can span a CLI command.

#include <string>

#include "tests/broker/http/test_client.h"
#include "tests/mcp_clients/mcp_vault_fixture.h"

namespace keycell::test {
namespace {

using broker::http::test::MakeRequest;
using broker::http::test::TestClient;
using broker::http::test::TestResponse;

class McpSessionScopeTest : public McpVaultTest {
 protected:
  TestResponse Post(const std::string& body, const std::string& session = "") {
    std::string headers = "Authorization: Bearer " + agent_key_ +
                          "\r\nContent-Type: application/json\r\n"
                          "Accept: application/json, text/event-stream\r\n";
    if (!session.empty()) headers += "Mcp-Session-Id: " + session + "\r\n";
    TestClient c;
    if (!c.Connect(port_) || !c.Send(MakeRequest("POST", "/mcp", headers, body))) return {};
    return c.ReadResponse().value_or(TestResponse{});
  }
};

TEST_F(McpSessionScopeTest, NarrowedScopesApplyToAnOpenSession) {
  TestResponse init = Post(
      R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",)"
      R"("capabilities":{},"clientInfo":{"name":"t","version":"1"}}})");
  ASSERT_EQ(init.status, 200) << init.body;
  const std::string session = init.Header("Mcp-Session-Id").value_or("");
  ASSERT_FALSE(session.empty());
  const std::string call =
      R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"proxy_request",)"
      R"("arguments":{"credential":"svc/alpha","url":")" + UpstreamUrl("/echo") + R"("}}})";
  TestResponse before = Post(call, session);
  ASSERT_EQ(before.status, 200);
  ASSERT_NE(before.body.find("\"isError\":false"), std::string::npos) << before.body;

  ASSERT_EQ(box_.Keycell({"agents", "scope", "bot", "--remove", "svc/alpha"}).exit_code, 0);
  TestResponse after = Post(call, session);
  ASSERT_EQ(after.status, 200);
  EXPECT_NE(after.body.find("\"isError\":true"), std::string::npos) << after.body;
  EXPECT_NE(after.body.find("outside the agent's scopes"), std::string::npos) << after.body;
  EXPECT_EQ(upstream_->request_count(), 1u);  // the second call never left keycell
}

}  // namespace
}  // namespace keycell::test

// A finding of the official-client tests, kept as a test to enable once fixed:
// an MCP-over-HTTP session keeps the agent's scopes as they were when it opened.
// McpHttp::Open builds the session's ToolRegistry once, from the Principal that
// RestApi::Admit returned for the `initialize` request, and the tools run every op as
// that Principal (mcp_tools.cc, Tools::who_). Later requests are authenticated again,
// but their fresh Principal is only compared with the session's owner, not used. So
// `keycell agents scope AGENT --remove ...` does not apply to a session that is already
// open, against docs/identity.md ("narrowing scopes applies at once to tokens and keys
// issued earlier"); a scope added meanwhile (assign_credential) is not seen either.
//
// ENABLE (drop DISABLED_) once each tools/call runs with the principal of its own request.
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

TEST_F(McpSessionScopeTest, DISABLED_NarrowedScopesApplyToAnOpenSession) {
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

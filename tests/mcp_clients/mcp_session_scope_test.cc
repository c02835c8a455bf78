// An MCP session outlives the authentication that opened it (one `initialize`, or one
// `mcp` op for `keycell mcp`, then many calls), yet narrowing an agent's scopes or
// revoking its key must apply at once (docs/identity.md): every tools/call runs as the
// principal the identity registry describes now (Vault::Reload), over HTTP and stdio.
// Raw HTTP (tests/broker/http/test_client.h) and raw stdio, so one session can span a CLI
// command.

#include <poll.h>
#include <unistd.h>

#include <chrono>
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

std::string ProxyAlphaCall(int id, const std::string& url) {
  return R"({"jsonrpc":"2.0","id":)" + std::to_string(id) +
         R"(,"method":"tools/call","params":{"name":"proxy_request",)"
         R"("arguments":{"credential":"svc/alpha","url":")" +
         url + R"("}}})";
}

constexpr char kInitialize[] =
    R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",)"
    R"("capabilities":{},"clientInfo":{"name":"t","version":"1"}}})";

// Lines from `fd` until one holds the JSON-RPC response with `id`; "" after 20 s.
std::string ReadReply(int fd, int id, std::string* pending) {
  const std::string tag = "\"id\":" + std::to_string(id);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    for (size_t nl; (nl = pending->find('\n')) != std::string::npos;) {
      std::string line = pending->substr(0, nl);
      pending->erase(0, nl + 1);
      if (line.find(tag + ",") != std::string::npos || line.find(tag + "}") != std::string::npos)
        return line;
    }
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 200) <= 0) continue;
    char buf[4096];
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return "";
    pending->append(buf, static_cast<size_t>(n));
  }
  return "";
}

// `keycell mcp` as the agent, driven line by line; stdin is closed and the process
// reaped when it goes.
class StdioSession {
 public:
  StdioSession(const CliSandbox& box, const std::string& token) {
    RunOptions opts;
    opts.env = {{"KEYCELL_AGENT_TOKEN", token}};
    pid_ = box.Start({"mcp"}, opts, &out_, &in_);
  }
  ~StdioSession() {
    if (in_ >= 0) close(in_);
    if (pid_ > 0) (void)CliSandbox::Wait(pid_);
    if (out_ >= 0) close(out_);
  }
  StdioSession(const StdioSession&) = delete;
  StdioSession& operator=(const StdioSession&) = delete;

  bool Send(const std::string& line) {
    const std::string framed = line + "\n";
    return write(in_, framed.data(), framed.size()) == static_cast<ssize_t>(framed.size());
  }
  // Sends `request` (JSON-RPC id `id`) and returns its response line ("" on timeout).
  std::string Call(const std::string& request, int id) {
    return Send(request) ? ReadReply(out_, id, &pending_) : "";
  }
  // initialize + notifications/initialized.
  bool Open() {
    return !Call(kInitialize, 1).empty() &&
           Send(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1, in_ = -1;
  std::string pending_;
};

TEST_F(McpSessionScopeTest, NarrowedScopesApplyToAnOpenStdioSession) {
  StdioSession mcp(box_, agent_key_);
  ASSERT_TRUE(mcp.Open());
  const std::string before = mcp.Call(ProxyAlphaCall(2, UpstreamUrl("/echo")), 2);
  EXPECT_NE(before.find("\"isError\":false"), std::string::npos) << before;

  ASSERT_EQ(box_.Keycell({"agents", "scope", "bot", "--remove", "svc/alpha"}).exit_code, 0);
  const std::string after = mcp.Call(ProxyAlphaCall(3, UpstreamUrl("/echo")), 3);
  EXPECT_NE(after.find("outside the agent's scopes"), std::string::npos) << after;
  EXPECT_EQ(upstream_->request_count(), 1u);  // the second call never left keycell
}

// The same for a revoked key: `keycell mcp` authenticates KEYCELL_AGENT_TOKEN once, when
// the stream opens (McpStream); its next call is refused. (Over HTTP every request is
// authenticated again: a revoked key gets 401.)
TEST_F(McpSessionScopeTest, RevokedKeyIsRefusedOnAnOpenStdioSession) {
  StdioSession mcp(box_, agent_key_);
  ASSERT_TRUE(mcp.Open());
  const std::string before = mcp.Call(ProxyAlphaCall(2, UpstreamUrl("/echo")), 2);
  EXPECT_NE(before.find("\"isError\":false"), std::string::npos) << before;

  ProcResult list = box_.Keycell({"apikeys", "list", "--json"});
  auto keys = json::ParseJson(list.out);
  ASSERT_TRUE(keys.ok()) << list.out;
  std::string id;
  for (const cJSON* k : json::Children(keys->get()))
    if (json::GetString(k, "name") == "agent-key")
      id = std::string(json::GetString(k, "id").value_or(""));
  ASSERT_FALSE(id.empty()) << list.out;
  ASSERT_EQ(box_.Keycell({"apikeys", "revoke", id}).exit_code, 0);
  const std::string after = mcp.Call(ProxyAlphaCall(3, UpstreamUrl("/echo")), 3);
  EXPECT_EQ(after.find("\"isError\":false"), std::string::npos) << after;
  EXPECT_EQ(upstream_->request_count(), 1u);  // the second call never left keycell
}

TEST_F(McpSessionScopeTest, NarrowedScopesApplyToAnOpenSession) {
  TestResponse init = Post(kInitialize);
  ASSERT_EQ(init.status, 200) << init.body;
  const std::string session = init.Header("Mcp-Session-Id").value_or("");
  ASSERT_FALSE(session.empty());
  const std::string call = ProxyAlphaCall(2, UpstreamUrl("/echo"));
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

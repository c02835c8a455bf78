// `keycell mcp` (the MCP stdio transport relayed to keycelld's `mcp` op) and
// `keycell mcp-config`, end to end: the real keycell binary spawned with pipes, the real
// keycelld, keycell-enclave and SoftHSM2 behind it (cli_harness.h).

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <vector>

#include "broker/json/json.h"
#include "tests/broker/cli/cli_harness.h"

namespace keycell::test {
namespace {

constexpr int kReadTimeoutMs = 60 * 1000;  // a bound for a broken build, not a timing claim

constexpr char kInitialize[] =
    R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",)"
    R"("capabilities":{},"clientInfo":{"name":"cli_mcp_test","version":"1"}}})";
constexpr char kInitialized[] = R"({"jsonrpc":"2.0","method":"notifications/initialized"})";

// `keycell mcp` with stdin, stdout and stderr on separate pipes.
class McpProcess {
 public:
  McpProcess(const CliSandbox& box, const std::map<std::string, std::string>& env,
             const std::string& first_input = "") {
    int in[2], out[2], err[2];
    EXPECT_EQ(pipe2(in, O_CLOEXEC), 0);
    EXPECT_EQ(pipe2(out, O_CLOEXEC), 0);
    EXPECT_EQ(pipe2(err, O_CLOEXEC), 0);
    // Written before the process exists, as a client that writes initialize at once.
    if (!first_input.empty()) {
      EXPECT_EQ(write(in[1], first_input.data(), first_input.size()),
                static_cast<ssize_t>(first_input.size()));
    }
    std::vector<std::string> envs = box.Environment(env);
    std::vector<char*> cenv;
    for (std::string& e : envs) cenv.push_back(e.data());
    cenv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      dup2(err[1], 2);
      if (chdir(box.root().c_str()) != 0) _exit(126);
      char* argv[] = {const_cast<char*>(KEYCELL_CLI_PATH), const_cast<char*>("mcp"), nullptr};
      execve(KEYCELL_CLI_PATH, argv, cenv.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    in_ = in[1];
    out_ = out[0];
    err_ = err[0];
  }
  ~McpProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    for (int fd : {in_, out_, err_})
      if (fd >= 0) close(fd);
  }

  pid_t pid() const { return pid_; }

  void Send(const std::string& line) {
    const std::string l = line + "\n";
    ASSERT_EQ(write(in_, l.data(), l.size()), static_cast<ssize_t>(l.size()));
  }

  // The next stdout line, or nullopt at EOF.
  std::optional<std::string> ReadLine() {
    for (;;) {
      if (const size_t nl = buf_.find('\n'); nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        lines_.push_back(line);
        return line;
      }
      pollfd p{out_, POLLIN, 0};
      if (poll(&p, 1, kReadTimeoutMs) <= 0) return std::nullopt;
      char chunk[65536];
      const ssize_t n = read(out_, chunk, sizeof(chunk));
      if (n <= 0) return std::nullopt;
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }

  // Sends a request and returns the parsed response with its id (notifications before
  // it are skipped); null at EOF.
  json::Json Call(int64_t id, const std::string& method, const std::string& params) {
    Send(R"({"jsonrpc":"2.0","id":)" + std::to_string(id) + R"(,"method":")" + method +
         R"(","params":)" + params + "}");
    for (;;) {
      std::optional<std::string> line = ReadLine();
      if (!line) return nullptr;
      auto doc = json::ParseJson(*line);
      if (!doc.ok()) return nullptr;
      if (json::GetInt(doc->get(), "id") == id) return std::move(*doc);
    }
  }

  json::Json CallTool(int64_t id, const std::string& name, const std::string& args = "{}") {
    return Call(id, "tools/call", R"({"name":")" + name + R"(","arguments":)" + args + "}");
  }

  // initialize + notifications/initialized; the initialize result.
  json::Json Initialize() {
    Send(kInitialize);
    for (;;) {
      std::optional<std::string> line = ReadLine();
      if (!line) return nullptr;
      auto doc = json::ParseJson(*line);
      if (doc.ok() && json::GetInt(doc->get(), "id") == 1) {
        Send(kInitialized);
        return std::move(*doc);
      }
    }
  }

  void CloseStdin() {
    close(in_);
    in_ = -1;
  }

  // Reads stdout to EOF, then waits; the exit code (-1 on a signal).
  int Finish() {
    while (ReadLine()) {
    }
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::string Stderr() {
    std::string all;
    char chunk[4096];
    for (;;) {
      pollfd p{err_, POLLIN, 0};
      if (poll(&p, 1, kReadTimeoutMs) <= 0) break;
      const ssize_t n = read(err_, chunk, sizeof(chunk));
      if (n <= 0) break;
      all.append(chunk, static_cast<size_t>(n));
    }
    return all;
  }

  // Every stdout line seen so far (plus what is left unterminated).
  std::vector<std::string> lines() const {
    std::vector<std::string> all = lines_;
    if (!buf_.empty()) all.push_back(buf_);
    return all;
  }

 private:
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1, err_ = -1;
  std::string buf_;
  std::vector<std::string> lines_;
};

const cJSON* Structured(const json::Json& reply) {
  return json::GetObject(json::GetObject(reply.get(), "result"), "structuredContent");
}

bool IsError(const json::Json& reply) {
  return json::GetBool(json::GetObject(reply.get(), "result"), "isError").value_or(false);
}

std::string Print(const json::Json& j) {
  if (!j) return "(none)";
  auto t = json::Print(j.get());
  return t.ok() ? *t : "(unprintable)";
}

// Every stdout line is one JSON-RPC 2.0 object: nothing else may reach the client.
void ExpectOnlyJsonRpc(const McpProcess& p) {
  for (const std::string& line : p.lines()) {
    auto doc = json::ParseJson(line);
    ASSERT_TRUE(doc.ok()) << "not JSON on stdout: " << line;
    EXPECT_EQ(json::GetString(doc->get(), "jsonrpc").value_or(""), "2.0") << line;
  }
}

class CliMcpTest : public ::testing::Test {
 protected:
  void StartVault() {
    ASSERT_EQ(box_.Init().exit_code, 0);
    ASSERT_EQ(box_.Unlock().exit_code, 0);
    ASSERT_EQ(box_.Add("openai/prod", kCanary, {"--provider", "openai"}).exit_code, 0);
    ASSERT_EQ(box_.Add("stripe-prod", "sk-mcp-canary-stripe", {"--provider", "stripe"}).exit_code,
              0);
  }

  // An API key bound to agent `bot` (scope openai/*), shown once on stdout.
  std::string AgentKey(const std::string& key_name = "bot-mcp") {
    if (box_.Keycell({"agents", "list"}).out.find("bot") == std::string::npos) {
      EXPECT_EQ(box_.Keycell({"agents", "create", "bot", "--scope", "openai/*"}).exit_code, 0);
    }
    ProcResult r = box_.Keycell({"apikeys", "create", key_name, "--agent", "bot"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out.substr(0, r.out.find('\n'));
  }

  static constexpr char kCanary[] = "sk-mcp-canary-0123456789abcdef";
  CliSandbox box_;
};

TEST_F(CliMcpTest, InitializeListAndCallOverStdioAsTheOwner) {
  StartVault();
  McpProcess p(box_, {});
  json::Json init = p.Initialize();
  ASSERT_TRUE(init) << "no initialize reply";
  const cJSON* result = json::GetObject(init.get(), "result");
  EXPECT_EQ(json::GetString(result, "protocolVersion").value_or(""), "2025-11-25") << Print(init);
  EXPECT_EQ(json::GetString(json::GetObject(result, "serverInfo"), "name").value_or(""), "keycell");

  json::Json tools = p.Call(2, "tools/list", "{}");
  ASSERT_TRUE(tools);
  std::string names;
  for (const cJSON* t :
       json::Children(json::GetArray(json::GetObject(tools.get(), "result"), "tools")))
    names += std::string(json::GetString(t, "name").value_or("")) + " ";
  EXPECT_NE(names.find("whoami "), std::string::npos) << names;
  EXPECT_NE(names.find("list_keys "), std::string::npos) << names;

  json::Json who = p.CallTool(3, "whoami");
  ASSERT_TRUE(who);
  EXPECT_EQ(json::GetString(Structured(who), "kind").value_or(""), "owner") << Print(who);

  json::Json keys = p.CallTool(4, "list_keys");
  ASSERT_TRUE(keys);
  EXPECT_FALSE(IsError(keys)) << Print(keys);
  const std::string listed = Print(keys);
  EXPECT_NE(listed.find("openai/prod"), std::string::npos) << listed;
  EXPECT_NE(listed.find("stripe-prod"), std::string::npos) << listed;

  // An unknown method is refused without ending the session; ping still works.
  json::Json unknown = p.Call(5, "server/discover", "{}");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(json::GetInt(json::GetObject(unknown.get(), "error"), "code"), -32601);
  // Bad JSON gets a parse error from the daemon's session, relayed like any reply.
  p.Send("{not json");
  std::optional<std::string> parse_error = p.ReadLine();
  ASSERT_TRUE(parse_error);
  EXPECT_NE(parse_error->find("-32700"), std::string::npos) << *parse_error;
  EXPECT_TRUE(p.Call(6, "ping", "{}"));

  p.CloseStdin();
  EXPECT_EQ(p.Finish(), 0);
  ExpectOnlyJsonRpc(p);
  for (const std::string& line : p.lines()) EXPECT_EQ(line.find(kCanary), std::string::npos);
  const std::string err = p.Stderr();
  EXPECT_NE(err.find("acts as the local owner"), std::string::npos) << err;
}

TEST_F(CliMcpTest, AgentTokenFromTheEnvironmentSetsTheIdentity) {
  StartVault();
  const std::string key = AgentKey();
  ASSERT_EQ(key.rfind("kc_", 0), 0u) << key;
  McpProcess p(box_, {{"KEYCELL_AGENT_TOKEN", key}});
  ASSERT_TRUE(p.Initialize());

  json::Json who = p.CallTool(2, "whoami");
  ASSERT_TRUE(who);
  EXPECT_EQ(json::GetString(Structured(who), "agent").value_or(""), "bot") << Print(who);

  // The agent's scope (openai/*) applies: stripe-prod is neither listed nor readable.
  json::Json keys = p.CallTool(3, "list_keys");
  ASSERT_TRUE(keys);
  EXPECT_NE(Print(keys).find("openai/prod"), std::string::npos) << Print(keys);
  EXPECT_EQ(Print(keys).find("stripe-prod"), std::string::npos) << Print(keys);
  json::Json refused = p.CallTool(4, "get_key", R"({"name":"stripe-prod"})");
  ASSERT_TRUE(refused);
  EXPECT_TRUE(IsError(refused)) << Print(refused);
  EXPECT_EQ(Print(refused).find("sk-mcp-canary-stripe"), std::string::npos);

  // The token left the process's environment once read (/proc/PID/environ is what
  // another process of this uid would see) and never was in its argv.
  EXPECT_EQ(ReadFile("/proc/" + std::to_string(p.pid()) + "/environ").find(key), std::string::npos);
  EXPECT_EQ(ReadFile("/proc/" + std::to_string(p.pid()) + "/cmdline").find(key), std::string::npos);

  p.CloseStdin();
  EXPECT_EQ(p.Finish(), 0);
  ExpectOnlyJsonRpc(p);
  const std::string err = p.Stderr();
  EXPECT_NE(err.find("acting as agent bot"), std::string::npos) << err;
  EXPECT_EQ(err.find(key), std::string::npos);
  EXPECT_EQ(ReadFile(box_.data_dir() + "/keycelld.log").find(key), std::string::npos);
}

TEST_F(CliMcpTest, BadOrRevokedTokenEndsWithAnErrorAndAnInitializeError) {
  StartVault();
  {
    McpProcess p(box_, {{"KEYCELL_AGENT_TOKEN", "kc_not_a_real_key_0123456789"}},
                 std::string(kInitialize) + "\n");
    const int code = p.Finish();
    EXPECT_EQ(code, 11);
    const std::string err = p.Stderr();
    EXPECT_NE(err.find("KEYCELL_AGENT_TOKEN refused"), std::string::npos) << err;
    ASSERT_EQ(p.lines().size(), 1u);
    auto reply = json::ParseJson(p.lines()[0]);
    ASSERT_TRUE(reply.ok()) << p.lines()[0];
    EXPECT_EQ(json::GetInt(reply->get(), "id"), 1);
    EXPECT_NE(json::GetObject(reply->get(), "error"), nullptr) << p.lines()[0];
  }
  const std::string key = AgentKey("soon-revoked");
  ProcResult list = box_.Keycell({"apikeys", "list", "--json"});
  auto doc = json::ParseJson(list.out);
  ASSERT_TRUE(doc.ok()) << list.out;
  std::string id;
  for (const cJSON* k : json::Children(doc->get()))
    if (json::GetString(k, "name") == "soon-revoked")
      id = std::string(json::GetString(k, "id").value_or(""));
  ASSERT_FALSE(id.empty()) << list.out;
  ASSERT_EQ(box_.Keycell({"apikeys", "revoke", id}).exit_code, 0);
  McpProcess p(box_, {{"KEYCELL_AGENT_TOKEN", key}});
  EXPECT_EQ(p.Finish(), 11);
  const std::string err = p.Stderr();
  EXPECT_NE(err.find("revoked"), std::string::npos) << err;
  EXPECT_EQ(err.find(key), std::string::npos);
}

TEST_F(CliMcpTest, TwoInstancesStartingAtOnceWithoutADaemonBothWork) {
  ASSERT_EQ(box_.Init().exit_code, 0);
  box_.StopDaemon();
  ASSERT_EQ(box_.DaemonPid(), 0);
  for (int round = 0; round < 3; ++round) {
    McpProcess a(box_, {}, std::string(kInitialize) + "\n");
    McpProcess b(box_, {}, std::string(kInitialize) + "\n");
    for (McpProcess* p : {&a, &b}) {
      std::optional<std::string> line = p->ReadLine();
      ASSERT_TRUE(line) << "round " << round << ": " << p->Stderr();
      EXPECT_NE(line->find("\"protocolVersion\""), std::string::npos) << *line;
      p->Send(kInitialized);
      json::Json who = p->CallTool(2, "whoami");
      ASSERT_TRUE(who);
      EXPECT_EQ(json::GetString(Structured(who), "kind").value_or(""), "owner") << Print(who);
      p->CloseStdin();
      EXPECT_EQ(p->Finish(), 0);
    }
    box_.StopDaemon();
  }
}

TEST_F(CliMcpTest, DaemonGoingAwayEndsTheSessionWithAnError) {
  StartVault();
  McpProcess p(box_, {});
  ASSERT_TRUE(p.Initialize());
  box_.StopDaemon();
  EXPECT_EQ(p.Finish(), 12);
  const std::string err = p.Stderr();
  EXPECT_NE(err.find("keycelld closed the MCP session"), std::string::npos) << err;
}

TEST_F(CliMcpTest, RequestsRunConcurrentlyAndAnswersKeepTheirIds) {
  StartVault();
  McpProcess p(box_, {});
  ASSERT_TRUE(p.Initialize());
  // A burst of requests without waiting: each answered once, with its own id.
  for (int id = 10; id < 40; ++id)
    p.Send(R"({"jsonrpc":"2.0","id":)" + std::to_string(id) +
           R"(,"method":"tools/call","params":{"name":"list_keys","arguments":{}}})");
  std::vector<bool> seen(40, false);
  for (int n = 0; n < 30; ++n) {
    std::optional<std::string> line = p.ReadLine();
    ASSERT_TRUE(line);
    auto doc = json::ParseJson(*line);
    ASSERT_TRUE(doc.ok()) << *line;
    const auto id = json::GetInt(doc->get(), "id");
    ASSERT_TRUE(id && *id >= 10 && *id < 40) << *line;
    EXPECT_FALSE(seen[*id]) << "answered twice: " << *id;
    seen[*id] = true;
  }
  // A cancellation for a finished request is ignored; the session goes on.
  p.Send(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":10}})");
  EXPECT_TRUE(p.Call(50, "ping", "{}"));
  p.CloseStdin();
  EXPECT_EQ(p.Finish(), 0);
  ExpectOnlyJsonRpc(p);
}

TEST_F(CliMcpTest, AnOverlongLineIsRefusedAndTheSessionGoesOn) {
  StartVault();
  McpProcess p(box_, {});
  ASSERT_TRUE(p.Initialize());
  // 5 MiB without a newline until the end: over mcp::kMaxMessageBytes (4 MiB).
  p.Send(R"({"jsonrpc":"2.0","id":9,"method":"ping","params":{"pad":")" +
         std::string(5 << 20, 'a') + "\"}}");
  std::optional<std::string> refused = p.ReadLine();
  ASSERT_TRUE(refused);
  EXPECT_NE(refused->find("-32600"), std::string::npos) << *refused;
  EXPECT_TRUE(p.Call(10, "ping", "{}"));
  // CRLF line endings and blank lines are accepted.
  p.Send("");
  p.Send(R"({"jsonrpc":"2.0","id":11,"method":"ping"})"
         "\r");
  std::optional<std::string> pong = p.ReadLine();
  ASSERT_TRUE(pong);
  EXPECT_NE(pong->find("\"id\":11"), std::string::npos) << *pong;
  p.CloseStdin();
  EXPECT_EQ(p.Finish(), 0);
  ExpectOnlyJsonRpc(p);
}

// ---- mcp-config ---------------------------------------------------------------------

// The JSON documents in mcp-config's output: from a line "{" to the next line "}".
std::vector<std::string> JsonBlocks(const std::string& out) {
  std::vector<std::string> blocks;
  std::string current;
  bool inside = false;
  size_t at = 0;
  while (at < out.size()) {
    size_t nl = out.find('\n', at);
    if (nl == std::string::npos) nl = out.size();
    const std::string line = out.substr(at, nl - at);
    at = nl + 1;
    if (line == "{") inside = true;
    if (inside) current += line + "\n";
    if (inside && line == "}") {
      blocks.push_back(current);
      current.clear();
      inside = false;
    }
  }
  return blocks;
}

TEST_F(CliMcpTest, McpConfigSnippetsParseAndNameThisInstall) {
  const std::string fake_token = "kc_must_never_be_printed_0123456789";
  RunOptions o;
  o.env = {{"KEYCELL_AGENT_TOKEN", fake_token}};
  for (const std::string client : {"claude", "vscode", "cursor"}) {
    for (const std::string transport : {"stdio", "http", "sse"}) {
      ProcResult r = box_.Keycell({"mcp-config", client, "--transport", transport}, o);
      ASSERT_EQ(r.exit_code, 0) << client << " " << transport << ": " << r.err;
      EXPECT_EQ(r.out.find(fake_token), std::string::npos) << r.out;
      const std::vector<std::string> blocks = JsonBlocks(r.out);
      ASSERT_EQ(blocks.size(), client == "claude" ? 2u : 1u) << r.out;
      for (const std::string& b : blocks) {
        auto doc = json::ParseJson(b);
        ASSERT_TRUE(doc.ok()) << client << " " << transport << ":\n" << b;
        const char* servers_key = client == "vscode" ? "servers" : "mcpServers";
        const cJSON* entry = json::GetObject(json::GetObject(doc->get(), servers_key), "keycell");
        ASSERT_NE(entry, nullptr) << b;
        if (json::GetString(entry, "command")) {
          EXPECT_EQ(json::GetString(entry, "command").value_or(""), KEYCELL_CLI_PATH) << b;
          const cJSON* env = json::GetObject(entry, "env");
          EXPECT_TRUE(json::GetString(env, "KEYCELL_AGENT_TOKEN")) << b;
          EXPECT_EQ(json::GetString(env, "KEYCELL_DATA_DIR").value_or(""), box_.data_dir()) << b;
        } else {
          const std::string url(json::GetString(entry, "url").value_or(""));
          EXPECT_EQ(url.rfind("http://127.0.0.1:", 0), 0u) << b;
          EXPECT_NE(url.find(transport == "sse" ? "/sse" : "/mcp"), std::string::npos) << b;
          const std::string auth(
              json::GetString(json::GetObject(entry, "headers"), "Authorization").value_or(""));
          EXPECT_EQ(auth.rfind("Bearer ${", 0), 0u) << b;
        }
      }
      if (client == "claude") {
        EXPECT_NE(r.out.find("claude mcp add --scope project --transport " + transport),
                  std::string::npos);
      }
    }
  }
  for (const std::string transport : {"stdio", "http", "sse"}) {
    ProcResult r = box_.Keycell({"mcp-config", "openai", "--transport", transport}, o);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.find(fake_token), std::string::npos);
    EXPECT_NE(r.out.find(transport == "stdio"  ? "MCPServerStdio"
                         : transport == "http" ? "MCPServerStreamableHttp"
                                               : "MCPServerSse"),
              std::string::npos)
        << r.out;
    if (transport == "stdio") {
      EXPECT_NE(r.out.find(KEYCELL_CLI_PATH), std::string::npos) << r.out;
    }
    // Valid Python, when there is a python3 to ask.
    if (access("/usr/bin/python3", X_OK) == 0) {
      RunOptions py;
      py.stdin_data = r.out;
      ProcResult compiled =
          box_.Run({"python3", "-c", "import ast, sys; ast.parse(sys.stdin.read())"}, py);
      EXPECT_EQ(compiled.exit_code, 0) << compiled.err << r.out;
    }
  }
  EXPECT_EQ(box_.Keycell({"mcp-config", "emacs"}).exit_code, 2);
  EXPECT_EQ(box_.Keycell({"mcp-config", "claude", "--transport", "ws"}).exit_code, 2);
}

}  // namespace
}  // namespace keycell::test

// keycell mcp-config CLIENT [--transport stdio|http|sse]: the MCP client configuration
// for this install (docs/cli.md, README "Use keycell from your agent"). Everything it
// prints comes from here: the absolute path of this keycell binary, the KEYCELL_* and
// XDG_* variables that locate this vault (clients start servers with a trimmed
// environment), and keycelld's HTTP address from the configuration. The agent's token
// is never printed: each snippet names it through the client's own indirection
// (${KEYCELL_AGENT_TOKEN}, ${input:...}, ${env:...}, os.environ) or a placeholder.

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "broker/cli/commands.h"
#include "broker/cli/session.h"

extern char** environ;

namespace keycell::cli {
namespace {

constexpr char kDetails[] =
    "Prints what to put in an MCP client's configuration so its agent reaches this\n"
    "vault through keycell: the absolute path of this keycell binary, the variables\n"
    "that locate the vault (KEYCELL_*, XDG_*), and keycelld's HTTP address.\n"
    "\n"
    "Clients:\n"
    "  claude   Claude Code (a `claude mcp add` command, or .mcp.json) and Claude\n"
    "           Desktop (claude_desktop_config.json; stdio only)\n"
    "  vscode   VS Code / Copilot (.vscode/mcp.json, \"servers\"; asks for the token)\n"
    "  cursor   Cursor (.cursor/mcp.json, or ~/.cursor/mcp.json)\n"
    "  openai   OpenAI Agents SDK for Python (MCPServerStdio, MCPServerStreamableHttp,\n"
    "           MCPServerSse)\n"
    "\n"
    "Transports: stdio (default) starts `keycell mcp`, which shares the running\n"
    "keycelld; http is Streamable HTTP on /mcp and sse the legacy transport on /sse,\n"
    "both on keycelld's loopback listener (http.listen), where a token is required.\n"
    "\n"
    "The agent's identity is KEYCELL_AGENT_TOKEN: an API key bound to an agent. Make\n"
    "one (it is shown once) and keep it in the environment the client starts from:\n"
    "  keycell agents create my-agent\n"
    "  keycell agents scope my-agent openai-prod\n"
    "  keycell apikeys create my-agent-mcp --agent my-agent\n"
    "The snippets refer to the token, they never contain it. Without a token, a stdio\n"
    "session acts as you, the owner.\n"
    "\n"
    "Examples:\n"
    "  keycell mcp-config claude\n"
    "  keycell mcp-config vscode --transport http > .vscode/mcp.json.example\n";

constexpr char kTokenVar[] = "KEYCELL_AGENT_TOKEN";
constexpr char kServerName[] = "keycell";

struct Install {
  std::string exe;                                       // absolute path of keycell
  std::vector<std::pair<std::string, std::string>> env;  // what locates this vault
  std::string base_url;                                  // http://127.0.0.1:8787
};

// The variables a client must pass on for `keycell mcp` to find this vault. Bearer
// secrets are never copied into a snippet.
bool LocatesVault(std::string_view name) {
  if (name == kTokenVar || name == "KEYCELL_API_KEY") return false;
  return name.rfind("KEYCELL_", 0) == 0 || name == "XDG_RUNTIME_DIR" || name == "XDG_DATA_HOME" ||
         name == "XDG_CONFIG_HOME";
}

std::string SelfPath() {
  char self[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  return n > 0 ? std::string(self, static_cast<size_t>(n)) : "keycell";
}

// keycelld's HTTP base URL: the configured address, or, for port 0 (any free port),
// the one a running keycelld reports.
std::string BaseUrl(const broker::Config& config) {
  std::string host = config.http_host;
  std::string port = std::to_string(config.http_port);
  if (config.http_port == 0) {
    port = "PORT";
    std::string why;
    auto conn = DaemonConnection::Open(config, /*autostart=*/false, &why);
    ControlError error;
    auto st =
        conn.ok() ? conn->Call("status", nullptr, -1, &error) : Result<json::Json>(conn.status());
    const std::string addr(st.ok() ? json::GetString(st->get(), "http").value_or("") : "");
    if (const size_t colon = addr.rfind(':'); colon != std::string::npos)
      port = addr.substr(colon + 1);
  }
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "http://" + host + ":" + port;
}

Install Describe(const broker::Config& config) {
  Install in;
  in.exe = SelfPath();
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view kv(*e);
    const size_t eq = kv.find('=');
    if (eq == std::string_view::npos || !LocatesVault(kv.substr(0, eq))) continue;
    in.env.emplace_back(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  in.base_url = BaseUrl(config);
  return in;
}

// ---- JSON snippets ------------------------------------------------------------------

void Put(cJSON* obj, const char* key, std::string_view value) {
  (void)json::SetString(obj, key, value);
}

std::string Url(const Install& in, const std::string& transport) {
  return in.base_url + (transport == "sse" ? "/sse" : "/mcp");
}

// One server entry. `token` is how the client refers to the token; `typed` adds
// "type" (Claude Code, VS Code); stdio entries without "type" are Claude Desktop's and
// Cursor's form.
json::Json Entry(const Install& in, const std::string& transport, const std::string& token,
                 bool typed) {
  json::Json e = json::MakeObject();
  if (typed) Put(e.get(), "type", transport);
  if (transport == "stdio") {
    Put(e.get(), "command", in.exe);
    json::Json args = json::MakeArray();
    (void)json::Append(args.get(), std::move(json::MakeString("mcp").value()));
    (void)json::Set(e.get(), "args", std::move(args));
    json::Json env = json::MakeObject();
    Put(env.get(), kTokenVar, token);
    for (const auto& [k, v] : in.env) Put(env.get(), k.c_str(), v);
    (void)json::Set(e.get(), "env", std::move(env));
  } else {
    Put(e.get(), "url", Url(in, transport));
    json::Json headers = json::MakeObject();
    Put(headers.get(), "Authorization", "Bearer " + token);
    (void)json::Set(e.get(), "headers", std::move(headers));
  }
  return e;
}

// {"<servers_key>": {"keycell": entry}} (+ extra members), pretty-printed.
std::string Document(const char* servers_key, json::Json entry, json::Json inputs = nullptr) {
  json::Json doc = json::MakeObject();
  json::Json servers = json::MakeObject();
  (void)json::Set(servers.get(), kServerName, std::move(entry));
  (void)json::Set(doc.get(), servers_key, std::move(servers));
  if (inputs) (void)json::Set(doc.get(), "inputs", std::move(inputs));
  auto text = json::Print(doc.get(), true);
  return (text.ok() ? *text : std::string("{}")) + "\n";
}

std::string Quoted(std::string_view s) {  // a JSON string literal (also valid Python)
  auto j = json::MakeString(s);
  auto text = j.ok() ? json::Print(j->get()) : Result<std::string>(j.status());
  return text.ok() ? *text : std::string("\"\"");
}

std::string ShellQuote(std::string_view s) {
  if (!s.empty() &&
      s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-:=") ==
          std::string_view::npos)
    return std::string(s);
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// ---- clients ------------------------------------------------------------------------

std::string Claude(const Install& in, const std::string& transport) {
  const std::string token = std::string("${") + kTokenVar + "}";  // expanded by Claude Code
  std::string out =
      "# Claude Code: export KEYCELL_AGENT_TOKEN=<an agent's API key> in the shell that starts\n"
      "# `claude`; the config refers to it, so the key is never written down.\n"
      "# Add keycell to this project (writes .mcp.json; --scope user for all projects):\n";
  out += "claude mcp add --scope project --transport " + transport;
  if (transport == "stdio") {
    out += " --env " + ShellQuote(std::string(kTokenVar) + "=" + token);
    for (const auto& [k, v] : in.env) out += " --env " + ShellQuote(k + "=" + v);
    out += " " + std::string(kServerName) + " -- " + ShellQuote(in.exe) + " mcp\n";
  } else {
    out += " " + std::string(kServerName) + " " + ShellQuote(Url(in, transport)) + " --header " +
           ShellQuote("Authorization: Bearer " + token) + "\n";
  }
  out += "\n# ... or write .mcp.json at the project root yourself:\n";
  out += Document("mcpServers", Entry(in, transport, token, true));
  out +=
      "\n# Claude Desktop: claude_desktop_config.json (Linux ~/.config/Claude/, macOS\n"
      "# ~/Library/Application Support/Claude/). Desktop starts local servers only, so this\n"
      "# entry is stdio whatever --transport says; it cannot expand variables: replace the\n"
      "# placeholder with the agent's API key and keep the file private (chmod 600).\n";
  out += Document("mcpServers",
                  Entry(in, "stdio", "<agent API key from: keycell apikeys create>", false));
  return out;
}

std::string VsCode(const Install& in, const std::string& transport) {
  json::Json inputs = json::MakeArray();
  json::Json input = json::MakeObject();
  Put(input.get(), "type", "promptString");
  Put(input.get(), "id", "keycell-agent-token");
  Put(input.get(), "description",
      "keycell agent API key (keycell apikeys create NAME --agent AGENT)");
  (void)json::SetBool(input.get(), "password", true);
  (void)json::Append(inputs.get(), std::move(input));
  return "# VS Code: .vscode/mcp.json (or the user profile's mcp.json via \"MCP: Open User\n"
         "# Configuration\"). VS Code asks for the token once and stores it encrypted.\n" +
         Document("servers", Entry(in, transport, "${input:keycell-agent-token}", true),
                  std::move(inputs));
}

std::string Cursor(const Install& in, const std::string& transport) {
  json::Json entry =
      Entry(in, transport, std::string("${env:") + kTokenVar + "}", transport == "sse");
  return "# Cursor: .cursor/mcp.json in the project (or ~/.cursor/mcp.json for all projects).\n"
         "# ${env:KEYCELL_AGENT_TOKEN} is read from the environment Cursor was started from.\n" +
         Document("mcpServers", std::move(entry));
}

std::string OpenAi(const Install& in, const std::string& transport) {
  std::string out =
      "# OpenAI Agents SDK (pip install openai-agents), with KEYCELL_AGENT_TOKEN in the\n"
      "# environment.\nimport asyncio\nimport os\n\nfrom agents import Agent, Runner\n";
  std::string server;
  if (transport == "stdio") {
    out += "from agents.mcp import MCPServerStdio\n";
    server =
        "    async with MCPServerStdio(\n        name=\"keycell\",\n        params={\n"
        "            \"command\": " +
        Quoted(in.exe) +
        ",\n            \"args\": [\"mcp\"],\n"
        "            \"env\": {\n                \"KEYCELL_AGENT_TOKEN\": "
        "os.environ[\"KEYCELL_AGENT_TOKEN\"],\n";
    for (const auto& [k, v] : in.env)
      server += "                " + Quoted(k) + ": " + Quoted(v) + ",\n";
    server += "            },\n        },\n    ) as keycell:\n";
  } else {
    const char* cls = transport == "sse" ? "MCPServerSse" : "MCPServerStreamableHttp";
    out += std::string("from agents.mcp import ") + cls + "\n";
    server = std::string("    async with ") + cls +
             "(\n        name=\"keycell\",\n        params={\n" +
             "            \"url\": " + Quoted(Url(in, transport)) + ",\n" +
             "            \"headers\": {\"Authorization\": \"Bearer \" + "
             "os.environ[\"KEYCELL_AGENT_TOKEN\"]},\n" +
             "        },\n    ) as keycell:\n";
  }
  out += "\n\nasync def main() -> None:\n" + server +
         "        agent = Agent(\n            name=\"assistant\",\n"
         "            instructions=\"Use keycell's tools for API keys; never ask the user for a "
         "key.\",\n"
         "            mcp_servers=[keycell],\n        )\n"
         "        result = await Runner.run(agent, \"Which API keys can I use?\")\n"
         "        print(result.final_output)\n\n\nasyncio.run(main())\n";
  return out;
}

int RunMcpConfig(const std::string& client, const std::string& transport) {
  int exit_code = kExitOk;
  auto config = LoadCliConfig(&exit_code);
  if (!config) return exit_code;
  const Install in = Describe(*config);
  std::string text;
  if (client == "claude")
    text = Claude(in, transport);
  else if (client == "vscode")
    text = VsCode(in, transport);
  else if (client == "cursor")
    text = Cursor(in, transport);
  else
    text = OpenAi(in, transport);
  fputs(text.c_str(), stdout);
  return fflush(stdout) == 0 ? kExitOk : kExitFailure;
}

}  // namespace

void RegisterMcpConfigCommand(CLI::App& app, int& exit_code) {
  CLI::App* cmd =
      AddCommand(app, "mcp-config", "Print MCP client configuration for this install", kDetails);
  auto client = std::make_shared<std::string>();
  auto transport = std::make_shared<std::string>("stdio");
  cmd->add_option("client", *client, "claude, vscode, cursor or openai")
      ->required()
      ->check(CLI::IsMember({"claude", "vscode", "cursor", "openai"}));
  cmd->add_option("--transport", *transport, "stdio (default), http or sse")
      ->check(CLI::IsMember({"stdio", "http", "sse"}));
  cmd->callback([&exit_code, client, transport] { exit_code = RunMcpConfig(*client, *transport); });
}

}  // namespace keycell::cli

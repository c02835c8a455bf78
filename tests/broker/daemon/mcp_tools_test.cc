// keycell's MCP tools (broker/daemon/mcp_tools.h) in process, over an mcp::Session, with
// the real enclave, a SoftHSM2 token and real SQLite files (DaemonTest,
// daemon_fixture.h): tools/list for each tool set, the calls that map onto ops, the
// refusals (scopes, roles, locked vault, bad input) as isError results, and no value in
// any reply.

#include "broker/daemon/mcp_tools.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "broker/daemon/log.h"
#include "broker/daemon/proxy_service.h"
#include "broker/mcp/server.h"
#include "tests/broker/daemon/daemon_fixture.h"
#include "tests/support/status_testing.h"
#include "tests/support/upstream/https_upstream.h"

namespace keycell::broker::daemon {
namespace {

using identity::Principal;
using identity::PrincipalKind;
using identity::Role;

// One tools/call's CallToolResult, and the raw reply (for "no secret in it" checks).
struct Called {
  std::string raw;
  bool is_error = false;
  std::string text;  // every text item, joined with "\n"
  json::Json structured;
};

class McpToolsTest : public DaemonTest {
 protected:
  bool StartUnlocked() override { return true; }

  // An agent's API key (what KEYCELL_AGENT_TOKEN carries), limited to `scopes`, as the
  // identity registry authenticates it: the tools reload their principal on every call,
  // so it must be a real one. The agent is made on first use; later calls set its scopes.
  Principal AgentPrincipal(std::vector<std::string> scopes, Role role = Role::kAdmin,
                           const std::string& name = "bot") {
    (void)AgentId(name);
    EXPECT_TRUE(identities_->SetScopes(name, scopes).ok());
    identity::ApiKeySpec spec;
    spec.name = name + "-key-" + std::to_string(++keys_issued_);
    spec.role = role;
    spec.agent = name;
    auto key = identities_->CreateApiKey(spec);
    EXPECT_TRUE(key.ok()) << key.status().where();
    if (!key.ok()) return Principal{};
    auto who = identities_->AuthenticateBearer(
        std::string_view(reinterpret_cast<const char*>(key->key.data()), key->key.size()));
    EXPECT_TRUE(who.ok()) << who.status().where();
    return who.ok() ? std::move(*who) : Principal{};
  }

  // The id of agent `name`, made (with no scopes) if it does not exist yet.
  std::string AgentId(const std::string& name = "bot") {
    if (!identities_->GetAgent(name).ok()) {
      EXPECT_TRUE(identities_->CreateAgent(name).ok());
    }
    auto agent = identities_->GetAgent(name);
    EXPECT_TRUE(agent.ok()) << name;
    return agent.ok() ? agent->id : std::string();
  }

  // An initialized MCP session whose tools act for `who`.
  std::unique_ptr<mcp::Session> Open(const Principal& who, McpToolOptions opts = {}) {
    std::string why;
    auto tools = BuildToolRegistry(*vault_, who, opts, &why);
    EXPECT_NE(tools, nullptr) << why;
    if (tools == nullptr) return nullptr;
    auto session = std::make_unique<mcp::Session>(tools, mcp::ServerOptions{.version = "test"},
                                                  [](std::string) {});
    auto reply = session->Handle(
        R"({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{}}})");
    EXPECT_TRUE(reply.has_value());
    (void)session->Handle(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
    return session;
  }

  Called Call(mcp::Session& session, const std::string& tool, const std::string& arguments = "{}") {
    Called out;
    auto reply =
        session.Handle(R"({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":")" +
                       tool + R"(","arguments":)" + arguments + "}}");
    EXPECT_TRUE(reply.has_value()) << tool;
    if (!reply) return out;
    out.raw = *reply;
    auto parsed = json::ParseJson(*reply);
    EXPECT_TRUE(parsed.ok()) << *reply;
    if (!parsed.ok()) return out;
    const cJSON* result = json::GetObject(parsed->get(), "result");
    EXPECT_NE(result, nullptr) << tool << ": " << *reply;
    out.is_error = json::GetBool(result, "isError").value_or(false);
    for (const cJSON* item : json::Children(json::GetArray(result, "content"))) {
      if (!out.text.empty()) out.text += "\n";
      out.text += std::string(json::GetString(item, "text").value_or(""));
    }
    out.structured = json::Clone(json::GetObject(result, "structuredContent"));
    return out;
  }

  // The tools/list page (all of it: fewer than 50 tools).
  json::Json List(mcp::Session& session) {
    auto reply = session.Handle(R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})");
    EXPECT_TRUE(reply.has_value());
    auto parsed = json::ParseJson(reply.value_or("null"));
    EXPECT_TRUE(parsed.ok());
    EXPECT_EQ(json::GetMember(json::GetObject(parsed->get(), "result"), "nextCursor"), nullptr);
    return json::Clone(json::GetArray(json::GetObject(parsed->get(), "result"), "tools"));
  }

  int keys_issued_ = 0;
};

std::set<std::string> Names(const cJSON* tools) {
  std::set<std::string> out;
  for (const cJSON* t : json::Children(tools)) out.emplace(json::GetString(t, "name").value_or(""));
  return out;
}

const std::set<std::string> kPushkey = {"unlock_vault", "lock_vault",    "list_keys",  "get_key",
                                        "check_health", "list_projects", "assign_key", "add_key",
                                        "rotate_key",   "inject_env"};
const std::set<std::string> kAgentKeys = {
    "list_credentials", "delete_credential", "list_agents",   "create_agent",
    "delete_agent",     "assign_credential", "proxy_request", "create_credential"};
const std::set<std::string> kVaultSecret = {"vault_secret", "rotate_and_store"};
const std::set<std::string> kCommon = {"whoami", "audit_log"};

std::set<std::string> Union(std::initializer_list<std::set<std::string>> sets) {
  std::set<std::string> out;
  for (const auto& s : sets) out.insert(s.begin(), s.end());
  return out;
}

TEST_F(McpToolsTest, ToolsListShowsTheEnabledSetsWithSchemasAndAnnotations) {
  auto session = Open(owner_);
  ASSERT_NE(session, nullptr);
  json::Json tools = List(*session);
  EXPECT_EQ(Names(tools.get()), Union({kPushkey, kAgentKeys, kVaultSecret, kCommon}));
  for (const cJSON* t : json::Children(tools.get())) {
    const std::string name(json::GetString(t, "name").value_or(""));
    EXPECT_FALSE(json::GetString(t, "title").value_or("").empty()) << name;
    EXPECT_FALSE(json::GetString(t, "description").value_or("").empty()) << name;
    EXPECT_EQ(json::GetString(json::GetObject(t, "inputSchema"), "type"), "object") << name;
    EXPECT_EQ(json::GetString(json::GetObject(t, "outputSchema"), "type"), "object") << name;
    const cJSON* ann = json::GetObject(t, "annotations");
    ASSERT_NE(ann, nullptr) << name;
    const bool read_only = json::GetBool(ann, "readOnlyHint").value_or(false);
    EXPECT_EQ(json::GetBool(ann, "openWorldHint"), std::optional<bool>(name == "proxy_request"))
        << name;
    const std::set<std::string> readers = {"whoami",       "audit_log",    "list_credentials",
                                           "list_agents",  "list_keys",    "get_key",
                                           "check_health", "list_projects"};
    EXPECT_EQ(read_only, readers.count(name) == 1) << name;
    const std::set<std::string> destroyers = {
        "delete_credential", "delete_agent", "assign_credential", "proxy_request",   "add_key",
        "rotate_key",        "inject_env",   "vault_secret",      "rotate_and_store"};
    if (!read_only) {
      EXPECT_EQ(json::GetBool(ann, "destructiveHint"),
                std::optional<bool>(destroyers.count(name) == 1))
          << name;
    }
  }
  // The reference parameter names.
  auto params = [&](const std::string& tool) {
    std::set<std::string> out;
    for (const cJSON* t : json::Children(tools.get()))
      if (json::GetString(t, "name") == tool)
        for (const cJSON* p :
             json::Children(json::GetObject(json::GetObject(t, "inputSchema"), "properties")))
          out.emplace(json::KeyOf(p));
    return out;
  };
  EXPECT_EQ(params("list_keys"), (std::set<std::string>{"env", "provider", "project"}));
  EXPECT_EQ(params("check_health"), (std::set<std::string>{"rotation_threshold_days"}));
  EXPECT_EQ(params("assign_key"), (std::set<std::string>{"key_name", "project_path"}));
  EXPECT_EQ(params("get_key"), (std::set<std::string>{"name"}));
  EXPECT_EQ(params("unlock_vault"), (std::set<std::string>{"password"}));
  EXPECT_EQ(params("proxy_request"),
            (std::set<std::string>{"credential", "token", "url", "method", "headers", "body"}));

  EXPECT_EQ(params("add_key"),
            (std::set<std::string>{"name", "value", "provider", "env", "notes", "overwrite"}));
  EXPECT_EQ(params("rotate_key"), (std::set<std::string>{"name", "new_value"}));
  EXPECT_EQ(params("inject_env"), (std::set<std::string>{"project_path", "keys"}));
  EXPECT_EQ(params("vault_secret"),
            (std::set<std::string>{"action", "name", "value", "encoding", "mode", "allowedAgentIds",
                                   "description", "tags", "expiresAt", "reveal", "purpose"}));
  EXPECT_EQ(params("rotate_and_store"), (std::set<std::string>{"name", "length", "alphabet"}));
  const std::set<std::string> create = params("create_credential");
  for (const char* p : {"name", "type", "value"}) EXPECT_EQ(create.count(p), 1u) << p;

  auto agentkeys = Open(owner_, McpToolOptions{.tool_sets = {"agentkeys"}});
  EXPECT_EQ(Names(List(*agentkeys).get()), Union({kAgentKeys, kCommon}));
  auto pushkey =
      Open(AgentPrincipal({"**"}), McpToolOptions{.tool_sets = {"pushkey", "vault_secret"}});
  EXPECT_EQ(Names(List(*pushkey).get()), Union({kPushkey, kVaultSecret, kCommon}));
  auto secrets = Open(owner_, McpToolOptions{.tool_sets = {"vault_secret"}});
  EXPECT_EQ(Names(List(*secrets).get()), Union({kVaultSecret, kCommon}));
}

TEST_F(McpToolsTest, ListCredentialsAndListKeysShowNamesNeverValues) {
  AddCredential("openai/prod");
  AddCredential("stripe-prod");
  auto session = Open(owner_);
  Called list = Call(*session, "list_credentials");
  ASSERT_FALSE(list.is_error) << list.text;
  std::vector<std::string> names;
  for (const cJSON* c : json::Children(json::GetArray(list.structured.get(), "credentials")))
    names.emplace_back(json::GetString(c, "name").value_or(""));
  EXPECT_EQ(names, (std::vector<std::string>{"openai/prod", "stripe-prod"}));
  EXPECT_EQ(list.raw.find(kCanary), std::string::npos);

  Called keys = Call(*session, "list_keys", R"({"project": "/nonexistent/project"})");
  ASSERT_FALSE(keys.is_error) << keys.text;
  EXPECT_EQ(json::ChildCount(json::GetArray(keys.structured.get(), "keys")), 0u);
  Called all = Call(*session, "list_keys");
  EXPECT_EQ(json::ChildCount(json::GetArray(all.structured.get(), "keys")), 2u);
  EXPECT_EQ(all.raw.find(kCanary), std::string::npos);
}

TEST_F(McpToolsTest, WhoamiReportsTheOwnerAndTheAgent) {
  Called owner = Call(*Open(owner_), "whoami");
  ASSERT_FALSE(owner.is_error) << owner.text;
  EXPECT_EQ(json::GetString(owner.structured.get(), "kind"), "owner");
  EXPECT_EQ(json::GetString(owner.structured.get(), "role"), "owner");

  Called agent = Call(*Open(AgentPrincipal({"openai/*"})), "whoami");
  ASSERT_FALSE(agent.is_error) << agent.text;
  EXPECT_EQ(json::GetString(agent.structured.get(), "agent"), "bot");
  EXPECT_EQ(json::GetString(agent.structured.get(), "role"), "admin");
  EXPECT_EQ(json::ChildCount(json::GetArray(agent.structured.get(), "scopes")), 1u);
}

TEST_F(McpToolsTest, CreateAssignAndDeleteAnAgent) {
  AddCredential("openai/prod");
  auto session = Open(owner_);
  Called created =
      Call(*session, "create_agent", R"({"name": "marketing-bot", "scopes": ["stripe/*"]})");
  ASSERT_FALSE(created.is_error) << created.text;
  EXPECT_EQ(json::GetString(created.structured.get(), "name"), "marketing-bot");
  EXPECT_TRUE(Call(*session, "create_agent", R"({"name": "marketing-bot"})").is_error);  // exists

  Called assigned =
      Call(*session, "assign_credential",
           R"({"agent": "marketing-bot", "credential": "openai/prod", "expires_in_seconds": 600})");
  ASSERT_FALSE(assigned.is_error) << assigned.text;
  const std::string token(json::GetString(assigned.structured.get(), "token").value_or(""));
  EXPECT_EQ(token.rfind("pxr_", 0), 0u);
  EXPECT_EQ(json::GetBool(assigned.structured.get(), "scope_added"), true);
  EXPECT_EQ(assigned.raw.find(kCanary), std::string::npos);
  auto bearer = identities_->AuthenticateBearer(token);
  ASSERT_TRUE(bearer.ok());
  EXPECT_EQ(bearer->credential, "openai/prod");

  Called unknown =
      Call(*session, "assign_credential", R"({"agent": "marketing-bot", "credential": "nope"})");
  EXPECT_TRUE(unknown.is_error);
  EXPECT_NE(unknown.text.find("not_found"), std::string::npos) << unknown.text;

  Called agents = Call(*session, "list_agents");
  ASSERT_FALSE(agents.is_error) << agents.text;
  EXPECT_EQ(json::ChildCount(json::GetArray(agents.structured.get(), "agents")), 1u);

  Called deleted = Call(*session, "delete_agent", R"({"agent": "marketing-bot"})");
  ASSERT_FALSE(deleted.is_error) << deleted.text;
  EXPECT_EQ(json::GetInt(deleted.structured.get(), "tokens_revoked"), 1);
  EXPECT_FALSE(identities_->AuthenticateBearer(token).ok());
  Called again = Call(*session, "delete_agent", R"({"agent": "marketing-bot"})");
  EXPECT_TRUE(again.is_error);
  EXPECT_NE(again.text.find("not_found"), std::string::npos) << again.text;
  // Audited with the caller's identity.
  // Audited with the caller's identity, refusals too.
  const auto creates = Records(audit::actions::kAgentCreate);
  ASSERT_EQ(creates.size(), 2u);
  EXPECT_EQ(creates[0].actor_kind, audit::ActorKind::kUid);
  EXPECT_EQ(Records(audit::actions::kTokenCreate).size(), 2u);
  EXPECT_EQ(Records(audit::actions::kAgentDelete).size(), 2u);
}

TEST_F(McpToolsTest, GetKeyNeverRevealsAndPointsAtTheSafeTools) {
  AddCredential("openai/prod");
  Called got = Call(*Open(owner_), "get_key", R"({"name": "openai/prod"})");
  EXPECT_TRUE(got.is_error);
  for (const char* hint : {"proxy_request", "inject_env", "keycell run"})
    EXPECT_NE(got.text.find(hint), std::string::npos) << hint << ": " << got.text;
  EXPECT_EQ(json::GetString(got.structured.get(), "masked_value"), "********");
  EXPECT_EQ(json::GetBool(got.structured.get(), "revealed"), false);
  EXPECT_EQ(got.raw.find(kCanary), std::string::npos);
  EXPECT_EQ(got.raw.find("sk-"), std::string::npos);

  Called missing = Call(*Open(owner_), "get_key", R"({"name": "no-such"})");
  EXPECT_TRUE(missing.is_error);
  EXPECT_NE(missing.text.find("no such credential"), std::string::npos) << missing.text;
}

TEST_F(McpToolsTest, AgentScopesAndRolesBecomeToolErrors) {
  AddCredential("openai/prod");
  AddCredential("stripe-prod");
  auto agent = Open(AgentPrincipal({"openai/*"}));
  Called list = Call(*agent, "list_credentials");
  ASSERT_FALSE(list.is_error);
  EXPECT_EQ(json::ChildCount(json::GetArray(list.structured.get(), "credentials")), 1u);

  Called outside = Call(*agent, "get_key", R"({"name": "stripe-prod"})");
  EXPECT_TRUE(outside.is_error);
  EXPECT_NE(outside.text.find("forbidden: this credential is outside the agent's scopes"),
            std::string::npos)
      << outside.text;
  EXPECT_TRUE(Call(*agent, "delete_credential", R"({"name": "stripe-prod"})").is_error);

  auto member = Open(AgentPrincipal({"**"}, Role::kMember));
  Called del = Call(*member, "delete_credential", R"({"name": "openai/prod"})");
  EXPECT_TRUE(del.is_error);
  EXPECT_NE(del.text.find("forbidden: your role does not allow this"), std::string::npos)
      << del.text;
  EXPECT_TRUE(Call(*member, "create_agent", R"({"name": "x"})").is_error);
  EXPECT_TRUE(Call(*member, "lock_vault").is_error);
  EXPECT_TRUE(enclave_->unlocked());
  // Still there: nothing was deleted.
  EXPECT_EQ(json::ChildCount(json::GetArray(
                Call(*Open(owner_), "list_credentials").structured.get(), "credentials")),
            2u);
  // A member may not read the audit log; an admin agent reads its own trail only.
  EXPECT_TRUE(Call(*member, "audit_log").is_error);
  Called audit = Call(*agent, "audit_log", R"({"limit": 50})");
  ASSERT_FALSE(audit.is_error) << audit.text;
  for (const cJSON* r : json::Children(json::GetArray(audit.structured.get(), "records")))
    EXPECT_EQ(json::GetString(r, "actor"), "bot");
  EXPECT_GE(json::ChildCount(json::GetArray(audit.structured.get(), "records")), 1u);
}

TEST_F(McpToolsTest, BadInputIsAToolErrorNamingTheField) {
  auto session = Open(owner_);
  Called no_name = Call(*session, "create_agent", "{}");
  EXPECT_TRUE(no_name.is_error);
  EXPECT_NE(no_name.text.find("arguments.name: required property missing"), std::string::npos)
      << no_name.text;
  Called days = Call(*session, "check_health", R"({"rotation_threshold_days": 0})");
  EXPECT_TRUE(days.is_error);
  EXPECT_NE(days.text.find("arguments.rotation_threshold_days"), std::string::npos) << days.text;
  // A password is refused while config mcp.allow_password_unlock is off (the default).
  Called password = Call(*session, "unlock_vault", R"({"password": "1234"})");
  EXPECT_TRUE(password.is_error);
  EXPECT_NE(password.text.find("mcp.allow_password_unlock"), std::string::npos) << password.text;
  EXPECT_EQ(password.raw.find("1234"), std::string::npos);
  Called method = Call(*session, "proxy_request",
                       R"({"credential": "x", "url": "https://a.example/", "method": "TRACE"})");
  EXPECT_TRUE(method.is_error);
  EXPECT_NE(method.text.find("arguments.method"), std::string::npos) << method.text;
  Called bad_name = Call(*session, "delete_credential", R"({"name": "../etc"})");
  EXPECT_TRUE(bad_name.is_error);  // the op's own name check
}

TEST_F(McpToolsTest, HealthProjectsAndAssignKey) {
  AddCredential("openai/prod");
  auto session = Open(owner_);
  Called health = Call(*session, "check_health", R"({"rotation_threshold_days": 30})");
  ASSERT_FALSE(health.is_error) << health.text;
  EXPECT_EQ(json::GetInt(health.structured.get(), "threshold_days"), 30);
  EXPECT_EQ(json::GetInt(health.structured.get(), "total"), 1);
  EXPECT_EQ(json::GetInt(Call(*session, "check_health").structured.get(), "threshold_days"), 90);

  const std::string project = token_->dir() + "/project";
  Called assigned = Call(*session, "assign_key",
                         R"({"key_name": "openai/prod", "project_path": ")" + project + R"("})");
  ASSERT_FALSE(assigned.is_error) << assigned.text;
  // The store keeps the normalized path.
  const std::string stored(json::GetString(assigned.structured.get(), "project_path").value_or(""));
  EXPECT_FALSE(stored.empty());
  Called projects = Call(*session, "list_projects");
  ASSERT_FALSE(projects.is_error) << projects.text;
  const cJSON* first = json::GetArray(projects.structured.get(), "projects");
  ASSERT_EQ(json::ChildCount(first), 1u);
  EXPECT_EQ(json::GetString(first->child, "path"), stored);
  Called keys = Call(*session, "list_keys", R"({"project": ")" + stored + R"("})");
  EXPECT_EQ(json::ChildCount(json::GetArray(keys.structured.get(), "keys")), 1u);
  Called relative =
      Call(*session, "assign_key", R"({"key_name": "openai/prod", "project_path": "rel/dir"})");
  EXPECT_TRUE(relative.is_error);
  EXPECT_NE(relative.text.find("absolute"), std::string::npos) << relative.text;
}

TEST_F(McpToolsTest, LockAndUnlockVault) {
  auto session = Open(owner_);
  Called unlocked = Call(*session, "unlock_vault");
  ASSERT_FALSE(unlocked.is_error) << unlocked.text;
  EXPECT_EQ(json::GetBool(unlocked.structured.get(), "already_unlocked"), true);
  Called lock = Call(*session, "lock_vault");
  ASSERT_FALSE(lock.is_error) << lock.text;
  EXPECT_FALSE(enclave_->unlocked());
  Called locked = Call(*session, "unlock_vault");
  EXPECT_TRUE(locked.is_error);
  EXPECT_NE(locked.text.find("keycell unlock"), std::string::npos) << locked.text;
  EXPECT_FALSE(enclave_->unlocked());
  ASSERT_TRUE(enclave_->Unlock(token_->user_pin()).ok());
}

// config mcp.allow_password_unlock = true: the PIN argument goes to the enclave's unlock.
TEST_F(McpToolsTest, PasswordUnlockWhenConfigAllowsIt) {
  auto session = Open(owner_, McpToolOptions{.allow_password_unlock = true});
  ASSERT_FALSE(Call(*session, "lock_vault").is_error);
  Called wrong = Call(*session, "unlock_vault", R"({"password": "9999"})");
  EXPECT_TRUE(wrong.is_error);
  EXPECT_NE(wrong.text.find("bad_pin"), std::string::npos) << wrong.text;
  EXPECT_FALSE(enclave_->unlocked());
  Called right = Call(*session, "unlock_vault", R"({"password": "1234"})");
  ASSERT_FALSE(right.is_error) << right.text;
  EXPECT_EQ(json::GetBool(right.structured.get(), "unlocked"), true);
  EXPECT_EQ(json::GetBool(right.structured.get(), "already_unlocked"), false);
  EXPECT_TRUE(enclave_->unlocked());
}

// proxy_request's argument mapping and refusals, without reaching the network: a host
// outside the sealed policy is forbidden, a missing credential is bad_request, no proxy is
// service_unavailable. The full call to a TLS upstream: McpProxyToolTest below.
TEST_F(McpToolsTest, ProxyRequestRefusalsAreToolErrors) {
  AddCredential("openai/prod");
  auto session = Open(owner_);
  Called unavailable = Call(*session, "proxy_request",
                            R"({"credential": "openai/prod", "url": "https://api.example.com/"})");
  EXPECT_TRUE(unavailable.is_error);
  EXPECT_NE(unavailable.text.find("service_unavailable"), std::string::npos) << unavailable.text;

  ProxyChannels channels(*enclave_);
  ProxyService proxy(*vault_, channels, *dispatcher_, proxy::RouteConfig{}, ProxySettings{});
  vault_->SetProxy(&proxy);
  Called host =
      Call(*session, "proxy_request",
           R"({"credential": "openai/prod", "url": "https://evil.example.com/x", "method": "POST",
                         "headers": {"Accept": "application/json"}, "body": {"q": 1}})");
  EXPECT_TRUE(host.is_error);
  EXPECT_NE(host.text.find("forbidden"), std::string::npos) << host.text;
  Called no_cred = Call(*session, "proxy_request", R"({"url": "https://api.example.com/"})");
  EXPECT_TRUE(no_cred.is_error);
  EXPECT_NE(no_cred.text.find("bad_request"), std::string::npos) << no_cred.text;
  Called bad_header = Call(
      *session, "proxy_request",
      R"({"credential": "openai/prod", "url": "https://api.example.com/", "headers": {"A": "x\r\nB: y"}})");
  EXPECT_TRUE(bad_header.is_error);
  EXPECT_NE(bad_header.text.find("bad_request"), std::string::npos) << bad_header.text;
  const std::string token = "pxr_" + std::string(43, 'A');
  Called bad_token = Call(*session, "proxy_request",
                          R"({"token": ")" + token + R"(", "url": "https://api.example.com/"})");
  EXPECT_TRUE(bad_token.is_error);
  EXPECT_NE(bad_token.text.find("unauthorized"), std::string::npos) << bad_token.text;
  EXPECT_EQ(bad_token.raw.find(token), std::string::npos);
  vault_->SetProxy(nullptr);
}

// proxy_request end to end, in process: the ProxyService keycelld would run, the enclave
// trusting a test CA, a recording HTTPS upstream on localhost. The upstream sees the
// injected credential; the tool's reply has the echo redacted.
class McpProxyToolTest : public McpToolsTest {
 protected:
  void SetUp() override {
    ca_ = test::TestCa::Make("keycell mcp test CA");
    ASSERT_NE(ca_, nullptr);
    test::HttpsUpstream::Options o;
    o.identity = ca_->Issue("localhost");
    upstream_ = test::HttpsUpstream::Start(o);
    ASSERT_NE(upstream_, nullptr);
    McpToolsTest::SetUp();
  }
  std::string ExtraCaFile() override {
    const std::string path = token_->dir() + "/upstream-ca.pem";
    EXPECT_TRUE(test::WriteCaFile(*ca_, path));
    return path;
  }

  std::unique_ptr<test::TestCa> ca_;
  std::unique_ptr<test::HttpsUpstream> upstream_;
};

TEST_F(McpProxyToolTest, ProxyRequestInjectsTheCredentialAndRedactsTheEcho) {
  const std::string host = "localhost:" + std::to_string(upstream_->port());
  ASSERT_TRUE(
      Run(owner_, "add",
          R"({"name": "echo-api", "policy": {"hosts": [")" + host + R"("], "inject": "bearer"}})",
          PipeWith(kCanary))
          .ok);
  ProxyChannels channels(*enclave_);
  ProxyService proxy(*vault_, channels, *dispatcher_, proxy::RouteConfig{}, ProxySettings{});
  vault_->SetProxy(&proxy);
  auto session = Open(AgentPrincipal({"echo-*"}));
  Called r =
      Call(*session, "proxy_request",
           R"({"credential": "echo-api", "url": ")" + upstream_->Url("localhost", "/echo?x=1") +
               R"(", "method": "POST", "headers": {"X-Trace": "t1"}, "body": {"q": 1}})");
  ASSERT_FALSE(r.is_error) << r.text;
  EXPECT_EQ(json::GetInt(r.structured.get(), "status"), 200);
  EXPECT_EQ(json::GetString(json::GetObject(r.structured.get(), "headers"), "Content-Type"),
            "application/json");
  ASSERT_TRUE(upstream_->WaitForRequests(1));
  const test::RecordedRequest got = upstream_->requests().back();
  EXPECT_EQ(got.method, "POST");
  ASSERT_NE(got.Header("Authorization"), nullptr);
  EXPECT_EQ(*got.Header("Authorization"), std::string("Bearer ") + kCanary);
  ASSERT_NE(got.Header("Content-Type"), nullptr);
  EXPECT_EQ(*got.Header("Content-Type"), "application/json");
  ASSERT_NE(got.Header("X-Trace"), nullptr);
  EXPECT_EQ(got.body_bytes, 7u);  // {"q":1}
  // The echo of the Authorization header comes back redacted; the value nowhere.
  auto echo = json::ParseJson(json::GetString(r.structured.get(), "body").value_or(""));
  ASSERT_TRUE(echo.ok()) << r.text;
  EXPECT_EQ(json::GetString(echo->get(), "method"), "POST");
  EXPECT_NE(r.raw.find("REDACTED"), std::string::npos);
  EXPECT_EQ(r.raw.find(kCanary), std::string::npos);
  // An upstream error status is a successful call.
  Called missing = Call(*session, "proxy_request",
                        R"({"credential": "echo-api", "url": ")" +
                            upstream_->Url("localhost", "/status/404") + R"("})");
  ASSERT_FALSE(missing.is_error) << missing.text;
  EXPECT_EQ(json::GetInt(missing.structured.get(), "status"), 404);
  vault_->SetProxy(nullptr);
}

// create_credential's value reaches the upstream as the recipe says (here a custom
// header), and only there: not in the creating reply, not in the proxied reply.
TEST_F(McpProxyToolTest, CreateCredentialThenProxyRequestInjectsTheValue) {
  const std::string host = "localhost:" + std::to_string(upstream_->port());
  ProxyChannels channels(*enclave_);
  ProxyService proxy(*vault_, channels, *dispatcher_, proxy::RouteConfig{}, ProxySettings{});
  vault_->SetProxy(&proxy);
  auto session = Open(owner_);
  Called created = Call(*session, "create_credential",
                        R"({"name": "claude", "type": "CUSTOM_HEADER", "header_name": "x-api-key",
                            "value": ")" +
                            std::string(kCanary) + R"(", "hosts": [")" + host + R"("]})");
  ASSERT_FALSE(created.is_error) << created.text;
  EXPECT_EQ(created.raw.find(kCanary), std::string::npos);
  Called r =
      Call(*session, "proxy_request",
           R"({"credential": "claude", "url": ")" + upstream_->Url("localhost", "/echo") + R"("})");
  ASSERT_FALSE(r.is_error) << r.text;
  ASSERT_TRUE(upstream_->WaitForRequests(1));
  const test::RecordedRequest got = upstream_->requests().back();
  ASSERT_NE(got.Header("x-api-key"), nullptr);
  EXPECT_EQ(*got.Header("x-api-key"), kCanary);
  EXPECT_EQ(r.raw.find(kCanary), std::string::npos);
  vault_->SetProxy(nullptr);
}

// ---- The tools that carry values ---------------------------------------------------

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every regular file under `root` that contains `needle`.
void FilesContaining(const std::string& root, const std::string& needle,
                     std::vector<std::string>* hits, int* files) {
  DIR* d = opendir(root.c_str());
  if (d == nullptr) return;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    const std::string path = root + "/" + name;
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      FilesContaining(path, needle, hits, files);
    } else if (S_ISREG(st.st_mode)) {
      ++*files;
      if (ReadFile(path).find(needle) != std::string::npos) hits->push_back(path);
    }
  }
  closedir(d);
}

// keycelld's log (stderr) redirected into a file while alive.
class StderrCapture {
 public:
  explicit StderrCapture(std::string path) : path_(std::move(path)) {
    fflush(stderr);
    saved_ = dup(2);
    const int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
      dup2(fd, 2);
      close(fd);
    }
  }
  ~StderrCapture() { Stop(); }
  std::string Stop() {
    if (saved_ >= 0) {
      fflush(stderr);
      dup2(saved_, 2);
      close(saved_);
      saved_ = -1;
    }
    return ReadFile(path_);
  }

 private:
  std::string path_;
  int saved_ = -1;
};

std::string Str(const json::Json& j, const char* key) {
  return std::string(json::GetString(j.get(), key).value_or(""));
}

TEST_F(McpToolsTest, AddKeyStoresTheValueTheEnclaveWritesIntoDotEnv) {
  auto session = Open(owner_);
  Called added = Call(*session, "add_key",
                      R"({"name": "openai-prod", "value": ")" + std::string(kCanary) +
                          R"(", "provider": "openai", "env": "prod", "notes": "n"})");
  ASSERT_FALSE(added.is_error) << added.text;
  EXPECT_EQ(Str(added.structured, "name"), "openai-prod");
  EXPECT_EQ(Str(added.structured, "provider"), "openai");
  EXPECT_EQ(json::GetInt(added.structured.get(), "version"), 1);
  EXPECT_EQ(added.raw.find(kCanary), std::string::npos);

  const std::string second = "sk-second-canary-5521";
  Called again =
      Call(*session, "add_key", R"({"name": "openai-prod", "value": ")" + second + R"("})");
  EXPECT_TRUE(again.is_error);
  EXPECT_NE(again.text.find("exists"), std::string::npos) << again.text;
  EXPECT_NE(again.text.find("overwrite"), std::string::npos) << again.text;
  EXPECT_EQ(again.raw.find(second), std::string::npos);
  Called replaced =
      Call(*session, "add_key",
           R"({"name": "openai-prod", "value": ")" + second + R"(", "overwrite": true})");
  ASSERT_FALSE(replaced.is_error) << replaced.text;
  EXPECT_EQ(json::GetInt(replaced.structured.get(), "version"), 2);

  // The enclave writes what was stored into the project's .env; the tool says only how
  // many lines it wrote.
  const std::string project = token_->dir() + "/project";
  ASSERT_EQ(mkdir(project.c_str(), 0700), 0);
  Called env = Call(*session, "inject_env",
                    R"({"project_path": ")" + project + R"(", "keys": ["openai-prod"]})");
  ASSERT_FALSE(env.is_error) << env.text;
  EXPECT_EQ(json::GetInt(env.structured.get(), "written"), 1);
  EXPECT_EQ(env.raw.find(second), std::string::npos);
  const std::string dotenv = ReadFile(project + "/.env");
  EXPECT_NE(dotenv.find("OPENAI_PROD="), std::string::npos) << dotenv.size();
  EXPECT_NE(dotenv.find(second), std::string::npos);
  EXPECT_EQ(dotenv.find(kCanary), std::string::npos);  // the overwritten value

  // A key sealed without env export: nothing is written, .env is unchanged.
  ASSERT_TRUE(Run(owner_, "add", R"({"name": "stripe", "policy": {"hosts": ["api.stripe.com"]}})",
                  PipeWith("sk-stripe-canary"))
                  .ok);
  const std::string before = ReadFile(project + "/.env");
  Called refused =
      Call(*session, "inject_env", R"({"project_path": ")" + project + R"(", "keys": ["stripe"]})");
  EXPECT_TRUE(refused.is_error);
  EXPECT_NE(refused.text.find("cannot be exported"), std::string::npos) << refused.text;
  EXPECT_EQ(ReadFile(project + "/.env"), before);
  Called relative = Call(*session, "inject_env", R"({"project_path": "rel"})");
  EXPECT_TRUE(relative.is_error);
  EXPECT_NE(relative.text.find("absolute"), std::string::npos) << relative.text;
  // Audited as credential.add (with the overwrite noted) and env.write.
  const auto adds = Records(audit::actions::kCredentialAdd);
  ASSERT_GE(adds.size(), 3u);
  EXPECT_GE(Records(audit::actions::kEnvWrite).size(), 2u);
}

TEST_F(McpToolsTest, RotateKeyStoresANewVersion) {
  auto session = Open(owner_);
  ASSERT_FALSE(
      Call(*session, "add_key", R"({"name": "svc", "value": ")" + std::string(kCanary) + R"("})")
          .is_error);
  const std::string next = "rotated-canary-77aa";
  Called rotated =
      Call(*session, "rotate_key", R"({"name": "svc", "new_value": ")" + next + R"("})");
  ASSERT_FALSE(rotated.is_error) << rotated.text;
  EXPECT_EQ(json::GetInt(rotated.structured.get(), "version"), 2);
  EXPECT_FALSE(Str(rotated.structured, "fingerprint").empty());
  EXPECT_EQ(rotated.raw.find(next), std::string::npos);
  const std::string project = token_->dir() + "/p";
  ASSERT_EQ(mkdir(project.c_str(), 0700), 0);
  ASSERT_FALSE(
      Call(*session, "inject_env", R"({"project_path": ")" + project + R"(", "keys": ["svc"]})")
          .is_error);
  EXPECT_NE(ReadFile(project + "/.env").find(next), std::string::npos);

  Called missing = Call(*session, "rotate_key", R"({"name": "nope", "new_value": "x1"})");
  EXPECT_TRUE(missing.is_error);
  EXPECT_NE(missing.text.find("not_found"), std::string::npos) << missing.text;
  Called no_value = Call(*session, "rotate_key", R"({"name": "svc"})");
  EXPECT_TRUE(no_value.is_error);
  EXPECT_NE(no_value.text.find("arguments.new_value"), std::string::npos) << no_value.text;
  Called empty = Call(*session, "rotate_key", R"({"name": "svc", "new_value": ""})");
  EXPECT_TRUE(empty.is_error);
  EXPECT_NE(empty.text.find("arguments.new_value: must not be empty"), std::string::npos)
      << empty.text;
  EXPECT_EQ(Records(audit::actions::kCredentialRotate).size(), 2u);
}

TEST_F(McpToolsTest, ValueToolsRefuseRolesScopesAndALockedVault) {
  auto member = Open(AgentPrincipal({"**"}, Role::kMember));
  for (const auto& [tool, args] : std::vector<std::pair<std::string, std::string>>{
           {"add_key", R"({"name": "a", "value": "v-canary-1"})"},
           {"vault_secret", R"({"action": "put", "name": "a", "value": "v-canary-1"})"},
           {"create_credential", R"({"name": "a", "value": "v-canary-1", "hosts": ["x.example"]})"},
           {"rotate_and_store", R"({"name": "a"})"}}) {
    Called c = Call(*member, tool, args);
    EXPECT_TRUE(c.is_error) << tool;
    EXPECT_NE(c.text.find("forbidden: your role does not allow this"), std::string::npos)
        << tool << ": " << c.text;
    EXPECT_EQ(c.raw.find("v-canary-1"), std::string::npos) << tool;
  }
  auto agent = Open(AgentPrincipal({"openai/*"}));
  Called outside = Call(*agent, "add_key", R"({"name": "stripe/x", "value": "v-canary-2"})");
  EXPECT_TRUE(outside.is_error);
  EXPECT_NE(outside.text.find("outside the agent's scopes"), std::string::npos) << outside.text;
  Called inside = Call(*agent, "vault_secret",
                       R"({"action": "put", "name": "openai/x", "value": "v-canary-3"})");
  ASSERT_FALSE(inside.is_error) << inside.text;

  ASSERT_TRUE(enclave_->Lock().ok());
  for (const auto& [tool, args] : std::vector<std::pair<std::string, std::string>>{
           {"add_key", R"({"name": "openai/y", "value": "v-canary-4"})"},
           {"rotate_key", R"({"name": "openai/x", "new_value": "v-canary-4"})"},
           {"rotate_and_store", R"({"name": "openai/x"})"}}) {
    Called c = Call(*agent, tool, args);
    EXPECT_TRUE(c.is_error) << tool;
    EXPECT_NE(c.text.find("locked"), std::string::npos) << tool << ": " << c.text;
  }
  ASSERT_TRUE(enclave_->Unlock(token_->user_pin()).ok());
  Called list = Call(*Open(owner_), "list_credentials");
  ASSERT_EQ(json::ChildCount(json::GetArray(list.structured.get(), "credentials")), 1u);
  EXPECT_EQ(json::GetInt(json::GetArray(list.structured.get(), "credentials")->child, "version"),
            1);
}

TEST_F(McpToolsTest, VaultSecretPutGetListRotateDelete) {
  auto session = Open(owner_);
  const std::string put = R"({"action": "put", "name": "openai/default_api_key", "value": ")" +
                          std::string(kCanary) + R"(", "mode": "create", "description": "d",
      "tags": ["ai"], "expiresAt": "2099-01-02T03:04:05+01:00"})";
  Called created = Call(*session, "vault_secret", put);
  ASSERT_FALSE(created.is_error) << created.text;
  EXPECT_EQ(Str(created.structured, "action"), "put");
  EXPECT_EQ(json::GetInt(created.structured.get(), "version"), 1);
  EXPECT_EQ(Str(created.structured, "expiresAt"), "2099-01-02T02:04:05Z");
  EXPECT_EQ(Str(created.structured, "description"), "d");

  Called twice = Call(*session, "vault_secret", put);
  EXPECT_TRUE(twice.is_error);
  EXPECT_NE(twice.text.find("exists"), std::string::npos) << twice.text;
  EXPECT_NE(twice.text.find("upsert"), std::string::npos) << twice.text;
  Called upsert =
      Call(*session, "vault_secret",
           R"({"action": "put", "name": "openai/default_api_key", "value": "v2-canary"})");
  ASSERT_FALSE(upsert.is_error) << upsert.text;
  EXPECT_EQ(json::GetInt(upsert.structured.get(), "version"), 2);

  Called got =
      Call(*session, "vault_secret", R"({"action": "get", "name": "openai/default_api_key"})");
  ASSERT_FALSE(got.is_error) << got.text;
  EXPECT_EQ(Str(got.structured, "masked_value"), "********");
  EXPECT_EQ(json::GetBool(got.structured.get(), "revealed"), false);
  EXPECT_FALSE(Str(got.structured, "fingerprint").empty());
  EXPECT_EQ(json::GetMember(got.structured.get(), "value"), nullptr);

  Called no_purpose =
      Call(*session, "vault_secret",
           R"({"action": "get", "name": "openai/default_api_key", "reveal": true})");
  EXPECT_TRUE(no_purpose.is_error);
  EXPECT_NE(no_purpose.text.find("arguments.purpose"), std::string::npos) << no_purpose.text;
  // No allowedAgentIds at put: nobody may reveal it, the owner neither.
  Called denied = Call(*session, "vault_secret",
                       R"({"action": "get", "name": "openai/default_api_key", "reveal": true,
                           "purpose": "debugging"})");
  EXPECT_TRUE(denied.is_error);
  EXPECT_NE(denied.text.find("policy_denied"), std::string::npos) << denied.text;
  for (const char* hint : {"proxy_request", "inject_env", "keycell run"})
    EXPECT_NE(denied.text.find(hint), std::string::npos) << hint;

  Called list = Call(*session, "vault_secret", R"({"action": "list"})");
  ASSERT_FALSE(list.is_error) << list.text;
  EXPECT_EQ(json::ChildCount(json::GetArray(list.structured.get(), "secrets")), 1u);

  Called rotated =
      Call(*session, "vault_secret",
           R"({"action": "rotate", "name": "openai/default_api_key", "value": "v3-canary"})");
  ASSERT_FALSE(rotated.is_error) << rotated.text;
  EXPECT_EQ(json::GetInt(rotated.structured.get(), "version"), 3);
  Called no_value =
      Call(*session, "vault_secret", R"({"action": "rotate", "name": "openai/default_api_key"})");
  EXPECT_TRUE(no_value.is_error);
  EXPECT_NE(no_value.text.find("arguments.value: required for action rotate"), std::string::npos)
      << no_value.text;
  Called no_name = Call(*session, "vault_secret", R"({"action": "get"})");
  EXPECT_TRUE(no_name.is_error);
  EXPECT_NE(no_name.text.find("arguments.name"), std::string::npos) << no_name.text;
  Called stray =
      Call(*session, "vault_secret",
           R"({"action": "delete", "name": "openai/default_api_key", "value": "v4-canary"})");
  EXPECT_TRUE(stray.is_error);
  EXPECT_NE(stray.text.find("arguments.value"), std::string::npos) << stray.text;
  EXPECT_EQ(stray.raw.find("v4-canary"), std::string::npos);
  Called bad_action = Call(*session, "vault_secret", R"({"action": "peek", "name": "x"})");
  EXPECT_TRUE(bad_action.is_error);
  EXPECT_NE(bad_action.text.find("arguments.action"), std::string::npos) << bad_action.text;

  Called deleted =
      Call(*session, "vault_secret", R"({"action": "delete", "name": "openai/default_api_key"})");
  ASSERT_FALSE(deleted.is_error) << deleted.text;
  EXPECT_EQ(json::GetBool(deleted.structured.get(), "deleted"), true);
  Called gone =
      Call(*session, "vault_secret", R"({"action": "get", "name": "openai/default_api_key"})");
  EXPECT_TRUE(gone.is_error);
  EXPECT_NE(gone.text.find("not_found"), std::string::npos) << gone.text;
  for (const Called* c : {&created, &twice, &upsert, &got, &denied, &list, &rotated})
    for (const char* v : {kCanary, "v2-canary", "v3-canary"})
      EXPECT_EQ(c->raw.find(v), std::string::npos) << v;
}

TEST_F(McpToolsTest, VaultSecretRevealFollowsTheSealedPolicy) {
  auto owner = Open(owner_);
  ASSERT_FALSE(Call(*owner, "vault_secret",
                    R"({"action": "put", "name": "shared/token", "value": ")" +
                        std::string(kCanary) + R"(", "allowedAgentIds": [")" + AgentId() + R"("]})")
                   .is_error);
  const std::string reveal =
      R"({"action": "get", "name": "shared/token", "reveal": true, "purpose": "call the api"})";
  auto agent = Open(AgentPrincipal({"**"}));
  Called shown = Call(*agent, "vault_secret", reveal);
  ASSERT_FALSE(shown.is_error) << shown.text;
  EXPECT_EQ(Str(shown.structured, "value"), kCanary);
  EXPECT_EQ(Str(shown.structured, "encoding"), "utf-8");
  EXPECT_EQ(json::GetBool(shown.structured.get(), "revealed"), true);
  Called key = Call(*agent, "get_key", R"({"name": "shared/token"})");
  ASSERT_FALSE(key.is_error) << key.text;
  EXPECT_EQ(Str(key.structured, "value"), kCanary);

  auto other = Open(AgentPrincipal({"**"}, Role::kAdmin, "other-bot"));
  Called refused = Call(*other, "vault_secret", reveal);
  EXPECT_TRUE(refused.is_error);
  EXPECT_NE(refused.text.find("policy_denied"), std::string::npos) << refused.text;
  for (const char* hint : {"proxy_request", "inject_env", "keycell run"})
    EXPECT_NE(refused.text.find(hint), std::string::npos) << hint;
  EXPECT_EQ(refused.raw.find(kCanary), std::string::npos);
  Called key_refused = Call(*other, "get_key", R"({"name": "shared/token"})");
  EXPECT_TRUE(key_refused.is_error);
  EXPECT_EQ(Str(key_refused.structured, "masked_value"), "********");
  EXPECT_EQ(key_refused.raw.find(kCanary), std::string::npos);
  // A member may not reveal at all (the role table).
  Called member = Call(*Open(AgentPrincipal({"**"}, Role::kMember)), "vault_secret", reveal);
  EXPECT_TRUE(member.is_error);
  EXPECT_NE(member.text.find("forbidden"), std::string::npos) << member.text;

  // Every reveal is audited with its purpose, allowed or refused; never the value.
  const auto reveals = Records(audit::actions::kReveal);
  ASSERT_EQ(reveals.size(), 5u);  // agent x2, other x2, member
  int ok = 0;
  for (const auto& r : reveals) {
    ok += r.result == "ok";
    EXPECT_EQ(r.detail.find(kCanary), std::string::npos);
  }
  EXPECT_EQ(ok, 2);
  bool purpose_seen = false;
  for (const auto& r : reveals) purpose_seen |= r.detail == "purpose: call the api";
  EXPECT_TRUE(purpose_seen);

  // Binary values: base64 in, base64 out (and base64 when the bytes are not text).
  ASSERT_FALSE(Call(*owner, "vault_secret",
                    R"({"action": "put", "name": "bin", "value": "AAEC/w==", "encoding": "base64",
                        "allowedAgentIds": [")" +
                        AgentId() + R"("]})")
                   .is_error);
  Called bin = Call(*agent, "vault_secret",
                    R"({"action": "get", "name": "bin", "reveal": true, "purpose": "p"})");
  ASSERT_FALSE(bin.is_error) << bin.text;
  EXPECT_EQ(Str(bin.structured, "value"), "AAEC/w==");
  EXPECT_EQ(Str(bin.structured, "encoding"), "base64");
  Called bad =
      Call(*owner, "vault_secret",
           R"({"action": "put", "name": "bin2", "value": "not base64!", "encoding": "base64"})");
  EXPECT_TRUE(bad.is_error);
  EXPECT_NE(bad.text.find("arguments.value: not valid base64"), std::string::npos) << bad.text;
}

TEST_F(McpToolsTest, VaultSecretCapsValuesAt64KiB) {
  auto owner = Open(owner_);
  const std::string ids = R"(, "allowedAgentIds": [")" + AgentId() + R"("]})";
  const std::string max(64 * 1024, 'x');
  Called fits = Call(*owner, "vault_secret",
                     R"({"action": "put", "name": "big", "value": ")" + max + "\"" + ids);
  ASSERT_FALSE(fits.is_error) << fits.text;
  Called shown = Call(*Open(AgentPrincipal({"**"})), "vault_secret",
                      R"({"action": "get", "name": "big", "reveal": true, "purpose": "size"})");
  ASSERT_FALSE(shown.is_error) << shown.text;
  EXPECT_EQ(Str(shown.structured, "value"), max);

  Called over = Call(*owner, "vault_secret",
                     R"({"action": "put", "name": "big2", "value": ")" + max + "y\"" + ids);
  EXPECT_TRUE(over.is_error);
  EXPECT_NE(over.text.find("arguments.value: over the 64 KiB cap"), std::string::npos) << over.text;
  EXPECT_LT(over.raw.size(), 2000u);
  const std::string over_b64(87384, 'A');  // 65538 bytes decoded
  Called over_decoded = Call(
      *owner, "vault_secret",
      R"({"action": "put", "name": "big3", "encoding": "base64", "value": ")" + over_b64 + "\"}");
  EXPECT_TRUE(over_decoded.is_error);
  EXPECT_NE(over_decoded.text.find("64 KiB"), std::string::npos) << over_decoded.text;
  Called add = Call(*owner, "add_key", R"({"name": "big4", "value": ")" + max + "z\"}");
  EXPECT_TRUE(add.is_error);
  EXPECT_NE(add.text.find("arguments.value: over the 64 KiB cap"), std::string::npos) << add.text;
  Called list = Call(*owner, "vault_secret", R"({"action": "list"})");
  EXPECT_EQ(json::ChildCount(json::GetArray(list.structured.get(), "secrets")), 1u);
}

TEST_F(McpToolsTest, VaultSecretExpiresAtIsRfc3339) {
  auto owner = Open(owner_);
  auto put = [&](const std::string& at) {
    return Call(
        *owner, "vault_secret",
        R"({"action": "put", "name": "e", "value": "v-canary", "expiresAt": ")" + at + R"("})");
  };
  for (const char* bad :
       {"tomorrow", "2099-02-30T00:00:00Z", "2099-01-01 00:00:00Z", "2099-01-01T00:00:00",
        "2099-01-01T25:00:00Z", "2099-01-01T00:00:00+0100"}) {
    Called c = put(bad);
    EXPECT_TRUE(c.is_error) << bad;
    EXPECT_NE(c.text.find("arguments.expiresAt: not an RFC 3339 date-time"), std::string::npos)
        << bad << ": " << c.text;
  }
  Called past = put("2001-01-01T00:00:00Z");
  EXPECT_TRUE(past.is_error);
  EXPECT_NE(past.text.find("arguments.expiresAt: is in the past"), std::string::npos) << past.text;
  EXPECT_EQ(json::ChildCount(json::GetArray(
                Call(*owner, "vault_secret", R"({"action": "list"})").structured.get(), "secrets")),
            0u);

  Called frac = put("2099-12-31T23:59:59.123Z");
  ASSERT_FALSE(frac.is_error) << frac.text;
  EXPECT_EQ(Str(frac.structured, "expiresAt"), "2099-12-31T23:59:59Z");
  Called offset = put("2099-06-01T00:00:00-05:30");
  ASSERT_FALSE(offset.is_error) << offset.text;
  EXPECT_EQ(Str(offset.structured, "expiresAt"), "2099-06-01T05:30:00Z");
  // The store and the sealed policy carry the Unix time.
  struct tm tm {};
  tm.tm_year = 2099 - 1900;
  tm.tm_mon = 5;
  tm.tm_mday = 1;
  tm.tm_hour = 5;
  tm.tm_min = 30;
  OpResult shown = Run(owner_, "show", R"({"name": "e"})");
  ASSERT_TRUE(shown.ok);
  EXPECT_EQ(json::GetInt(shown.result.get(), "expires_at"), static_cast<int64_t>(timegm(&tm)));
  EXPECT_EQ(json::GetInt(json::GetObject(shown.result.get(), "policy"), "expires_at"),
            static_cast<int64_t>(timegm(&tm)));
}

TEST_F(McpToolsTest, RotateAndStoreGeneratesTheValueInTheEnclave) {
  auto owner = Open(owner_);
  Called put = Call(*owner, "vault_secret",
                    R"({"action": "put", "name": "svc/token", "value": ")" + std::string(kCanary) +
                        R"(", "allowedAgentIds": [")" + AgentId() + R"("]})");
  ASSERT_FALSE(put.is_error) << put.text;
  Called rotated = Call(*owner, "rotate_and_store", R"({"name": "svc/token"})");
  ASSERT_FALSE(rotated.is_error) << rotated.text;
  EXPECT_EQ(json::GetInt(rotated.structured.get(), "version"), 2);
  EXPECT_EQ(json::GetBool(rotated.structured.get(), "generated"), true);
  EXPECT_EQ(json::GetInt(rotated.structured.get(), "length"), 32);
  EXPECT_NE(Str(rotated.structured, "fingerprint"), Str(put.structured, "fingerprint"));

  // The same sealed policy: the allowed agent reveals the generated value.
  auto agent = Open(AgentPrincipal({"**"}));
  const std::string reveal =
      R"({"action": "get", "name": "svc/token", "reveal": true, "purpose": "check"})";
  Called shown = Call(*agent, "vault_secret", reveal);
  ASSERT_FALSE(shown.is_error) << shown.text;
  const std::string value = Str(shown.structured, "value");
  ASSERT_EQ(value.size(), 32u);
  for (char c : value) EXPECT_TRUE(isalnum(static_cast<unsigned char>(c))) << value;
  EXPECT_EQ(rotated.raw.find(value), std::string::npos);

  Called ab =
      Call(*owner, "rotate_and_store", R"({"name": "svc/token", "length": 16, "alphabet": "ab"})");
  ASSERT_FALSE(ab.is_error) << ab.text;
  EXPECT_EQ(json::GetInt(ab.structured.get(), "version"), 3);
  const std::string ab_value = Str(Call(*agent, "vault_secret", reveal).structured, "value");
  ASSERT_EQ(ab_value.size(), 16u);
  EXPECT_EQ(ab_value.find_first_not_of("ab"), std::string::npos) << ab_value;

  Called one_char = Call(*owner, "rotate_and_store", R"({"name": "svc/token", "alphabet": "a"})");
  EXPECT_TRUE(one_char.is_error);
  EXPECT_NE(one_char.text.find("arguments.alphabet"), std::string::npos) << one_char.text;
  Called same_chars =
      Call(*owner, "rotate_and_store", R"({"name": "svc/token", "alphabet": "aaaa"})");
  EXPECT_TRUE(same_chars.is_error);
  EXPECT_NE(same_chars.text.find("cannot generate"), std::string::npos) << same_chars.text;
  Called zero = Call(*owner, "rotate_and_store", R"({"name": "svc/token", "length": 0})");
  EXPECT_TRUE(zero.is_error);
  EXPECT_NE(zero.text.find("arguments.length"), std::string::npos) << zero.text;
  Called missing = Call(*owner, "rotate_and_store", R"({"name": "nope"})");
  EXPECT_TRUE(missing.is_error);
  EXPECT_NE(missing.text.find("not_found"), std::string::npos) << missing.text;
  // Nothing changed by the refusals; the rotations are audited as generated.
  EXPECT_EQ(json::GetInt(Call(*owner, "vault_secret", R"({"action": "get", "name": "svc/token"})")
                             .structured.get(),
                         "version"),
            3);
  int generated = 0;
  for (const auto& r : Records(audit::actions::kCredentialRotate))
    generated += r.detail == "generated";
  EXPECT_EQ(generated, 2);
}

// rotate_and_store seals the generated value under the policy the store has a copy of:
// a copy edited to grant more (here: reveal) than the sealed policy is refused by the
// enclave, and nothing is stored.
TEST_F(McpToolsTest, RotateAndStoreRefusesAStoredPolicyWiderThanTheSealedOne) {
  AddCredential("svc");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((data_ + "/keycell.db").c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(
      db, "UPDATE credential_versions SET policy = json_set(policy, '$.revealable', json('true'))",
      nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << (err != nullptr ? err : "");
  sqlite3_free(err);
  EXPECT_EQ(sqlite3_changes(db), 1);
  sqlite3_close(db);
  auto owner = Open(owner_);
  Called r = Call(*owner, "rotate_and_store", R"({"name": "svc"})");
  EXPECT_TRUE(r.is_error);
  EXPECT_NE(r.text.find("tampered"), std::string::npos) << r.text;
  OpResult shown = Run(owner_, "show", R"({"name": "svc"})");
  ASSERT_TRUE(shown.ok);
  EXPECT_EQ(json::GetInt(shown.result.get(), "latest_version"), 1);
}

TEST_F(McpToolsTest, CreateCredentialMapsTheTypeToAnInjectionRecipe) {
  auto owner = Open(owner_);
  Called no_host = Call(*owner, "create_credential", R"({"name": "r", "value": "v-canary"})");
  EXPECT_TRUE(no_host.is_error);
  EXPECT_NE(no_host.text.find("arguments.hosts"), std::string::npos) << no_host.text;
  Called no_header = Call(*owner, "create_credential",
                          R"({"name": "r", "value": "v-canary", "type": "CUSTOM_HEADER",
                              "hosts": ["api.anthropic.com"]})");
  EXPECT_TRUE(no_header.is_error);
  EXPECT_NE(no_header.text.find("arguments.header_name"), std::string::npos) << no_header.text;
  Called bad_type =
      Call(*owner, "create_credential",
           R"({"name": "r", "value": "v-canary", "type": "OAUTH", "hosts": ["a.example"]})");
  EXPECT_TRUE(bad_type.is_error);
  EXPECT_NE(bad_type.text.find("arguments.type"), std::string::npos) << bad_type.text;

  struct Case {
    const char* args;
    const char* inject;
  };
  for (
      const Case& c : {
          Case{R"("name": "resend", "hosts": ["api.resend.com"])", "bearer"},
          Case{R"("name": "jira", "type": "BASIC_AUTH", "hosts": ["jira.example.com"])", "basic"},
          Case{R"("name": "x", "type": "COOKIE", "hosts": ["x.com"])", "cookie"},
          Case{
              R"("name": "claude", "type": "CUSTOM_HEADER", "header_name": "x-api-key", "hosts": ["api.anthropic.com"])",
              "header:x-api-key"},
          Case{
              R"("name": "maps", "type": "QUERY_PARAM", "param_name": "key", "hosts": ["maps.example.com"])",
              "query:key"},
      }) {
    Called created =
        Call(*owner, "create_credential", std::string("{") + c.args + R"(, "value": "v-canary"})");
    ASSERT_FALSE(created.is_error) << c.args << ": " << created.text;
    EXPECT_EQ(created.raw.find("v-canary"), std::string::npos);
    OpResult shown =
        Run(owner_, "show", R"({"name": ")" + Str(created.structured, "name") + R"("})");
    ASSERT_TRUE(shown.ok);
    EXPECT_EQ(json::GetString(json::GetObject(shown.result.get(), "policy"), "inject"), c.inject)
        << c.args;
    EXPECT_EQ(json::GetBool(json::GetObject(shown.result.get(), "policy"), "revealable"), false);
  }
  Called exists = Call(*owner, "create_credential",
                       R"({"name": "resend", "value": "v-canary", "hosts": ["api.resend.com"]})");
  EXPECT_TRUE(exists.is_error);
  EXPECT_NE(exists.text.find("exists"), std::string::npos) << exists.text;
  // A known provider brings its host and recipe.
  Called openai = Call(*owner, "create_credential",
                       R"({"name": "oa", "value": "v-canary", "provider": "openai"})");
  ASSERT_FALSE(openai.is_error) << openai.text;
}

// After every tool that takes a value, the value is nowhere on keycelld's side: not in
// its log (at debug level), not in the audit trail or any other file of the data
// directory, not in any reply. Where it went is checked too: the enclave wrote each into
// a .env outside the data directory.
TEST_F(McpToolsTest, ValuesInArgumentsLeaveNoPlaintextBehind) {
  SetLogLevel(LogLevel::kDebug);
  StderrCapture log(token_->dir() + "/keycelld.log");
  auto owner = Open(owner_);
  const std::vector<std::string> canaries = {"cnry-add-key-0a1b2c3d", "cnry-rotate-key-4e5f6a7b",
                                             "cnry-put-8c9d0e1f", "cnry-vs-rotate-2a3b4c5d",
                                             "cnry-create-6e7f8a9b"};
  std::vector<Called> replies;
  replies.push_back(
      Call(*owner, "add_key", R"({"name": "k1", "value": ")" + canaries[0] + R"("})"));
  replies.push_back(Call(*owner, "add_key", R"({"name": "k2", "value": "placeholder-x"})"));
  replies.push_back(
      Call(*owner, "rotate_key", R"({"name": "k2", "new_value": ")" + canaries[1] + R"("})"));
  replies.push_back(Call(*owner, "vault_secret",
                         R"({"action": "put", "name": "k3", "value": ")" + canaries[2] + R"("})"));
  replies.push_back(
      Call(*owner, "vault_secret", R"({"action": "put", "name": "k4", "value": "p-y"})"));
  replies.push_back(
      Call(*owner, "vault_secret",
           R"({"action": "rotate", "name": "k4", "value": ")" + canaries[3] + R"("})"));
  replies.push_back(
      Call(*owner, "create_credential",
           R"({"name": "k5", "value": ")" + canaries[4] + R"(", "hosts": ["a.example"]})"));
  replies.push_back(Call(*owner, "rotate_and_store", R"({"name": "k1"})"));
  replies.push_back(Call(*owner, "vault_secret", R"({"action": "get", "name": "k3"})"));
  replies.push_back(Call(*owner, "get_key", R"({"name": "k2"})"));
  const std::string logged = log.Stop();
  SetLogLevel(LogLevel::kInfo);
  for (size_t i = 0; i + 2 < replies.size(); ++i)
    EXPECT_FALSE(replies[i].is_error) << replies[i].text;
  EXPECT_NE(logged.find("event=add"), std::string::npos) << logged;  // the capture worked
  EXPECT_NE(logged.find("event=rotate"), std::string::npos);
  for (const std::string& c : canaries) {
    EXPECT_EQ(logged.find(c), std::string::npos) << c;
    for (const Called& r : replies) EXPECT_EQ(r.raw.find(c), std::string::npos) << c;
    std::vector<std::string> hits;
    int files = 0;
    FilesContaining(data_, c, &hits, &files);
    EXPECT_GT(files, 2);
    EXPECT_TRUE(hits.empty()) << c << " in " << hits.front();
  }
  // The enclave holds what was sent: the exportable ones come out into a .env.
  const std::string project = token_->dir() + "/out";
  ASSERT_EQ(mkdir(project.c_str(), 0700), 0);
  Called env = Call(*owner, "inject_env",
                    R"({"project_path": ")" + project + R"(", "keys": ["k2", "k3", "k4"]})");
  ASSERT_FALSE(env.is_error) << env.text;
  const std::string dotenv = ReadFile(project + "/.env");
  for (size_t i : {1u, 2u, 3u}) EXPECT_NE(dotenv.find(canaries[i]), std::string::npos) << i;
}

}  // namespace
}  // namespace keycell::broker::daemon

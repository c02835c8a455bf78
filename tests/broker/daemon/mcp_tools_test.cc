// keycell's MCP tools (broker/daemon/mcp_tools.h) in process, over an mcp::Session, with
// the real enclave, a SoftHSM2 token and real SQLite files (the fixture of
// vault_authz_test.cc): tools/list for each tool set, the calls that map onto ops, the
// refusals (scopes, roles, locked vault, bad input) as isError results, and no value in
// any reply.

#include "broker/daemon/mcp_tools.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <set>
#include <string>
#include <vector>

#include "broker/audit/audit_log.h"
#include "broker/daemon/proxy_service.h"
#include "broker/daemon/vault.h"
#include "broker/identity/identity_store.h"
#include "broker/mcp/server.h"
#include "broker/webhooks/delivery_worker.h"
#include "tests/support/enclave_launch.h"
#include "tests/support/softhsm_fixture.h"
#include "tests/support/status_testing.h"
#include "tests/support/upstream/https_upstream.h"

namespace keycell::broker::daemon {
namespace {

using identity::Principal;
using identity::PrincipalKind;
using identity::Role;

constexpr char kCanary[] = "sk-canary-value-9f8e7d6c5b4a";

UniqueFd PipeWith(std::string_view value) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return UniqueFd();
  (void)!write(p[1], value.data(), value.size());
  close(p[1]);
  return UniqueFd(p[0]);
}

Principal KeyPrincipal(Role role) {
  Principal p;
  p.kind = PrincipalKind::kApiKey;
  p.role = role;
  p.id = "0123456789abcdef";
  return p;
}

// An agent's API key (what KEYCELL_AGENT_TOKEN carries), limited to `scopes`.
Principal AgentPrincipal(std::vector<std::string> scopes, Role role = Role::kAdmin) {
  Principal p = KeyPrincipal(role);
  p.agent_id = "agt_0000000000000001";
  p.agent_name = "bot";
  p.scopes = std::move(scopes);
  return p;
}

// One tools/call's CallToolResult, and the raw reply (for "no secret in it" checks).
struct Called {
  std::string raw;
  bool is_error = false;
  std::string text;  // every text item, joined with "\n"
  json::Json structured;
};

class McpToolsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = test::TempToken::Create();
    ASSERT_TRUE(t.ok()) << t.status().where();
    token_ = std::move(*t);
    data_ = token_->dir() + "/data";
    EnclaveLaunch launch = test::LaunchFor(*token_, KEYCELL_ENCLAVE_PATH);
    launch.extra_ca_file = ExtraCaFile();
    auto c = EnclaveClient::Start(launch);
    ASSERT_TRUE(c.ok()) << c.status().where();
    enclave_ = std::move(*c);
    auto s = store::Store::Open(data_ + "/keycell.db");
    ASSERT_TRUE(s.ok()) << s.status().where();
    store_ = std::move(*s);
    auto ids = identity::IdentityStore::Open(identity::IdentityDbPath(data_));
    ASSERT_TRUE(ids.ok()) << ids.status().where();
    identities_ = std::move(*ids);
    auto log = audit::AuditLog::Open(audit::AuditLog::PathIn(data_));
    ASSERT_TRUE(log.ok()) << log.status().where();
    audit_ = std::move(*log);
    limiter_ = std::make_unique<identity::UnlockLimiter>(identity::SystemClock(), 5);
    auto hooks = webhooks::WebhookStore::Open(webhooks::WebhookStore::PathIn(data_));
    ASSERT_TRUE(hooks.ok()) << hooks.status().where();
    hook_store_ = std::move(*hooks);
    webhooks::DeliveryWorker::Options delivery;
    delivery.retry_backoff_ms = {10, 20, 40};
    EnclaveClient* enclave = enclave_.get();
    auto worker = webhooks::DeliveryWorker::Start(
        hook_store_.get(),
        [enclave](const webhooks::Webhook& h, ByteView body) {
          return enclave->Hmac(
              RefOf(h.secret_ref.record_id, h.secret_ref.version, h.secret_ref.name),
              h.sealed_secret, body);
        },
        delivery);
    ASSERT_TRUE(worker.ok()) << worker.status().where();
    worker_ = std::move(*worker);
    dispatcher_ = std::make_unique<webhooks::Dispatcher>(hook_store_.get(), worker_.get());
    vault_ = std::make_unique<Vault>(VaultDeps{*store_, *enclave_, *identities_, *audit_, *limiter_,
                                               *hook_store_, *dispatcher_, data_});
    ASSERT_TRUE(enclave_->Unlock(token_->user_pin()).ok());
    owner_ = identity::OwnerPrincipal(getuid());
  }

  OpResult Run(const Principal& who, std::string_view op, const std::string& args_json,
               UniqueFd fd = UniqueFd()) {
    auto args = json::ParseJson(args_json);
    EXPECT_TRUE(args.ok()) << args_json;
    return vault_->Dispatch(who, op, args->get(), std::move(fd));
  }

  void AddCredential(const std::string& name, std::string_view value = kCanary) {
    OpResult r = Run(
        owner_, "add",
        R"({"name": ")" + name +
            R"(", "policy": {"hosts": ["api.example.com"], "inject": "bearer", "env_export": true}})",
        PipeWith(value));
    ASSERT_TRUE(r.ok) << r.error.message;
  }

  std::vector<audit::Record> Records(const std::string& action) {
    audit::Filter f;
    f.action = action;
    auto r = audit_->Query(f);
    EXPECT_TRUE(r.ok());
    return r.ok() ? std::move(*r) : std::vector<audit::Record>{};
  }

  // The upstream CA the enclave trusts besides the system's; none by default.
  virtual std::string ExtraCaFile() { return ""; }

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

  std::unique_ptr<test::TempToken> token_;
  std::string data_;
  std::unique_ptr<EnclaveClient> enclave_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<identity::IdentityStore> identities_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<identity::UnlockLimiter> limiter_;
  std::unique_ptr<webhooks::WebhookStore> hook_store_;
  std::unique_ptr<webhooks::DeliveryWorker> worker_;
  std::unique_ptr<webhooks::Dispatcher> dispatcher_;
  std::unique_ptr<Vault> vault_;
  Principal owner_;
};

std::set<std::string> Names(const cJSON* tools) {
  std::set<std::string> out;
  for (const cJSON* t : json::Children(tools)) out.emplace(json::GetString(t, "name").value_or(""));
  return out;
}

const std::set<std::string> kPushkey = {"unlock_vault", "lock_vault",    "list_keys", "get_key",
                                        "check_health", "list_projects", "assign_key"};
const std::set<std::string> kAgentKeys = {
    "list_credentials", "delete_credential", "list_agents",  "create_agent",
    "delete_agent",     "assign_credential", "proxy_request"};
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
  EXPECT_EQ(Names(tools.get()), Union({kPushkey, kAgentKeys, kCommon}));
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
    const std::set<std::string> destroyers = {"delete_credential", "delete_agent",
                                              "assign_credential", "proxy_request"};
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

  auto agentkeys = Open(owner_, McpToolOptions{.tool_sets = {"agentkeys"}});
  EXPECT_EQ(Names(List(*agentkeys).get()), Union({kAgentKeys, kCommon}));
  auto pushkey =
      Open(AgentPrincipal({"**"}), McpToolOptions{.tool_sets = {"pushkey", "vault_secret"}});
  EXPECT_EQ(Names(List(*pushkey).get()), Union({kPushkey, kCommon}));
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

}  // namespace
}  // namespace keycell::broker::daemon

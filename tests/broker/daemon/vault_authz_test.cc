// The Vault's gatekeeping, in process with the real enclave, a SoftHSM2 token and real
// SQLite files: every op × every role against the role table, proxy tokens refused on
// the control ops, agent scopes, and the audit record each op leaves (never a value or
// token).

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "broker/audit/audit_log.h"
#include "broker/daemon/vault.h"
#include "broker/identity/identity_store.h"
#include "tests/support/softhsm_fixture.h"
#include "tests/support/status_testing.h"

namespace keycell::broker::daemon {
namespace {

using identity::Action;
using identity::Principal;
using identity::PrincipalKind;
using identity::Role;

constexpr char kCanary[] = "sk-canary-value-9f8e7d6c5b4a";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A pipe's read end holding `value`, as the CLI hands a value to keycelld.
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

class VaultAuthzTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = test::TempToken::Create();
    ASSERT_TRUE(t.ok()) << t.status().where();
    token_ = std::move(*t);
    data_ = token_->dir() + "/data";
    EnclaveLaunch l;
    l.enclave_path = KEYCELL_ENCLAVE_PATH;
    l.module_path = test::TempToken::module_path();
    l.token_label = token_->label();
    l.token_dirs = {token_->dir() + "/tokens"};
    l.read_files = {token_->conf_path()};
    l.env = {{"SOFTHSM2_CONF", token_->conf_path()}};
    auto c = EnclaveClient::Start(l);
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
    vault_ = std::make_unique<Vault>(VaultDeps{*store_, *enclave_, *identities_, *audit_, *limiter_, data_});
    ASSERT_TRUE(enclave_->Unlock(token_->user_pin()).ok());
    owner_ = identity::OwnerPrincipal(getuid());
  }

  OpResult Run(const Principal& who, std::string_view op, const std::string& args_json, UniqueFd fd = UniqueFd()) {
    auto args = json::ParseJson(args_json);
    EXPECT_TRUE(args.ok()) << args_json;
    return vault_->Dispatch(who, op, args->get(), std::move(fd));
  }

  void AddCredential(const std::string& name, std::string_view value = kCanary) {
    OpResult r = Run(owner_, "add", R"({"name": ")" + name + R"(", "policy": {"hosts": ["api.example.com"], "inject": "bearer", "env_export": true}})",
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

  std::unique_ptr<test::TempToken> token_;
  std::string data_;
  std::unique_ptr<EnclaveClient> enclave_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<identity::IdentityStore> identities_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<identity::UnlockLimiter> limiter_;
  std::unique_ptr<Vault> vault_;
  Principal owner_;
};

// Arguments that name something that does not exist, so an allowed op fails for another
// reason (not found, invalid) and changes nothing; only "forbidden" is the role table's.
constexpr char kHarmlessArgs[] =
    R"({"name": "no-such", "credential": "no-such", "agent": "no-such", "id": "0000000000000000",
        "prefix": "pxr_000000000", "path": "/nonexistent", "keys": ["no-such"], "to": 99,
        "file": "/nonexistent/x", "limit": 1})";

TEST_F(VaultAuthzTest, EveryOpFollowsTheRoleTableForEveryRole) {
  for (Role role : {Role::kMember, Role::kAdmin, Role::kOwner}) {
    for (const OpInfo& op : VaultOps()) {
      if (op.name == "lock") continue;  // checked below: it would end the test's session
      const OpResult r = Run(KeyPrincipal(role), op.name, kHarmlessArgs);
      const bool forbidden = !r.ok && r.error.code == "forbidden";
      EXPECT_EQ(forbidden, !identity::Allowed(role, op.action))
          << identity::RoleName(role) << " " << op.name << ": " << r.error.code << " " << r.error.message;
      if (forbidden) {
        EXPECT_EQ(r.error.exit_code, kExitPolicyDenied);
      }
    }
    const OpResult lock = Run(KeyPrincipal(role), "lock", "{}");
    EXPECT_EQ(lock.ok, identity::Allowed(role, Action::kLock)) << identity::RoleName(role);
    if (lock.ok) {
      ASSERT_TRUE(enclave_->Unlock(token_->user_pin()).ok());
    }
  }
}

TEST_F(VaultAuthzTest, ProxyTokensAreRefusedEveryControlOp) {
  AddCredential("openai/prod");
  Principal tok;
  tok.kind = PrincipalKind::kToken;
  tok.role = Role::kOwner;  // even an owner's agent token is a capability for one use
  tok.id = "pxr_AAAAAAAA";
  tok.agent_id = "agt_0000000000000000";
  tok.agent_name = "bot";
  tok.scopes = {"**"};
  tok.credential = "openai/prod";
  for (const OpInfo& op : VaultOps()) {
    const OpResult r = Run(tok, op.name, R"({"name": "openai/prod", "keys": ["openai/prod"], "path": "/tmp"})");
    EXPECT_FALSE(r.ok) << op.name;
    EXPECT_EQ(r.error.code, "forbidden") << op.name << ": " << r.error.message;
  }
}

TEST_F(VaultAuthzTest, AgentScopesLimitListShowAndUse) {
  AddCredential("openai/prod");
  AddCredential("openai/test");
  AddCredential("stripe-prod");
  Principal agent = KeyPrincipal(Role::kAdmin);
  agent.agent_id = "agt_0000000000000001";
  agent.agent_name = "bot";
  agent.scopes = {"openai/*"};

  OpResult list = Run(agent, "list", "{}");
  ASSERT_TRUE(list.ok);
  std::vector<std::string> names;
  for (const cJSON* c : json::Children(list.result.get())) names.emplace_back(*json::GetString(c, "name"));
  EXPECT_EQ(names, (std::vector<std::string>{"openai/prod", "openai/test"}));

  EXPECT_TRUE(Run(agent, "show", R"({"name": "openai/prod"})").ok);
  OpResult show = Run(agent, "show", R"({"name": "stripe-prod"})");
  EXPECT_EQ(show.error.code, "forbidden");
  EXPECT_EQ(Run(agent, "rotate", R"({"name": "stripe-prod"})", PipeWith("x")).error.code, "forbidden");

  // run with a credential outside the scopes: refused as a whole, nothing written.
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  UniqueFd read_end(p[0]);
  OpResult run = Run(agent, "run", R"({"keys": ["openai/prod", "stripe-prod"]})", UniqueFd(p[1]));
  EXPECT_FALSE(run.ok);
  EXPECT_EQ(run.error.exit_code, kExitPolicyDenied) << run.error.message;
  char buf[8];
  EXPECT_EQ(read(read_end.get(), buf, sizeof(buf)), 0);  // EOF: the enclave wrote nothing
}

TEST_F(VaultAuthzTest, AdminCannotMintOwnerKeysOrActForAnotherAgent) {
  OpResult r = Run(KeyPrincipal(Role::kAdmin), "apikeys.create", R"({"name": "x", "role": "owner"})");
  EXPECT_EQ(r.error.code, "forbidden") << r.error.message;
  EXPECT_TRUE(Run(KeyPrincipal(Role::kAdmin), "apikeys.create", R"({"name": "x", "role": "admin"})").ok);
  ASSERT_TRUE(Run(owner_, "agents.create", R"({"name": "a1"})").ok);
  ASSERT_TRUE(Run(owner_, "agents.create", R"({"name": "a2"})").ok);
  auto a1 = identities_->GetAgent("a1");
  ASSERT_TRUE(a1.ok());
  Principal bound = KeyPrincipal(Role::kAdmin);
  bound.agent_id = a1->id;
  bound.agent_name = "a1";
  EXPECT_EQ(Run(bound, "apikeys.create", R"({"name": "y", "agent": "a2"})").error.code, "forbidden");
  EXPECT_TRUE(Run(bound, "apikeys.create", R"({"name": "y", "agent": "a1"})").ok);
}

TEST_F(VaultAuthzTest, AssignIssuesATokenThatAuthenticatesAndGrantsTheScope) {
  AddCredential("openai/prod");
  ASSERT_TRUE(Run(owner_, "agents.create", R"({"name": "bot"})").ok);
  OpResult r = Run(owner_, "agents.assign", R"({"agent": "bot", "credential": "openai/prod", "expires_in_seconds": 3600})");
  ASSERT_TRUE(r.ok) << r.error.message;
  EXPECT_TRUE(*json::GetBool(r.result.get(), "scope_added"));
  const std::string token(*json::GetString(r.result.get(), "token"));
  auto who = identities_->AuthenticateBearer(token);
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(who->credential, "openai/prod");
  EXPECT_TRUE(identity::Authorize(*who, Action::kUse, "openai/prod").ok());

  // Unknown credential: refused, no token issued.
  EXPECT_EQ(Run(owner_, "agents.assign", R"({"agent": "bot", "credential": "nope"})").error.code, "not_found");
  // Revocation: the next authentication fails.
  ASSERT_TRUE(Run(owner_, "tokens.revoke", R"({"prefix": ")" + token.substr(0, 12) + R"("})").ok);
  EXPECT_FALSE(identities_->AuthenticateBearer(token).ok());
  // Deleting the agent reports its tokens.
  OpResult rm = Run(owner_, "agents.rm", R"({"agent": "bot"})");
  ASSERT_TRUE(rm.ok);
}

TEST_F(VaultAuthzTest, EveryAuditedOpLeavesARecordWithoutSecrets) {
  AddCredential("openai/prod");
  ASSERT_TRUE(Run(owner_, "rotate", R"({"name": "openai/prod"})", PipeWith("sk-canary-rotated-1a2b3c4d")).ok);
  ASSERT_TRUE(Run(owner_, "rollback", R"({"name": "openai/prod", "to": 1})").ok);
  ASSERT_TRUE(Run(owner_, "agents.create", R"({"name": "bot"})").ok);
  OpResult tok = Run(owner_, "agents.assign", R"({"agent": "bot", "credential": "openai/prod"})");
  ASSERT_TRUE(tok.ok);
  const std::string token(*json::GetString(tok.result.get(), "token"));
  OpResult key = Run(owner_, "apikeys.create", R"({"name": "ci", "role": "member"})");
  ASSERT_TRUE(key.ok);
  const std::string api_key(*json::GetString(key.result.get(), "key"));
  const std::string key_id(*json::GetString(key.result.get(), "id"));
  ASSERT_TRUE(Run(owner_, "apikeys.revoke", R"({"id": ")" + key_id + R"("})").ok);
  ASSERT_TRUE(Run(owner_, "apikeys.delete", R"({"id": ")" + key_id + R"("})").ok);
  ASSERT_TRUE(Run(owner_, "tokens.revoke", R"({"prefix": ")" + token.substr(0, 12) + R"("})").ok);
  {
    int p[2];
    ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
    UniqueFd read_end(p[0]);
    ASSERT_TRUE(Run(owner_, "run", R"({"keys": ["openai/prod"]})", UniqueFd(p[1])).ok);
  }
  // A refused op is audited too, as "forbidden".
  EXPECT_FALSE(Run(KeyPrincipal(Role::kMember), "rm", R"({"name": "openai/prod"})").ok);
  ASSERT_TRUE(Run(owner_, "agents.rm", R"({"agent": "bot"})").ok);
  ASSERT_TRUE(Run(owner_, "rm", R"({"name": "openai/prod"})").ok);
  ASSERT_TRUE(Run(owner_, "lock", "{}").ok);

  for (const char* action : {"credential.add", "credential.rotate", "credential.rollback", "agent.create",
                             "token.create", "apikey.create", "apikey.revoke", "apikey.delete", "token.revoke",
                             "run", "agent.delete", "credential.delete", "lock"}) {
    EXPECT_FALSE(Records(action).empty()) << action;
  }
  const auto rotated = Records("credential.rotate");
  ASSERT_EQ(rotated.size(), 1u);
  EXPECT_EQ(rotated[0].credential, "openai/prod");
  EXPECT_EQ(rotated[0].version, 2);
  EXPECT_EQ(rotated[0].actor_kind, audit::ActorKind::kUid);
  EXPECT_EQ(rotated[0].actor, std::to_string(getuid()));
  const auto deletes = Records("credential.delete");
  ASSERT_EQ(deletes.size(), 2u);  // newest first: the owner's, then the member's refusal
  EXPECT_EQ(deletes[0].result, "ok");
  EXPECT_EQ(deletes[1].result, "forbidden");
  EXPECT_EQ(deletes[1].actor_kind, audit::ActorKind::kApiKey);

  // Neither values nor the token or key are in the audit or identity files (WAL included).
  for (const char* f : {"audit.db", "audit.db-wal", "identity.db", "identity.db-wal"}) {
    const std::string bytes = ReadFile(data_ + "/" + std::string(f));
    EXPECT_EQ(bytes.find(kCanary), std::string::npos) << f;
    EXPECT_EQ(bytes.find("sk-canary-rotated"), std::string::npos) << f;
    EXPECT_EQ(bytes.find(token), std::string::npos) << f;
    EXPECT_EQ(bytes.find(api_key), std::string::npos) << f;
  }
}

TEST_F(VaultAuthzTest, RevealIsAuditedWithItsPurpose) {
  OpResult add = Run(owner_, "add", R"({"name": "db-pass", "policy": {"revealable": true}})", PipeWith(kCanary));
  ASSERT_TRUE(add.ok) << add.error.message;
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  UniqueFd read_end(p[0]);
  ASSERT_TRUE(Run(owner_, "get", R"({"name": "db-pass", "purpose": "migrate the db"})", UniqueFd(p[1])).ok);
  const auto reveals = Records("reveal");
  ASSERT_EQ(reveals.size(), 1u);
  EXPECT_EQ(reveals[0].detail, "purpose: migrate the db");
  EXPECT_EQ(reveals[0].version, 1);
  EXPECT_EQ(ReadFile(data_ + "/audit.db-wal").find(kCanary), std::string::npos);
}

TEST_F(VaultAuthzTest, CheckpointsAreSealedByTheEnclaveAndVerify) {
  AddCredential("openai/prod");
  ASSERT_TRUE(vault_->CheckpointAudit(/*now=*/true));
  OpResult v = Run(owner_, "audit.verify", "{}");
  ASSERT_TRUE(v.ok);
  EXPECT_TRUE(*json::GetBool(v.result.get(), "ok"));
  EXPECT_TRUE(*json::GetBool(v.result.get(), "macs_checked"));
  EXPECT_EQ(*json::GetInt(v.result.get(), "checkpoints"), 1);
  // The key exists only sealed; a second vault on the same data dir uses the same key.
  EXPECT_FALSE(ReadFile(data_ + "/audit-key.sealed").empty());
}

TEST_F(VaultAuthzTest, UnlockAttemptsAreLimited) {
  ASSERT_TRUE(enclave_->Lock().ok());
  int last_exit = 0;
  for (int i = 0; i < 6; ++i) {
    OpResult r = Run(owner_, "unlock", "{}", PipeWith("0000\n"));
    ASSERT_FALSE(r.ok);
    last_exit = r.error.exit_code;
    if (i < 5) {
      EXPECT_EQ(r.error.exit_code, kExitBadPin) << i << " " << r.error.message;
    }
  }
  EXPECT_EQ(last_exit, kExitRateLimited);
  // The refused attempt never reached the token: the right PIN is refused too until the
  // minute is over.
  EXPECT_EQ(Run(owner_, "unlock", "{}", PipeWith("1234\n")).error.code, "rate_limited");
  EXPECT_FALSE(enclave_->unlocked());
}

}  // namespace
}  // namespace keycell::broker::daemon

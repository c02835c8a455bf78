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

#include "broker/daemon/proxy_service.h"
#include "tests/broker/daemon/daemon_fixture.h"
#include "tests/broker/webhooks/test_receiver.h"
#include "tests/support/status_testing.h"

#include <mbedtls/md.h>

namespace keycell::broker::daemon {
namespace {

using identity::Action;
using identity::Principal;
using identity::PrincipalKind;
using identity::Role;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Principal KeyPrincipal(Role role) {
  Principal p;
  p.kind = PrincipalKind::kApiKey;
  p.role = role;
  p.id = "0123456789abcdef";
  return p;
}

class VaultAuthzTest : public DaemonTest {
 protected:
  bool StartUnlocked() override { return true; }
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

std::string HexOf(const uint8_t* b, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += kHex[b[i] >> 4];
    out += kHex[b[i] & 15];
  }
  return out;
}

// Adds a webhook through the op, as the CLI does: the enclave writes the secret it
// generated into our pipe, once.
std::string AddWebhook(VaultAuthzTest* t, Vault& vault, const Principal& owner, uint16_t port,
                       const std::string& events, std::string* id) {
  int p[2];
  EXPECT_EQ(pipe2(p, O_CLOEXEC), 0);
  UniqueFd read_end(p[0]);
  auto args = json::ParseJson(R"({"url": "http://127.0.0.1:)" + std::to_string(port) + R"(/hook", "events": )" + events + "}");
  OpResult r = vault.Dispatch(owner, "webhooks.add", args->get(), UniqueFd(p[1]));
  EXPECT_TRUE(r.ok) << r.error.message;
  (void)t;
  *id = std::string(json::GetString(r.result.get(), "id").value_or(""));
  char buf[128];
  const ssize_t n = read(read_end.get(), buf, sizeof(buf));
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

TEST_F(VaultAuthzTest, WebhookSecretIsMadeInTheEnclaveAndSignsTheRawBody) {
  auto receiver = webhooks::test::TestReceiver::Start();
  ASSERT_NE(receiver, nullptr);
  std::string id;
  const std::string secret = AddWebhook(this, *vault_, owner_, receiver->port(), R"(["credential.error"])", &id);
  ASSERT_EQ(secret.size(), 40u);
  ASSERT_EQ(id.rfind("whk_", 0), 0u);

  OpResult sent = Run(owner_, "webhooks.test", R"({"id": ")" + id + R"("})");
  ASSERT_TRUE(sent.ok) << sent.error.message;
  EXPECT_EQ(*json::GetString(sent.result.get(), "result"), "delivered");
  const auto got = receiver->requests();
  ASSERT_EQ(got.size(), 1u);
  // The test computes the HMAC itself, with the secret the human was shown.
  uint8_t mac[32];
  ASSERT_EQ(mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
                            reinterpret_cast<const uint8_t*>(secret.data()), secret.size(),
                            reinterpret_cast<const uint8_t*>(got[0].body.data()), got[0].body.size(), mac),
            0);
  EXPECT_EQ(got[0].headers.at("x-keycell-signature"), "sha256=" + HexOf(mac, sizeof(mac)));
  EXPECT_NE(got[0].body.find("\"event\":\"webhook.test\""), std::string::npos) << got[0].body;

  // The secret is nowhere keycelld writes.
  for (const char* f : {"webhooks.db", "webhooks.db-wal", "audit.db", "audit.db-wal"})
    EXPECT_EQ(ReadFile(data_ + "/" + std::string(f)).find(secret), std::string::npos) << f;
  EXPECT_FALSE(Records("webhook.add").empty());
  EXPECT_FALSE(Records("webhook.test").empty());

  // Bad input changes nothing.
  EXPECT_EQ(Run(owner_, "webhooks.add", R"({"url": "http://example.com/hook", "events": ["credential.error"]})",
                PipeWith("")).error.code, "policy_denied");
  EXPECT_EQ(Run(owner_, "webhooks.add", R"({"url": "http://127.0.0.1:1/x", "events": ["nope"]})", PipeWith("")).error.code,
            "invalid");
  OpResult list = Run(owner_, "webhooks.list", "{}");
  ASSERT_TRUE(list.ok);
  EXPECT_EQ(json::ChildCount(list.result.get()), 1);
  ASSERT_TRUE(Run(owner_, "webhooks.rm", R"({"id": ")" + id + R"("})").ok);
  EXPECT_EQ(Run(owner_, "webhooks.test", R"({"id": ")" + id + R"("})").error.code, "not_found");
}

TEST_F(VaultAuthzTest, ExpiryEventsFireOncePerCredentialAndState) {
  auto receiver = webhooks::test::TestReceiver::Start();
  ASSERT_NE(receiver, nullptr);
  std::string id;
  ASSERT_FALSE(AddWebhook(this, *vault_, owner_, receiver->port(),
                          R"(["credential.expiring_soon", "credential.expired"])", &id).empty());
  const int64_t in_three_days = NowSeconds() + 3 * 24 * 3600;
  OpResult add = Run(owner_, "add", R"({"name": "stripe-prod", "expires_at": )" + std::to_string(in_three_days) +
                                        R"(, "policy": {"hosts": ["api.stripe.com"], "inject": "bearer"}})",
                     PipeWith(kCanary));
  ASSERT_TRUE(add.ok) << add.error.message;
  EXPECT_EQ(vault_->FireDueExpiry(false), 1u);  // the add marked the expiries as changed
  ASSERT_TRUE(receiver->WaitForRequests(1, std::chrono::seconds(10)));
  EXPECT_NE(receiver->requests()[0].body.find("credential.expiring_soon"), std::string::npos);
  EXPECT_NE(receiver->requests()[0].body.find("\"credential\":\"stripe-prod\""), std::string::npos);
  // Once: neither the next tick nor a forced check fires it again.
  EXPECT_EQ(vault_->FireDueExpiry(false), 0u);
  EXPECT_EQ(vault_->FireDueExpiry(true), 0u);
  ASSERT_TRUE(worker_->WaitIdle(std::chrono::seconds(5)));
  EXPECT_EQ(receiver->requests().size(), 1u);
}

// The `proxy` op's own checks, none of which reaches the network: malformed arguments are
// bad_request (exit 2), a bad token is unauthorized (audited by prefix), a host outside the
// policy is forbidden. The op itself adds no audit record: ProxyService writes one "proxy"
// record per call it was given, refusals included.
TEST_F(VaultAuthzTest, ProxyOpRefusesBadArgumentsBeforeAnyCall) {
  AddCredential("openai/prod");
  ProxyChannels channels(*enclave_);
  ProxyService proxy(*vault_, channels, *dispatcher_, proxy::RouteConfig{}, ProxySettings{});
  vault_->SetProxy(&proxy);
  auto expect_bad_request = [&](const std::string& args, std::string_view says) {
    OpResult r = Run(owner_, "proxy", args);
    EXPECT_FALSE(r.ok) << args;
    EXPECT_EQ(r.error.code, "bad_request") << args << ": " << r.error.message;
    EXPECT_EQ(r.error.exit_code, kExitUsage) << args;
    EXPECT_NE(r.error.message.find(says), std::string::npos) << args << ": " << r.error.message;
  };
  expect_bad_request(R"({"credential": "openai/prod", "url": "ftp://api.example.com/x"})", "scheme");
  expect_bad_request(R"({"credential": "openai/prod", "url": "https://user@api.example.com/"})", "userinfo");
  expect_bad_request(R"({"credential": "openai/prod", "url": "https://api.example.com/a b"})", "the URL");
  expect_bad_request(R"({"credential": "openai/prod"})", "url");
  expect_bad_request(R"({"url": "https://api.example.com/"})", "credential name is required");
  const std::string call = R"("credential": "openai/prod", "url": "https://api.example.com/")";
  expect_bad_request("{" + call + R"(, "method": "TRACE"})", "method");
  expect_bad_request("{" + call + R"(, "headers": [["A"]]})", "headers");
  expect_bad_request("{" + call + R"(, "headers": [["A", "x\r\nB: y"]]})", "header value");
  expect_bad_request("{" + call + R"(, "body_base64": "!!"})", "base64");

  const std::string token = "pxr_" + std::string(43, 'A');
  OpResult bad_token = Run(owner_, "proxy", R"({"token": ")" + token + R"(", "url": "https://api.example.com/"})");
  EXPECT_EQ(bad_token.error.code, "unauthorized");
  EXPECT_EQ(bad_token.error.exit_code, kExitPolicyDenied);
  EXPECT_EQ(bad_token.error.message.find(token), std::string::npos);
  const auto fails = Records(audit::actions::kAuthFail);
  ASSERT_EQ(fails.size(), 1u);
  EXPECT_EQ(fails[0].actor, token.substr(0, identity::kShownPrefixChars));

  OpResult host = Run(owner_, "proxy", R"({"credential": "openai/prod", "url": "https://evil.example.com/"})");
  EXPECT_EQ(host.error.code, "forbidden");
  EXPECT_EQ(host.error.exit_code, kExitPolicyDenied);
  EXPECT_EQ(Run(owner_, "proxy", R"({"credential": "no-such", "url": "https://api.example.com/"})").error.code,
            "not_found");
  // Two calls reached ProxyService (group-committed, so wait for them); nothing else.
  std::vector<audit::Record> proxied;
  for (int i = 0; i < 100 && proxied.size() < 2; ++i) {
    if (i > 0) usleep(20 * 1000);
    proxied = Records(audit::actions::kProxy);
  }
  usleep(50 * 1000);  // a third record, if the op wrote one, would be committed by now
  proxied = Records(audit::actions::kProxy);
  ASSERT_EQ(proxied.size(), 2u);
  EXPECT_TRUE(proxied[0].result == "denied" || proxied[1].result == "denied");
  vault_->SetProxy(nullptr);
}

}  // namespace
}  // namespace keycell::broker::daemon

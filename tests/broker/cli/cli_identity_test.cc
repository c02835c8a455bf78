// The agents, tokens, apikeys and audit commands end to end: the real keycell binary
// with keycelld, the enclave and SoftHSM2; the audit file tampered with directly in
// SQLite to prove `audit verify` names what changed.

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <string>

#include "broker/json/json.h"
#include "tests/broker/cli/cli_harness.h"

namespace keycell::test {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class CliIdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(box_.Init().exit_code, 0);
    ASSERT_EQ(box_.Unlock().exit_code, 0);
    ASSERT_EQ(box_.Add("openai/prod", "sk-cli-canary-0a1b2c3d", {"--provider", "openai"}).exit_code, 0);
  }

  ProcResult Ok(const std::vector<std::string>& args) {
    ProcResult r = box_.Keycell(args);
    EXPECT_EQ(r.exit_code, 0) << args[0] << " " << (args.size() > 1 ? args[1] : "") << ": " << r.err;
    return r;
  }

  // Runs SQL on the audit database behind keycelld's back.
  void TamperAudit(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((box_.data_dir() + "/audit.db").c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char* err = nullptr;
    // Whoever edits the file can drop the append-only triggers first.
    const std::string all = "DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_no_delete; " + sql;
    EXPECT_EQ(sqlite3_exec(db, all.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
  }

  CliSandbox box_;
};

TEST_F(CliIdentityTest, AgentTokenLifecycle) {
  Ok({"agents", "create", "ci-bot", "--scope", "stripe-*"});
  ProcResult assign = Ok({"agents", "assign", "ci-bot", "openai/prod", "--expires", "30d"});
  ASSERT_EQ(assign.out.rfind("pxr_", 0), 0u) << assign.out;
  const std::string token = assign.out.substr(0, assign.out.find('\n'));
  EXPECT_EQ(token.size(), 4u + 43u);
  EXPECT_NE(assign.err.find("added 'openai/prod' to the agent's scopes"), std::string::npos) << assign.err;

  ProcResult list = Ok({"agents", "list", "--json"});
  auto agents = json::ParseJson(list.out);
  ASSERT_TRUE(agents.ok());
  const cJSON* agent = json::Children(agents->get()).begin().operator*();
  EXPECT_EQ(*json::GetString(agent, "name"), "ci-bot");
  EXPECT_EQ(json::ChildCount(json::GetArray(agent, "scopes")), 2);

  ProcResult tokens = Ok({"tokens", "list"});
  EXPECT_NE(tokens.out.find(token.substr(0, 12)), std::string::npos);
  EXPECT_EQ(tokens.out.find(token), std::string::npos);  // never the whole token

  // Assigning again rotates: the old prefix is revoked.
  ProcResult again = Ok({"agents", "assign", "ci-bot", "openai/prod"});
  EXPECT_NE(again.err.find(token.substr(0, 12) + " is revoked"), std::string::npos) << again.err;
  Ok({"tokens", "revoke", again.out.substr(0, 12)});
  EXPECT_NE(Ok({"tokens", "list", "--all"}).out.find("REVOKED"), std::string::npos);

  EXPECT_EQ(box_.Keycell({"agents", "assign", "ci-bot", "no-such"}).exit_code, 7);
  EXPECT_EQ(box_.Keycell({"agents", "assign", "ghost", "openai/prod"}).exit_code, 7);
  EXPECT_EQ(box_.Keycell({"agents", "create", "ci-bot"}).exit_code, 8);
  EXPECT_EQ(box_.Keycell({"agents", "create", "bad name"}).exit_code, 9);
  EXPECT_EQ(box_.Keycell({"agents", "scope", "ci-bot"}).exit_code, 2);
  Ok({"agents", "scope", "ci-bot", "--remove", "stripe-*"});
  Ok({"agents", "rm", "ci-bot"});
  EXPECT_EQ(Ok({"agents", "list"}).out, "no agents\n");

  // No token in any file keycelld writes.
  for (const char* f : {"identity.db", "identity.db-wal", "audit.db", "audit.db-wal", "keycelld.log"}) {
    const std::string bytes = ReadFile(box_.data_dir() + "/" + f);
    EXPECT_EQ(bytes.find(token), std::string::npos) << f;
    EXPECT_EQ(bytes.find("sk-cli-canary"), std::string::npos) << f;
  }
}

TEST_F(CliIdentityTest, ApiKeysCreateListRevokeDeleteAndUse) {
  Ok({"agents", "create", "bot"});
  ProcResult created = Ok({"apikeys", "create", "laptop", "--role", "admin", "--agent", "bot",
                           "--expires-in-days", "30", "--description", "my laptop"});
  const std::string key = created.out.substr(0, created.out.find('\n'));
  ASSERT_EQ(key.rfind("kc_", 0), 0u) << created.out;
  const std::string id = created.err.substr(created.err.find("API key ") + 8, 16);

  ProcResult view = Ok({"apikeys", "view", id, "--json"});
  auto v = json::ParseJson(view.out);
  ASSERT_TRUE(v.ok()) << view.out;
  EXPECT_EQ(*json::GetString(v->get(), "role"), "admin");
  EXPECT_EQ(*json::GetString(v->get(), "agent"), "bot");
  EXPECT_EQ(json::GetString(v->get(), "key"), std::nullopt);  // shown once only
  EXPECT_EQ(view.out.find(key), std::string::npos);

  // use: a new key into the project's .env, the old one revoked.
  const std::string project = box_.root() + "/project";
  ASSERT_EQ(mkdir(project.c_str(), 0700), 0);
  ProcResult use = Ok({"apikeys", "use", id, project});
  const std::string env = ReadFile(project + "/.env");
  ASSERT_EQ(env.rfind("KEYCELL_API_KEY='kc_", 0), 0u) << env;
  EXPECT_EQ(env.find(key), std::string::npos);
  struct stat st {};
  ASSERT_EQ(stat((project + "/.env").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ProcResult active = Ok({"apikeys", "list", "--active-only", "--json"});
  auto keys = json::ParseJson(active.out);
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(json::ChildCount(keys->get()), 1);
  EXPECT_NE(std::string(*json::GetString(json::Children(keys->get()).begin().operator*(), "id")), id);

  // Create straight into a .env.
  Ok({"apikeys", "create", "ci", "--use-in-env", project + "/.env"});
  Ok({"apikeys", "revoke", id});
  Ok({"apikeys", "delete", id});
  EXPECT_EQ(box_.Keycell({"apikeys", "view", id}).exit_code, 7);
  EXPECT_EQ(box_.Keycell({"apikeys", "create", "x", "--role", "god"}).exit_code, 2);
  EXPECT_EQ(box_.Keycell({"apikeys", "create", "x", "--agent", "ghost"}).exit_code, 7);
  const std::string new_key = env.substr(17, key.size());
  for (const char* f : {"identity.db", "identity.db-wal", "audit.db-wal", "keycelld.log"}) {
    const std::string bytes = ReadFile(box_.data_dir() + "/" + f);
    EXPECT_EQ(bytes.find(key), std::string::npos) << f;  // hashes and 12-character prefixes only
    EXPECT_EQ(bytes.find(new_key), std::string::npos) << f;
  }
}

TEST_F(CliIdentityTest, AuditQueriesAndVerifyFindsEditedDeletedAndSwappedRecords) {
  Ok({"agents", "create", "bot"});
  Ok({"agents", "assign", "bot", "openai/prod"});
  ASSERT_EQ(box_.Keycell({"rotate", "openai/prod"}, RunOptions{"sk-cli-canary-rotated"}).exit_code, 0);

  ProcResult all = Ok({"audit", "--json"});
  auto records = json::ParseJson(all.out);
  ASSERT_TRUE(records.ok()) << all.out;
  std::vector<std::string> actions;
  for (const cJSON* r : json::Children(records->get())) actions.emplace_back(*json::GetString(r, "action"));
  EXPECT_EQ(actions, (std::vector<std::string>{"credential.rotate", "token.create", "agent.create",
                                               "credential.add", "unlock"}));
  EXPECT_EQ(all.out.find("sk-cli-canary"), std::string::npos);
  EXPECT_NE(Ok({"audit", "--credential", "openai/prod", "--action", "credential.rotate"}).out.find("credential.rotate"),
            std::string::npos);
  EXPECT_EQ(Ok({"audit", "--since", "2h", "--action", "nothing"}).out, "no audit records\n");
  EXPECT_EQ(box_.Keycell({"audit", "--since", "yesterday"}).exit_code, 9);

  ProcResult clean = Ok({"audit", "verify"});
  EXPECT_NE(clean.out.find("audit log intact"), std::string::npos) << clean.out;

  // Edited: record 2's credential changed.
  TamperAudit("UPDATE audit SET credential = 'other' WHERE seq = 2");
  ProcResult edited = box_.Keycell({"audit", "verify"});
  EXPECT_EQ(edited.exit_code, 1);
  EXPECT_NE(edited.out.find("record 2"), std::string::npos) << edited.out;
  TamperAudit("UPDATE audit SET credential = 'openai/prod' WHERE seq = 2");
  EXPECT_EQ(box_.Keycell({"audit", "verify"}).exit_code, 0);

  // Swapped: records 3 and 4 exchange places.
  TamperAudit("UPDATE audit SET seq = 1000003 WHERE seq = 3; UPDATE audit SET seq = 3 WHERE seq = 4; "
              "UPDATE audit SET seq = 4 WHERE seq = 1000003");
  ProcResult swapped = box_.Keycell({"audit", "verify", "--json"});
  EXPECT_EQ(swapped.exit_code, 1);
  EXPECT_NE(swapped.out.find("\"problem\": \"reordered\""), std::string::npos) << swapped.out;
  TamperAudit("UPDATE audit SET seq = 1000003 WHERE seq = 3; UPDATE audit SET seq = 3 WHERE seq = 4; "
              "UPDATE audit SET seq = 4 WHERE seq = 1000003");
  EXPECT_EQ(box_.Keycell({"audit", "verify"}).exit_code, 0);

  // Deleted: record 2 gone.
  TamperAudit("DELETE FROM audit WHERE seq = 2");
  ProcResult deleted = box_.Keycell({"audit", "verify", "--json"});
  EXPECT_EQ(deleted.exit_code, 1);
  EXPECT_NE(deleted.out.find("\"problem\": \"missing\""), std::string::npos) << deleted.out;
}

TEST_F(CliIdentityTest, UnlockAttemptsAreRateLimited) {
  Ok({"lock"});
  // Every attempt counts, right or wrong: SetUp's unlock was the first of five.
  int last = 0;
  for (int i = 0; i < 5; ++i) {
    RunOptions o;
    o.fd3 = "wrong-pin\n";
    last = box_.Keycell({"unlock", "--pin-fd", "3"}, o).exit_code;
    if (i < 4) {
      EXPECT_EQ(last, 3) << i;
    }
  }
  EXPECT_EQ(last, 15);
  ProcResult right = box_.Keycell({"unlock", "--pin-fd", "3"}, RunOptions{"", std::string(CliSandbox::kPin) + "\n"});
  EXPECT_EQ(right.exit_code, 15) << right.err;
  EXPECT_NE(right.err.find("too many unlock attempts"), std::string::npos) << right.err;
}

}  // namespace
}  // namespace keycell::test

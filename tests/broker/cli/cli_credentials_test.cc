// Credentials through the real CLI: add, list, show, get, rotate, history, rollback,
// rm, health, import/export, and every input failure with its exit code.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>

#include "broker/daemon/control_protocol.h"
#include "broker/json/json.h"
#include "tests/broker/cli/cli_harness.h"

namespace keycell::test {
namespace {

// The exit codes the CLI documents (docs/cli.md).
using namespace broker::daemon;  // NOLINT: kExit* constants

class CliCredentials : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(box_.Init().exit_code, 0);
    const ProcResult r = box_.Unlock();
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  json::Json Json(const std::vector<std::string>& args) {
    const ProcResult r = box_.Keycell(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto j = json::ParseJson(r.out);
    EXPECT_TRUE(j.ok()) << r.out;
    return j.ok() ? std::move(*j) : json::MakeNull();
  }

  // Expects exit `code` and exactly one stderr line "keycell: ..." containing `text`.
  void ExpectFailure(const ProcResult& r, int code, const std::string& text) {
    EXPECT_EQ(r.exit_code, code) << r.err;
    EXPECT_EQ(r.err.rfind("keycell: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(text), std::string::npos) << r.err;
  }

  CliSandbox box_;
};

TEST_F(CliCredentials, AddListShowGetRotateHistoryRollbackRm) {
  const std::string v1 = RandomToken("sk-v1-"), v2 = RandomToken("sk-v2-");
  ProcResult r =
      box_.Add("openai-prod", v1 + "\n",  // one trailing newline is stripped
               {"--provider", "openai", "--env", "prod", "--tag", "ci", "--tag", "team-a",
                "--notes", "main key", "--expires", "2099-12-31", "--revealable"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "keycell: added 'openai-prod' (version 1)\n");
  ASSERT_EQ(box_.Add("other", "x", {"--allow-host", "api.example.com", "--env", "dev"}).exit_code,
            0);

  r = box_.Keycell({"list"});
  EXPECT_NE(r.out.find("openai-prod  openai"), std::string::npos) << r.out;
  json::Json list = Json({"list", "--env", "prod", "--json"});
  ASSERT_EQ(json::ChildCount(list.get()), 1u);
  const cJSON* c = list->child;
  EXPECT_EQ(json::GetString(c, "name"), "openai-prod");
  EXPECT_EQ(json::GetInt(c, "expires_at"), 4102358400);  // 2099-12-31T00:00:00Z
  EXPECT_EQ(json::ChildCount(Json({"list", "--tag", "team-a", "--json"}).get()), 1u);
  EXPECT_EQ(json::ChildCount(Json({"list", "--provider", "nope", "--json"}).get()), 0u);

  json::Json show = Json({"show", "openai-prod", "--json"});
  const cJSON* policy = json::GetObject(show.get(), "policy");
  EXPECT_EQ(json::AsString(json::GetArray(policy, "hosts")->child), "api.openai.com");
  EXPECT_EQ(json::GetString(policy, "inject"), "bearer");
  EXPECT_EQ(json::GetString(show.get(), "notes"), "main key");
  r = box_.Keycell({"show", "openai-prod"});
  EXPECT_NE(r.out.find("allowed hosts:  api.openai.com"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(v1), std::string::npos);

  r = box_.Reveal("openai-prod");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, v1) << "get --reveal prints exactly the value";

  RunOptions in;
  in.stdin_data = v2;
  r = box_.Keycell({"rotate", "openai-prod"}, in);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(box_.Reveal("openai-prod").out, v2);
  json::Json history = Json({"history", "openai-prod", "--json"});
  ASSERT_EQ(json::ChildCount(history.get()), 2u);
  EXPECT_EQ(json::GetBool(history->child->next, "current"), true);
  EXPECT_NE(json::GetString(history->child, "fingerprint"),
            json::GetString(history->child->next, "fingerprint"));

  r = box_.Keycell({"rollback", "openai-prod", "--to", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(box_.Reveal("openai-prod").out, v1);
  ExpectFailure(box_.Keycell({"rollback", "openai-prod", "--to", "9"}), kExitNotFound,
                "no such version");

  ExpectFailure(box_.Keycell({"rm", "openai-prod"}), kExitUsage, "--yes");
  r = box_.Keycell({"rm", "openai-prod", "--yes"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::ChildCount(Json({"list", "--json"}).get()), 1u);
}

TEST_F(CliCredentials, BadInputAndUnknownNamesFailWithDistinctCodes) {
  ASSERT_EQ(box_.Add("dup", "v", {"--allow-host", "a.example", "--revealable"}).exit_code, 0);
  ExpectFailure(box_.Add("dup", "v2", {"--allow-host", "a.example"}), kExitExists, "--overwrite");
  ProcResult r =
      box_.Add("dup", "v2", {"--allow-host", "a.example", "--overwrite", "--revealable"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(box_.Reveal("dup").out, "v2");

  ExpectFailure(box_.Add("empty", ""), kExitInvalid, "empty value");
  ExpectFailure(box_.Add("empty", "\n"), kExitInvalid, "empty value");
  ExpectFailure(box_.Add("big", std::string(64 * 1024 + 1, 'x')), kExitTooLarge, "64 KiB");
  EXPECT_EQ(box_.Add("max", std::string(64 * 1024, 'x'), {"--allow-host", "a.example"}).exit_code,
            0);
  ExpectFailure(box_.Add("h", "v", {"--allow-host", "bad host!"}), kExitInvalid, "allowed_hosts");
  ExpectFailure(box_.Add("h", "v", {"--allow-host", "a.example", "--inject", "magic"}),
                kExitInvalid, "--inject");
  ExpectFailure(box_.Add("h", "v", {"--inject", "bearer"}), kExitInvalid, "no allowed host");
  ExpectFailure(box_.Add("h", "v", {"--allow-host", "a.example", "--expires", "2001-01-01"}),
                kExitInvalid, "in the past");
  ExpectFailure(box_.Add("h", "v", {"--allow-host", "a.example", "--expires", "soon"}),
                kExitInvalid, "--expires");

  for (const auto& args :
       std::vector<std::vector<std::string>>{{"show", "ghost"},
                                             {"history", "ghost"},
                                             {"get", "ghost", "--reveal", "--purpose", "p"},
                                             {"rollback", "ghost", "--to", "1"},
                                             {"rm", "ghost", "--yes"}})
    ExpectFailure(box_.Keycell(args), kExitNotFound, "no such credential");
  RunOptions in;
  in.stdin_data = "v";
  ExpectFailure(box_.Keycell({"rotate", "ghost"}, in), kExitNotFound, "no such credential");

  ExpectFailure(box_.Keycell({"get", "dup"}), kExitUsage, "--reveal");
  ExpectFailure(box_.Keycell({"get", "dup", "--reveal"}), kExitUsage, "--purpose");
  ExpectFailure(box_.Keycell({"get", "max", "--reveal", "--purpose", "p"}), kExitPolicyDenied,
                "not revealable");
  ExpectFailure(box_.Keycell({"nonsense"}), kExitUsage, "unknown command");
  ExpectFailure(box_.Keycell({"add"}), kExitUsage, "name");
}

TEST_F(CliCredentials, HealthExitsNonZeroWhenSomethingNeedsAction) {
  ASSERT_EQ(box_.Add("fine", "v", {"--allow-host", "a.example", "--expires", "1y"}).exit_code, 0);
  ProcResult r = box_.Keycell({"health"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("all healthy"), std::string::npos) << r.out;
  ASSERT_EQ(box_.Add("soon", "v", {"--allow-host", "a.example", "--expires", "3d"}).exit_code, 0);
  r = box_.Keycell({"health", "--days", "30", "--json"});
  EXPECT_EQ(r.exit_code, kExitNeedsAction);
  auto h = json::ParseJson(r.out);
  ASSERT_TRUE(h.ok()) << r.out;
  EXPECT_EQ(json::GetInt(h->get(), "threshold_days"), 30);
  EXPECT_EQ(json::AsString(json::GetArray(h->get(), "expiring_soon")->child), "soon");
  EXPECT_EQ(json::GetBool(h->get(), "needs_action"), true);
}

TEST_F(CliCredentials, ImportDotenvAndSealedBackupRoundTrip) {
  const std::string a = RandomToken("a-"), b = "spaces and \"quotes\" $HOME";
  const std::string file = box_.root() + "/old.env";
  FILE* f = fopen(file.c_str(), "w");
  fprintf(f, "# comment\nA_KEY=%s\nexport B_KEY='%s'\nEMPTY=\n", a.c_str(), b.c_str());
  fclose(f);
  ASSERT_EQ(box_.Add("A_KEY", "older", {"--allow-host", "a.example"}).exit_code, 0);
  ProcResult r = box_.Keycell({"import", file, "--revealable", "--env", "dev"});
  EXPECT_EQ(r.exit_code, kExitInvalid) << r.err;  // EMPTY failed
  EXPECT_NE(r.out.find("1 added, 1 skipped"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 failed"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("EMPTY (line 4): empty value"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find(a), std::string::npos);
  EXPECT_EQ(r.err.find(a), std::string::npos);
  EXPECT_EQ(box_.Reveal("B_KEY").out, b);
  r = box_.Keycell({"import", file, "--revealable", "--overwrite"});
  EXPECT_NE(r.out.find("2 added"), std::string::npos) << r.out;
  EXPECT_EQ(box_.Reveal("A_KEY").out, a);

  r = box_.Keycell({"export", "--sealed", "backup.db"});  // relative to the cwd (root)
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(box_.root() + "/backup.db").find(a), std::string::npos);
  ASSERT_EQ(box_.Keycell({"rm", "B_KEY", "--yes"}).exit_code, 0);
  r = box_.Keycell({"import", "--sealed", box_.root() + "/backup.db"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("1 added"), std::string::npos) << r.out;
  EXPECT_EQ(box_.Reveal("B_KEY").out, b);
  ExpectFailure(box_.Keycell({"import"}), kExitUsage, "FILE.env or --sealed");
}

TEST_F(CliCredentials, HelpCompletionAndVersion) {
  const std::vector<std::string> commands = {
      "init",   "selfcheck", "daemon", "unlock", "lock",    "status",   "add",       "rotate",
      "get",    "rm",        "list",   "show",   "history", "rollback", "health",    "projects",
      "assign", "unassign",  "env",    "run",    "import",  "export",   "completion", "proxy"};
  ProcResult top = box_.Keycell({"--help"});
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_NE(top.out.find("Exit codes:"), std::string::npos);
  const ProcResult bash = box_.Keycell({"completion", "bash"});
  const ProcResult zsh = box_.Keycell({"completion", "zsh"});
  for (const auto& c : commands) {
    const ProcResult r = box_.Keycell({c, "--help"});
    EXPECT_EQ(r.exit_code, 0) << c;
    EXPECT_NE(r.out.find("Example"), std::string::npos) << c << " --help has no examples";
    EXPECT_NE(top.out.find("  " + c + " "), std::string::npos) << c;
    EXPECT_NE(bash.out.find("    " + c + ")"), std::string::npos) << c;
    EXPECT_NE(zsh.out.find("'" + c + ":"), std::string::npos) << c;
  }
  for (const char* flag :
       {"--allow-host", "--reveal-agent", "--insecure-http", "--pin-fd", "--keys", "--sealed"}) {
    EXPECT_NE(bash.out.find(flag), std::string::npos) << flag;
    EXPECT_NE(zsh.out.find(flag), std::string::npos) << flag;
  }
  RunOptions script;
  script.stdin_data = bash.out;
  EXPECT_EQ(box_.Run({"bash", "-n"}, script).exit_code, 0) << "bash completion has a syntax error";
  if (access("/usr/bin/zsh", X_OK) == 0) {
    script.stdin_data = zsh.out;
    EXPECT_EQ(box_.Run({"zsh", "-n"}, script).exit_code, 0) << "zsh completion has a syntax error";
  }
  EXPECT_EQ(box_.Keycell({"completion", "fish"}).exit_code, kExitUsage);
  EXPECT_EQ(box_.Keycell({"--version"}).out, "keycell " KEYCELL_VERSION "\n");
}

}  // namespace
}  // namespace keycell::test

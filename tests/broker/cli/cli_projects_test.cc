// Projects, .env files and `keycell run` through the real CLI, and the promise that no
// plaintext shows up in argv, the database, its WAL or keycelld's log.

#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "broker/daemon/control_protocol.h"
#include "broker/json/json.h"
#include "tests/broker/cli/cli_harness.h"

namespace keycell::test {
namespace {

// The exit codes the CLI documents (docs/cli.md).
using namespace broker::daemon;  // NOLINT: kExit* constants

class CliProjects : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(box_.Init().exit_code, 0);
    ASSERT_EQ(box_.Unlock().exit_code, 0);
    app_ = box_.root() + "/app";
    ASSERT_EQ(mkdir(app_.c_str(), 0755), 0);
    ASSERT_EQ(mkdir((app_ + "/.git").c_str(), 0755),
              0);  // a git work tree, as far as .gitignore goes
  }

  void WriteFile(const std::string& path, const std::string& text) {
    FILE* f = fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr);
    fputs(text.c_str(), f);
    fclose(f);
  }

  // python-dotenv's reading of a file, as JSON.
  json::Json PythonDotenv(const std::string& file) {
    const ProcResult r =
        box_.Run({"/usr/bin/python3", "-c",
                  "import json, sys\nfrom dotenv import dotenv_values\n"
                  "print(json.dumps(dotenv_values(sys.argv[1], interpolate=False)))",
                  file});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto j = json::ParseJson(r.out);
    return j.ok() ? std::move(*j) : json::MakeObject();
  }

  CliSandbox box_;
  std::string app_;
};

TEST_F(CliProjects, AssignAndEnvRoundTripThroughPythonDotenv) {
  const std::string tricky = "sk-'single' \"double\" $HOME \\back #hash",
                    multi = "line one\nline two";
  ASSERT_EQ(box_.Add("openai-prod", tricky, {"--provider", "openai", "--env-export"}).exit_code, 0);
  ASSERT_EQ(
      box_.Add("multi", multi + "\n", {"--allow-host", "a.example", "--env-export"}).exit_code, 0);
  ASSERT_EQ(box_.Add("sealed-only", "x", {"--allow-host", "a.example"}).exit_code, 0);
  WriteFile(app_ + "/.env", "# my settings\nDEBUG=1\nOPENAI_PROD=stale\nexport OTHER='keep me'\n");

  ProcResult r = box_.Keycell({"assign", "openai-prod", app_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  RunOptions in_app;
  in_app.cwd = app_;
  ASSERT_EQ(box_.Keycell({"assign", "multi", "."}, in_app).exit_code, 0);  // "." resolves to app_
  json::Json projects;
  {
    auto j = json::ParseJson(box_.Keycell({"projects", "--json"}).out);
    ASSERT_TRUE(j.ok());
    projects = std::move(*j);
  }
  ASSERT_EQ(json::ChildCount(projects.get()), 1u);
  EXPECT_EQ(json::GetString(projects->child, "path"), app_);
  EXPECT_EQ(json::ChildCount(json::GetArray(projects->child, "keys")), 2u);

  r = box_.Keycell({"env", app_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("wrote 2 variable(s) to " + app_ + "/.env: MULTI, OPENAI_PROD\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("added .env to " + app_ + "/.gitignore"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(tricky), std::string::npos);
  const json::Json values = PythonDotenv(app_ + "/.env");
  EXPECT_EQ(json::GetString(values.get(), "OPENAI_PROD"), tricky);
  EXPECT_EQ(json::GetString(values.get(), "MULTI"), multi);
  EXPECT_EQ(json::GetString(values.get(), "DEBUG"), "1");
  EXPECT_EQ(json::GetString(values.get(), "OTHER"), "keep me");
  EXPECT_NE(ReadFile(app_ + "/.env").find("# my settings\n"), std::string::npos);
  EXPECT_NE(ReadFile(app_ + "/.gitignore").find(".env"), std::string::npos);
  struct stat st {};
  ASSERT_EQ(stat((app_ + "/.env").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  const std::string before = ReadFile(app_ + "/.env");
  r = box_.Keycell({"env", app_, "--keys", "openai-prod,sealed-only"});
  EXPECT_EQ(r.exit_code, kExitPolicyDenied) << r.err;
  EXPECT_NE(r.err.find("SEALED_ONLY"), std::string::npos) << r.err;
  EXPECT_EQ(ReadFile(app_ + "/.env"), before) << "nothing is half-written";

  ASSERT_EQ(box_.Keycell({"unassign", "openai-prod", app_}).exit_code, 0);
  EXPECT_EQ(box_.Keycell({"unassign", "openai-prod", app_}).exit_code, kExitNotFound);
  EXPECT_EQ(box_.Keycell({"assign", "openai-prod", box_.root() + "/missing"}).exit_code,
            kExitInvalid);
  EXPECT_EQ(box_.Keycell({"assign", "ghost", app_}).exit_code, kExitNotFound);
}

// The children of `parent` (from /proc), for finding the command `run` started.
std::vector<pid_t> ChildrenOf(pid_t parent) {
  std::vector<pid_t> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = ReadFile("/proc/" + name + "/stat");
    const size_t paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    int ppid = 0;
    char state = 0;
    if (sscanf(stat.c_str() + paren + 2, "%c %d", &state, &ppid) == 2 && ppid == parent)
      out.push_back(static_cast<pid_t>(std::stoi(name)));
  }
  return out;
}

TEST_F(CliProjects, RunPassesValuesExitCodesAndSignals) {
  const std::string value = RandomToken("sk-run-");
  ASSERT_EQ(box_.Add("openai-prod", value, {"--provider", "openai", "--env-export"}).exit_code, 0);
  ASSERT_EQ(box_.Keycell({"assign", "openai-prod", app_}).exit_code, 0);
  const std::string expected = Sha256Hex(value) + "  -\n";
  const std::vector<std::string> hash = {"sh", "-c", "printf %s \"$OPENAI_PROD\" | sha256sum"};

  RunOptions in_app;
  in_app.cwd = app_;
  std::vector<std::string> args = {"run", "--"};
  args.insert(args.end(), hash.begin(), hash.end());
  ProcResult r = box_.Keycell(args, in_app);  // default: the current directory's project
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, expected);
  args = {"run", "--keys", "openai-prod", "--"};
  args.insert(args.end(), hash.begin(), hash.end());
  EXPECT_EQ(box_.Keycell(args).out, expected);
  args = {"run", "--project", app_, "--"};
  args.insert(args.end(), hash.begin(), hash.end());
  EXPECT_EQ(box_.Keycell(args).out, expected);

  EXPECT_EQ(box_.Keycell({"run", "--keys", "openai-prod", "--", "sh", "-c", "exit 42"}).exit_code,
            42);
  r = box_.Keycell({"run", "--keys", "openai-prod", "--", "sh", "-c", "kill -TERM $$"});
  EXPECT_EQ(r.term_signal, SIGTERM) << "exit " << r.exit_code << " " << r.err;
  EXPECT_EQ(box_.Keycell({"run", "--keys", "openai-prod", "--", "/nonexistent/cmd"}).exit_code,
            127);
  EXPECT_EQ(box_.Keycell({"run", "--keys", "a", "--project", app_, "--", "true"}).exit_code,
            kExitUsage);
  r = box_.Keycell({"run", "--", "true"});  // the sandbox root has no assigned keys
  EXPECT_EQ(r.exit_code, kExitInvalid) << r.err;
  EXPECT_NE(r.err.find("no keys"), std::string::npos) << r.err;
  EXPECT_EQ(box_.Keycell({"run", "--keys", "ghost", "--", "true"}).exit_code, kExitNotFound);

  // SIGTERM sent to keycell reaches the command, and keycell ends the way it did.
  const pid_t run = box_.Start({"run", "--keys", "openai-prod", "--", "sleep", "30"});
  std::vector<pid_t> kids;
  for (int i = 0; i < 500 && kids.empty(); ++i, usleep(10 * 1000)) kids = ChildrenOf(run);
  ASSERT_EQ(kids.size(), 1u);
  for (int i = 0; i < 500 && ReadFile("/proc/" + std::to_string(kids[0]) + "/comm") != "sleep\n";
       ++i)
    usleep(10 * 1000);
  ASSERT_EQ(kill(run, SIGTERM), 0);
  const int status = CliSandbox::Wait(run);
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  EXPECT_FALSE(ProcessAlive(kids[0]));
}

// Every file under `dir`, recursively.
std::vector<std::string> FilesUnder(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out.push_back(e.path());
  return out;
}

TEST_F(CliProjects, NoPlaintextInArgvDatabaseWalOrLog) {
  const std::vector<std::string> canaries = {
      RandomToken("kc-canary-add-"), RandomToken("kc-canary-rot-"), RandomToken("kc-canary-imp-")};
  CmdlineScanner scanner(canaries);
  ASSERT_EQ(box_.Add("c1", canaries[0], {"--allow-host", "a.example", "--env-export"}).exit_code,
            0);
  ASSERT_EQ(box_.Keycell({"assign", "c1", app_}).exit_code, 0);
  ASSERT_EQ(box_.Keycell({"env", app_}).exit_code, 0);
  ProcResult r = box_.Keycell(
      {"run", "--keys", "c1", "--", "sh", "-c", "sleep 0.3; printf %s \"$C1\" | sha256sum"});
  EXPECT_EQ(r.out, Sha256Hex(canaries[0]) + "  -\n");
  RunOptions in;
  in.stdin_data = canaries[1];
  ASSERT_EQ(box_.Keycell({"rotate", "c1"}, in).exit_code, 0);
  ASSERT_EQ(box_.Keycell({"env", app_}).exit_code, 0);
  const std::string file = box_.root() + "/import.env";
  FILE* f = fopen(file.c_str(), "w");
  fprintf(f, "IMPORTED=%s\n", canaries[2].c_str());
  fclose(f);
  ASSERT_EQ(box_.Keycell({"import", file}).exit_code, 0);
  r = box_.Keycell({"run", "--keys", "c1", "--", "sh", "-c", "sleep 0.3"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> leaks = scanner.Stop();
  EXPECT_GT(scanner.scans(), 0u);
  EXPECT_TRUE(leaks.empty()) << "in /proc/*/cmdline: " << leaks[0];

  ASSERT_NE(ReadFile(box_.data_dir() + "/keycelld.log").find("event=add"), std::string::npos)
      << "the log was written (at debug level)";
  bool saw_wal = false;
  for (const std::string& path : FilesUnder(box_.data_dir())) {
    saw_wal = saw_wal || path.ends_with("keycell.db-wal");
    const std::string bytes = ReadFile(path);
    for (const auto& c : canaries)
      EXPECT_EQ(bytes.find(c), std::string::npos) << c << " in " << path;
  }
  EXPECT_TRUE(saw_wal) << "the WAL should exist while keycelld runs";
}

}  // namespace
}  // namespace keycell::test

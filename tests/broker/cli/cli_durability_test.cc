// Crash and concurrency through the real CLI: kill -9 of keycelld in the middle of a
// burst of adds loses no acknowledged add and leaves a sound database; concurrent
// rotations of one name leave a linear history.

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "broker/json/json.h"
#include "tests/broker/cli/cli_harness.h"

namespace keycell::test {
namespace {

class CliDurability : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(box_.Init().exit_code, 0);
    ASSERT_EQ(box_.Unlock().exit_code, 0);
  }
  CliSandbox box_;
};

std::string IntegrityCheck(const std::string& db_path) {
  sqlite3* db = nullptr;
  std::string result = "cannot open";
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
      result = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return result;
}

std::string ValueFor(const std::string& name) { return "value-of-" + name; }

TEST_F(CliDurability, KillDaemonDuringAddBurstLosesNoAcknowledgedAdd) {
  constexpr int kWorkers = 4, kPerWorker = 125;  // a burst of 500 adds, killed mid-way
  std::mutex mu;
  std::vector<std::string> acknowledged;
  std::atomic<int> done{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      for (int i = 0; i < kPerWorker; ++i) {
        const std::string name = "burst-" + std::to_string(w) + "-" + std::to_string(i);
        const ProcResult r =
            box_.Add(name, ValueFor(name), {"--allow-host", "api.example.com", "--revealable"});
        if (r.exit_code != 0) break;  // after the kill: locked (new daemon) or daemon gone
        std::lock_guard<std::mutex> lock(mu);
        acknowledged.push_back(name);
        ++done;
      }
    });
  }
  const pid_t daemon = box_.DaemonPid();
  ASSERT_GT(daemon, 0);
  for (int i = 0; i < 3000 && done.load() < 60; ++i) usleep(10 * 1000);
  ASSERT_EQ(kill(daemon, SIGKILL), 0);  // mid-burst: four adds are in flight
  for (auto& t : workers) t.join();
  ASSERT_GE(acknowledged.size(), 60u);

  const ProcResult unlocked = box_.Unlock();  // the CLI has started (or now starts) a new daemon
  ASSERT_EQ(unlocked.exit_code, 0) << unlocked.err;
  EXPECT_NE(box_.DaemonPid(), daemon);
  auto list = json::ParseJson(box_.Keycell({"list", "--json"}).out);
  ASSERT_TRUE(list.ok());
  std::set<std::string> present;
  for (const cJSON* c : json::Children(list->get()))
    present.insert(std::string(*json::GetString(c, "name")));
  for (const auto& name : acknowledged)
    EXPECT_TRUE(present.count(name)) << name << " was acknowledged but is gone";
  for (size_t i = 0; i < acknowledged.size(); i += acknowledged.size() / 8) {
    const ProcResult r = box_.Reveal(acknowledged[i]);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, ValueFor(acknowledged[i]));
  }
  box_.StopDaemon();
  EXPECT_EQ(IntegrityCheck(box_.db_path()), "ok");
}

TEST_F(CliDurability, ConcurrentRotationsLeaveALinearHistory) {
  constexpr int kPerClient = 20;
  ASSERT_EQ(box_.Add("shared", "v0", {"--allow-host", "api.example.com", "--revealable"}).exit_code,
            0);
  std::atomic<int> failures{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 2; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < kPerClient; ++i) {
        RunOptions in;
        in.stdin_data = "v-" + std::to_string(c) + "-" + std::to_string(i);
        const ProcResult r = box_.Keycell({"rotate", "shared"}, in);
        if (r.exit_code != 0) {
          ++failures;
          ADD_FAILURE() << "rotate: exit " << r.exit_code << ": " << r.err;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto history = json::ParseJson(box_.Keycell({"history", "shared", "--json"}).out);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(json::ChildCount(history->get()), static_cast<size_t>(2 * kPerClient + 1));
  int64_t expected = 1;
  std::set<std::string> fingerprints;
  for (const cJSON* v : json::Children(history->get())) {
    EXPECT_EQ(json::GetInt(v, "version"), expected);
    EXPECT_EQ(json::GetBool(v, "current"), expected == 2 * kPerClient + 1);
    fingerprints.insert(std::string(json::GetString(v, "fingerprint").value_or("")));
    ++expected;
  }
  EXPECT_EQ(fingerprints.size(), static_cast<size_t>(2 * kPerClient + 1))
      << "every value stored once";
  const std::string last = box_.Reveal("shared").out;
  EXPECT_TRUE(last == "v-0-" + std::to_string(kPerClient - 1) ||
              last == "v-1-" + std::to_string(kPerClient - 1))
      << last;
}

}  // namespace
}  // namespace keycell::test

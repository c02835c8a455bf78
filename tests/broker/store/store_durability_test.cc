// Durability and integrity: a burst of mixed writes keeps integrity_check ok, and every
// add acknowledged before a SIGKILL is present after reopening.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <set>

#include "tests/broker/store/store_test_util.h"

namespace keycell::broker::store::test {
namespace {

TEST_F(StoreTest, IntegrityCheckIsOkAfterABurst) {
  auto s = OpenStore();
  ASSERT_NE(s, nullptr);
  for (int i = 0; i < 200; ++i) {
    const std::string name = "K" + std::to_string(i);
    const std::string rid = Add(*s, Meta(name, "p" + std::to_string(i % 3), "", {"t"}));
    FakeSealed v2(rid, 2, name);
    KC_ASSERT_OK(s->AddVersion(name, 1, v2.Write()));
    KC_ASSERT_OK(s->Assign(name, "/proj/" + std::to_string(i % 5)));
    if (i % 4 == 0) KC_ASSERT_OK(s->DeleteCredential(name));
  }
  KC_EXPECT_OK(s->IntegrityCheck());
  KC_ASSERT_OK_AND_ASSIGN(std::vector<Credential> all, s->ListCredentials({}));
  EXPECT_EQ(all.size(), 150u);
  s.reset();
  s = OpenStore();
  ASSERT_NE(s, nullptr);
  KC_EXPECT_OK(s->IntegrityCheck());
}

// The child: adds up to kMaxAdds credentials, writing each name to `out` only after
// AddCredential returned ok. Never returns.
[[noreturn]] void AddBurst(const std::string& path, int out, int max_adds) {
  auto s = Store::Open(path);
  if (!s.ok()) _exit(2);
  for (int i = 0; i < max_adds; ++i) {
    const std::string name = "crash-" + std::to_string(i);
    auto rid = NewRecordId();
    if (!rid.ok()) _exit(3);
    FakeSealed v1(*rid, 1, name);
    if (!(*s)->AddCredential(CredentialMeta{.name = name}, *rid, v1.Write()).ok()) _exit(4);
    const std::string line = name + "\n";
    if (write(out, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(5);
  }
  _exit(0);
}

TEST_F(StoreTest, AcknowledgedAddsSurviveSigkill) {
  constexpr int kMaxAdds = 500;
  constexpr int kKillAfter = 60;  // acknowledged adds seen before the kill
  OpenStore().reset();            // create and migrate first, so the child only adds
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    AddBurst(db_path_, fds[1], kMaxAdds);
  }
  close(fds[1]);
  FILE* in = fdopen(fds[0], "r");
  ASSERT_NE(in, nullptr);
  std::set<std::string> acked;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  char line[128];
  bool killed = false;
  while (fgets(line, sizeof(line), in) != nullptr) {
    std::string name(line);
    if (!name.empty() && name.back() == '\n') name.pop_back();
    acked.insert(name);
    // Kill mid-burst; lines already in the pipe are still read (and must be present).
    if (!killed && (acked.size() >= kKillAfter || std::chrono::steady_clock::now() > deadline)) {
      ASSERT_EQ(kill(pid, SIGKILL), 0);
      killed = true;
    }
  }
  fclose(in);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(killed);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child status " << status;
  EXPECT_LT(acked.size(), static_cast<size_t>(kMaxAdds));  // it really died mid-burst
  RecordProperty("acknowledged_adds", static_cast<int>(acked.size()));
  auto s = OpenStore();
  ASSERT_NE(s, nullptr);
  KC_EXPECT_OK(s->IntegrityCheck());
  for (const std::string& name : acked) {
    auto c = s->GetCurrent(name);
    ASSERT_TRUE(c.ok()) << name << ": " << ::keycell::test::Describe(c.status());
    EXPECT_EQ(BlobText(c->sealed), FakeSealed(c->record_id, 1, name).blob);
  }
  KC_ASSERT_OK_AND_ASSIGN(std::vector<Credential> all, s->ListCredentials({}));
  EXPECT_GE(all.size(), acked.size());  // at most the one in flight was committed unseen
  EXPECT_LE(all.size(), acked.size() + 1);
}

}  // namespace
}  // namespace keycell::broker::store::test

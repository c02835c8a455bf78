// The shared migration runner (broker/store/migrations.h) on throwaway plans: a fresh
// file reaches N, a re-run writes nothing, a newer file is refused untouched, a gap and a
// failing step leave the version where it was, and concurrent openers apply each step once.

#include "broker/store/migrations.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "broker/store/private_files.h"
#include "tests/support/status_testing.h"

namespace keycell::broker::store::test {
namespace {

constexpr char kTooNew[] = "test: database written by a newer keycell";
constexpr char kFailed[] = "test: migration";
constexpr int64_t kNow = 1700000000;

// Plain CREATE TABLE (no IF NOT EXISTS): applying a step twice would fail.
constexpr Migration kTwoSteps[] = {
    {1, "CREATE TABLE a (x INTEGER NOT NULL); INSERT INTO a VALUES (1);"},
    {2, "CREATE TABLE b (y TEXT); ALTER TABLE a ADD COLUMN z INTEGER;"},
};
static_assert(MigrationStepsInOrder(kTwoSteps));

constexpr Migration kGap[] = {
    {1, "CREATE TABLE a (x INTEGER);"},
    {3, "CREATE TABLE c (x INTEGER);"},
};
static_assert(!MigrationStepsInOrder(kGap));

// Step 2 creates a table and then fails: the table must not survive.
constexpr Migration kFailingSecond[] = {
    {1, "CREATE TABLE a (x INTEGER NOT NULL); INSERT INTO a VALUES (1);"},
    {2, "CREATE TABLE b (y TEXT); INSERT INTO no_such_table VALUES (1);"},
};

MigrationPlan Plan(std::span<const Migration> steps) { return {steps, kTooNew, kFailed}; }

bool HasWhere(const Status& s, Err code, const char* where) {
  return s.code() == code && std::strcmp(s.where(), where) == 0;
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

class MigrationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kc-migr-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/test.db";
    KC_ASSERT_OK(EnsurePrivateFile(path_));
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // A connection configured as the broker's files are (WAL, busy timeout), or a read-only
  // one: a read-only connection fails any write, which proves a call did not try one.
  Result<Db> Open(bool read_only = false, bool wal = true) const {
    const int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    KC_ASSIGN_OR_RETURN(Db db, Db::Open(path_, flags | SQLITE_OPEN_NOMUTEX));
    sqlite3_busy_timeout(db.get(), 5000);
    if (wal && !read_only) {
      KC_ASSIGN_OR_RETURN(std::string mode, db.QueryText("PRAGMA journal_mode = WAL", "test"));
      if (mode != "wal") return Status(Err::kInternal, "test: journal_mode=WAL");
    }
    return db;
  }

  int64_t Count(const Db& db, const char* sql) const {
    auto r = db.QueryInt(sql, "test: count");
    EXPECT_TRUE(r.ok()) << ::keycell::test::Describe(r.status());
    return r.ok() ? *r : -1;
  }

  std::string dir_;
  std::string path_;
};

TEST_F(MigrationsTest, FreshFileReachesLatest) {
  KC_ASSERT_OK_AND_ASSIGN(Db db, Open());
  KC_ASSERT_OK_AND_ASSIGN(int v, ReadSchemaVersion(db));
  EXPECT_EQ(v, 0);  // no schema_version table yet
  KC_ASSERT_OK_AND_ASSIGN(v, Migrate(db, Plan(kTwoSteps), kNow));
  EXPECT_EQ(v, 2);
  KC_ASSERT_OK_AND_ASSIGN(v, ReadSchemaVersion(db));
  EXPECT_EQ(v, 2);
  EXPECT_EQ(Count(db, "SELECT count(*) FROM schema_version"), 2);
  EXPECT_EQ(Count(db, "SELECT count(*) FROM schema_version WHERE applied_at = 1700000000"), 2);
  EXPECT_EQ(Count(db, "SELECT count(*) FROM b"), 0);
  EXPECT_EQ(Count(db, "SELECT count(*) FROM a WHERE z IS NULL"), 1);
}

TEST_F(MigrationsTest, EmptyPlanLeavesAFreshFileAlone) {
  KC_ASSERT_OK_AND_ASSIGN(Db db, Open());
  KC_ASSERT_OK_AND_ASSIGN(int v, Migrate(db, Plan({}), kNow));
  EXPECT_EQ(v, 0);
  EXPECT_EQ(Count(db, "SELECT count(*) FROM sqlite_schema"), 0);
}

TEST_F(MigrationsTest, RerunIsANoOpAndTakesNoWriteLock) {
  {
    KC_ASSERT_OK_AND_ASSIGN(Db db, Open());
    KC_ASSERT_OK_AND_ASSIGN(int v, Migrate(db, Plan(kTwoSteps), kNow));
    ASSERT_EQ(v, 2);
  }
  // Another connection holds the write lock and we do not wait for it: an up-to-date
  // file is only read.
  KC_ASSERT_OK_AND_ASSIGN(Db writer, Open());
  KC_ASSERT_OK(writer.Exec("BEGIN IMMEDIATE", "test: begin"));
  KC_ASSERT_OK_AND_ASSIGN(Db db, Open());
  sqlite3_busy_timeout(db.get(), 0);
  KC_ASSERT_OK_AND_ASSIGN(int v, Migrate(db, Plan(kTwoSteps), kNow + 1));
  EXPECT_EQ(v, 2);
  EXPECT_EQ(sqlite3_total_changes64(db.get()), 0);
  KC_ASSERT_OK(writer.Exec("ROLLBACK", "test: rollback"));

  KC_ASSERT_OK_AND_ASSIGN(Db ro, Open(/*read_only=*/true));
  KC_ASSERT_OK_AND_ASSIGN(v, Migrate(ro, Plan(kTwoSteps), kNow + 2));
  EXPECT_EQ(v, 2);
  EXPECT_EQ(Count(ro, "SELECT count(*) FROM schema_version"), 2);
  EXPECT_EQ(Count(ro, "SELECT max(applied_at) FROM schema_version"), kNow);
}

TEST_F(MigrationsTest, OlderFileGetsOnlyTheMissingSteps) {
  KC_ASSERT_OK_AND_ASSIGN(Db db, Open());
  KC_ASSERT_OK_AND_ASSIGN(int v, Migrate(db, Plan(std::span(kTwoSteps).first(1)), kNow));
  ASSERT_EQ(v, 1);
  KC_ASSERT_OK_AND_ASSIGN(v, Migrate(db, Plan(kTwoSteps), kNow + 5));
  EXPECT_EQ(v, 2);
  EXPECT_EQ(Count(db, "SELECT applied_at FROM schema_version WHERE version = 1"), kNow);
  EXPECT_EQ(Count(db, "SELECT applied_at FROM schema_version WHERE version = 2"), kNow + 5);
}

TEST_F(MigrationsTest, TooNewFileIsRefusedWithNothingWritten) {
  {
    // Rollback-journal mode, so every byte of the database is in the one file.
    KC_ASSERT_OK_AND_ASSIGN(Db db, Open(/*read_only=*/false, /*wal=*/false));
    KC_ASSERT_OK_AND_ASSIGN(int v, Migrate(db, Plan(kTwoSteps), kNow));
    ASSERT_EQ(v, 2);
    KC_ASSERT_OK(db.Exec("INSERT INTO schema_version VALUES (7, 0)", "test: insert"));
  }
  const std::string before = ReadBytes(path_);
  ASSERT_FALSE(before.empty());
  {
    KC_ASSERT_OK_AND_ASSIGN(Db db, Open(/*read_only=*/false, /*wal=*/false));
    auto r = Migrate(db, Plan(kTwoSteps), kNow);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(HasWhere(r.status(), Err::kInvalidArgument, kTooNew))
        << ::keycell::test::Describe(r.status());
    EXPECT_EQ(r.status().detail(), 7);
    EXPECT_EQ(sqlite3_total_changes64(db.get()), 0);
  }
  EXPECT_TRUE(ReadBytes(path_) == before) << "the refused file was modified";
  EXPECT_FALSE(std::filesystem::exists(path_ + "-journal"));
  // A read-only connection gets the same answer, not SQLITE_READONLY: no write was tried.
  KC_ASSERT_OK_AND_ASSIGN(Db ro, Open(/*read_only=*/true));
  auto r = Migrate(ro, Plan(std::span(kTwoSteps).first(1)), kNow);
  EXPECT_TRUE(HasWhere(r.status(), Err::kInvalidArgument, kTooNew))
      << ::keycell::test::Describe(r.status());
  EXPECT_EQ(r.status().detail(), 7);
}

TEST_F(MigrationsTest, GapIsRefused) {
  KC_ASSERT_OK_AND_ASSIGN(Db db, Open());
  auto r = Migrate(db, Plan(kGap), kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(HasWhere(r.status(), Err::kInternal, kMigrationGap))
      << ::keycell::test::Describe(r.status());
  EXPECT_EQ(r.status().detail(), 1);  // the version the file was at
  KC_ASSERT_OK_AND_ASSIGN(int v, ReadSchemaVersion(db));
  EXPECT_EQ(v, 1);  // step 1 stays; the step after the gap never ran
  EXPECT_EQ(Count(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'c'"), 0);
}

TEST_F(MigrationsTest, FailingStepRollsBackAndLeavesTheVersion) {
  KC_ASSERT_OK_AND_ASSIGN(Db db, Open());
  auto r = Migrate(db, Plan(kFailingSecond), kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(HasWhere(r.status(), Err::kInternal, kFailed))
      << ::keycell::test::Describe(r.status());
  EXPECT_EQ(r.status().detail(), SQLITE_ERROR);
  KC_ASSERT_OK_AND_ASSIGN(int v, ReadSchemaVersion(db));
  EXPECT_EQ(v, 1);
  EXPECT_EQ(Count(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'b'"), 0);
  EXPECT_EQ(Count(db, "SELECT count(*) FROM schema_version"), 1);
  // Nothing is left half-done: a fixed plan applies step 2 cleanly.
  KC_ASSERT_OK_AND_ASSIGN(v, Migrate(db, Plan(kTwoSteps), kNow));
  EXPECT_EQ(v, 2);
}

TEST_F(MigrationsTest, ReadSchemaVersionOfAnAttachedFile) {
  {
    KC_ASSERT_OK_AND_ASSIGN(Db db, Open());
    KC_ASSERT_OK_AND_ASSIGN(int v, Migrate(db, Plan(kTwoSteps), kNow));
    ASSERT_EQ(v, 2);
  }
  const std::string other = dir_ + "/other.db";
  KC_ASSERT_OK(EnsurePrivateFile(other));
  KC_ASSERT_OK_AND_ASSIGN(Db db, Db::Open(other, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX));
  const std::string attach = "ATTACH DATABASE '" + path_ + "' AS src";
  KC_ASSERT_OK(db.Exec(attach.c_str(), "test: attach"));
  KC_ASSERT_OK_AND_ASSIGN(int v, ReadSchemaVersion(db, "src"));
  EXPECT_EQ(v, 2);
  KC_ASSERT_OK_AND_ASSIGN(v, ReadSchemaVersion(db));
  EXPECT_EQ(v, 0);
}

// Several processes open the same new file at once; each step must be applied exactly
// once (the steps' plain CREATE TABLE would fail a second time) and all must end at N.
TEST_F(MigrationsTest, ConcurrentOpenersApplyEachStepOnce) {
  constexpr int kProcesses = 4;
  // The file is put in WAL mode first: a journal_mode switch racing another connection
  // answers the old mode instead of waiting, and that race is not what this test is about.
  { KC_ASSERT_OK_AND_ASSIGN(Db first, Open()); }
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  std::vector<pid_t> pids;
  for (int i = 0; i < kProcesses; ++i) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(go[1]);
      char c;
      if (read(go[0], &c, 1) != 0) _exit(9);  // wait for the parent to close the pipe
      auto db = Open();
      if (!db.ok()) _exit(2);
      auto v = Migrate(*db, Plan(kTwoSteps), kNow + i);
      _exit(v.ok() && *v == 2 ? 0 : 3);
    }
    pids.push_back(pid);
  }
  close(go[0]);
  close(go[1]);  // start them together
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  }
  KC_ASSERT_OK_AND_ASSIGN(Db db, Open());
  EXPECT_EQ(Count(db, "SELECT count(*) FROM schema_version"), 2);
  EXPECT_EQ(Count(db, "SELECT count(*) FROM a"), 1);
}

}  // namespace
}  // namespace keycell::broker::store::test

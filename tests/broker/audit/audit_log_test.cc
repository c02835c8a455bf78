// AuditLog: append, chain links, queries, checkpoints policy, files, concurrency.

#include <sys/stat.h>

#include <set>
#include <thread>
#include <vector>

#include "broker/audit/audit_schema.h"
#include "tests/broker/audit/audit_test_util.h"

namespace keycell::broker::audit::test {
namespace {

using AuditLogTest = AuditFixture;

TEST_F(AuditLogTest, AppendLinksEachRecordToThePrevious) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  Hash prev{};
  for (int i = 0; i < 20; ++i) {
    KC_ASSERT_OK_AND_ASSIGN(Record r, log->Append(Sample(i)));
    EXPECT_EQ(r.seq, i + 1);
    EXPECT_EQ(r.ts, now_.load());
    EXPECT_EQ(r.prev_hash, prev);  // the first record links to 32 zero bytes
    KC_ASSERT_OK_AND_ASSIGN(Hash h, ComputeHash(r));
    EXPECT_EQ(r.hash, h);
    prev = r.hash;
  }
  const VerifyReport rep = MustVerify(*log, mac_);
  EXPECT_TRUE(rep.ok()) << rep.Describe();
  EXPECT_EQ(rep.records, 20);
  EXPECT_EQ(rep.head_seq, 20);
  EXPECT_EQ(rep.head_hash, prev);
}

TEST_F(AuditLogTest, StoredRecordReadsBackUnchanged) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  Entry e = Sample(1);
  e.actor_kind = ActorKind::kApiKey;
  e.version.reset();
  e.status.reset();
  KC_ASSERT_OK_AND_ASSIGN(Record written, log->Append(e));
  KC_ASSERT_OK_AND_ASSIGN(std::vector<Record> got, log->Query(Filter{}));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(CanonicalV1(got[0]), CanonicalV1(written));
  EXPECT_EQ(got[0].hash, written.hash);
  EXPECT_FALSE(got[0].version.has_value());
  EXPECT_FALSE(got[0].status.has_value());
}

TEST_F(AuditLogTest, QueryStringIsStrippedOnWrite) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  Entry e = Sample(0);
  e.path = "/v1/models?api_key=sk-abcdefghijklmnopqrstuvwxyz&x=1#frag";
  e.detail = "purpose: debugging " + std::string("pxr_") + std::string(43, 'Q');
  KC_ASSERT_OK_AND_ASSIGN(Record r, log->Append(e));
  EXPECT_EQ(r.path, "/v1/models");
  EXPECT_EQ(r.detail, "purpose: debugging pxr_[redacted]");
  KC_ASSERT_OK_AND_ASSIGN(std::vector<Record> got, log->Query(Filter{}));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].path, "/v1/models");
  // The schema refuses a query string even from a writer that skips the guards.
  EXPECT_NE(RawExec("INSERT INTO audit (seq, ts, actor, actor_kind, action, credential, host, "
                    "path, result, latency_us, detail, prev_hash, hash) VALUES (2, 0, 'a', "
                    "'uid', 'x', '', '', '/p?k=v', '', 0, '', zeroblob(32), zeroblob(32))"),
            SQLITE_OK);
}

TEST_F(AuditLogTest, BadEntryIsRefusedAndNothingIsWritten) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  Entry e = Sample(0);
  e.action = "DROP TABLE";
  EXPECT_EQ(log->Append(e).status().code(), Err::kInvalidArgument);
  KC_ASSERT_OK_AND_ASSIGN(std::vector<Record> got, log->Query(Filter{}));
  EXPECT_TRUE(got.empty());
}

TEST_F(AuditLogTest, TablesAreAppendOnlyThroughTheSchema) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  AppendSamples(*log, 3);
  KC_ASSERT_OK(log->Checkpoint(mac_));
  EXPECT_NE(RawExec("UPDATE audit SET result = 'denied' WHERE seq = 2"), SQLITE_OK);
  EXPECT_NE(RawExec("DELETE FROM audit WHERE seq = 3"), SQLITE_OK);
  EXPECT_NE(RawExec("DELETE FROM checkpoints"), SQLITE_OK);
  EXPECT_NE(RawExec("UPDATE checkpoints SET ts = 0"), SQLITE_OK);
  EXPECT_TRUE(MustVerify(*log, mac_).ok());
}

TEST_F(AuditLogTest, FileModesArePrivateWhateverTheUmask) {
  const mode_t old = umask(0);
  auto log = OpenLog();
  umask(old);
  ASSERT_NE(log, nullptr);
  AppendSamples(*log, 1);
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  for (const char* suffix : {"-wal", "-shm"}) {
    ASSERT_EQ(stat((path_ + suffix).c_str(), &st), 0) << suffix;
    EXPECT_EQ(st.st_mode & 0077, 0u) << suffix;
  }
  ASSERT_EQ(stat((dir_ + "/data/keycell").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  // An existing file with group/other bits is narrowed on open.
  log.reset();
  ASSERT_EQ(chmod(path_.c_str(), 0644), 0);
  log = OpenLog();
  ASSERT_NE(log, nullptr);
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(AuditLogTest, ReopenContinuesTheChain) {
  {
    auto log = OpenLog();
    ASSERT_NE(log, nullptr);
    AppendSamples(*log, 5);
  }
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  KC_ASSERT_OK_AND_ASSIGN(Record r, log->Append(Sample(5)));
  EXPECT_EQ(r.seq, 6);
  EXPECT_TRUE(MustVerify(*log, mac_).ok());
}

TEST_F(AuditLogTest, NewerSchemaIsRefused) {
  { ASSERT_NE(OpenLog(), nullptr); }
  ASSERT_EQ(RawExec("INSERT INTO schema_version VALUES (99, 0)"), SQLITE_OK);
  auto r = AuditLog::Open(path_, TestOptions());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Err::kInvalidArgument);
  EXPECT_STREQ(r.status().where(), kAuditSchemaTooNew);
  EXPECT_EQ(r.status().detail(), 99);
}

// 4 threads x 200 appends over two connections (as two processes would): the chain is
// linear, seqs are 1..800 without gaps, and a verifier running meanwhile sees a
// consistent snapshot every time.
TEST_F(AuditLogTest, ConcurrentAppendsKeepOneLinearChain) {
  auto a = OpenLog();
  auto b = OpenLog();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  std::atomic<int> failures{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      AuditLog& log = (t % 2 == 0) ? *a : *b;
      for (int i = 0; i < 200; ++i) {
        if (!log.Append(Sample(t * 1000 + i)).ok()) ++failures;
      }
    });
  }
  std::thread verifier([&] {
    while (!done.load()) {
      auto rep = a->Verify(mac_);
      if (!rep.ok() || !rep->ok()) ++failures;
    }
  });
  for (auto& w : writers) w.join();
  done = true;
  verifier.join();
  EXPECT_EQ(failures.load(), 0);
  const VerifyReport rep = MustVerify(*b, mac_);
  EXPECT_TRUE(rep.ok()) << rep.Describe();
  EXPECT_EQ(rep.records, 800);
  Filter all;
  all.limit = 1000;
  KC_ASSERT_OK_AND_ASSIGN(std::vector<Record> got, a->Query(all));
  ASSERT_EQ(got.size(), 800u);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].seq, 800 - static_cast<int64_t>(i));
}

}  // namespace
}  // namespace keycell::broker::audit::test

// AuditQueue: group commit keeps the chain whole and ordered, loses nothing, and really
// groups (fewer transactions than records under concurrent submitters).

#include <thread>
#include <vector>

#include "broker/audit/audit_queue.h"
#include "tests/broker/audit/audit_test_util.h"

namespace keycell::broker::audit::test {
namespace {

using AuditQueueTest = AuditFixture;

TEST_F(AuditQueueTest, ConcurrentSubmittersAreCommittedInOrderAndGrouped) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  constexpr int kThreads = 4, kPerThread = 250;
  {
    AuditQueue::Options o;
    o.max_delay = std::chrono::milliseconds(5);
    AuditQueue queue(*log, o);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&queue, t] {
        for (int i = 0; i < kPerThread; ++i) {
          Entry e = Sample(i);
          e.actor = "thread" + std::to_string(t);
          e.detail = std::to_string(i);
          ASSERT_TRUE(queue.Submit(std::move(e)).ok());
        }
      });
    for (auto& th : threads) th.join();
    queue.Flush();
    EXPECT_EQ(queue.committed(), static_cast<uint64_t>(kThreads * kPerThread));
    EXPECT_EQ(queue.failed(), 0u);
    EXPECT_LT(queue.batches(), queue.committed());  // grouped: one fsync served several
  }
  const VerifyReport report = MustVerify(*log, MacFn());
  EXPECT_TRUE(report.ok()) << report.Describe();
  EXPECT_EQ(report.records, kThreads * kPerThread);
  // Each submitter's records appear in the order it submitted them.
  for (int t = 0; t < kThreads; ++t) {
    Filter f;
    f.actor = "thread" + std::to_string(t);
    f.limit = kPerThread;
    auto recs = log->Query(f);
    ASSERT_TRUE(recs.ok());
    ASSERT_EQ(recs->size(), static_cast<size_t>(kPerThread));
    for (int i = 0; i < kPerThread; ++i)  // newest first
      EXPECT_EQ((*recs)[static_cast<size_t>(kPerThread - 1 - i)].detail, std::to_string(i));
  }
}

TEST_F(AuditQueueTest, FlushWaitsAndTheDestructorLosesNothing) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  {
    AuditQueue::Options o;
    o.capacity = 4;  // Submit must wait for room, never drop
    o.max_batch = 3;
    AuditQueue queue(*log, o);
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(queue.Submit(Sample(i)).ok());
  }  // the destructor flushes
  EXPECT_EQ(MustVerify(*log, MacFn()).records, 50);
}

TEST_F(AuditQueueTest, AMalformedEntryIsRefusedAtSubmitAndSinksNothing) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  AuditQueue queue(*log);
  Entry bad = Sample(1);
  bad.action = "NOT VALID";
  EXPECT_EQ(queue.Submit(bad).code(), Err::kInvalidArgument);
  ASSERT_TRUE(queue.Submit(Sample(2)).ok());
  queue.Flush();
  EXPECT_EQ(queue.committed(), 1u);
  EXPECT_EQ(queue.failed(), 0u);
}

TEST_F(AuditQueueTest, AppendBatchChainsInOneTransaction) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(log->Append(Sample(0)).ok());
  std::vector<Entry> entries = {Sample(1), Sample(2), Sample(3)};
  auto recs = log->AppendBatch(entries);
  ASSERT_TRUE(recs.ok());
  ASSERT_EQ(recs->size(), 3u);
  EXPECT_EQ((*recs)[0].seq, 2);
  EXPECT_EQ((*recs)[1].prev_hash, (*recs)[0].hash);
  EXPECT_EQ((*recs)[2].prev_hash, (*recs)[1].hash);
  entries.push_back(Sample(4));
  entries.back().result = "Bad Result";
  EXPECT_EQ(log->AppendBatch(entries).status().code(), Err::kInvalidArgument);
  EXPECT_EQ(MustVerify(*log, MacFn()).records, 4);  // the refused batch wrote nothing
}

}  // namespace
}  // namespace keycell::broker::audit::test

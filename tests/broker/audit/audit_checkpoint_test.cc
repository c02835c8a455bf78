// Checkpoints: what Checkpoint stores, and the "periodically" policy of MaybeCheckpoint.

#include <string>

#include "tests/broker/audit/audit_test_util.h"

namespace keycell::broker::audit::test {
namespace {

using AuditCheckpointTest = AuditFixture;

// Counts how often the "enclave" was asked.
struct CountingMac {
  MacFn inner;
  int calls = 0;
  MacFn Fn() {
    return [this](ByteView m) {
      ++calls;
      return inner(m);
    };
  }
};

TEST_F(AuditCheckpointTest, CheckpointSealsTheHeadWithTheMacOfItsMessage) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  AppendSamples(*log, 7);
  KC_ASSERT_OK(log->Checkpoint(mac_));
  const VerifyReport rep = MustVerify(*log, mac_);
  EXPECT_TRUE(rep.ok()) << rep.Describe();
  EXPECT_EQ(rep.checkpoints, 1);
  EXPECT_EQ(rep.anchored_seq, 7);
  EXPECT_TRUE(rep.macs_checked);
}

TEST_F(AuditCheckpointTest, EmptyLogAndSealedHeadAreNoOps) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  CountingMac mac{mac_};
  KC_ASSERT_OK(log->Checkpoint(mac.Fn()));
  EXPECT_EQ(mac.calls, 0);
  AppendSamples(*log, 2);
  KC_ASSERT_OK(log->Checkpoint(mac.Fn()));
  KC_ASSERT_OK(log->Checkpoint(mac.Fn()));  // same head: nothing new to seal
  EXPECT_EQ(mac.calls, 1);
}

TEST_F(AuditCheckpointTest, MacFailureWritesNothing) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  AppendSamples(*log, 2);
  const MacFn locked = [](ByteView) -> Result<Hash> { return Status(Err::kLocked, "locked"); };
  EXPECT_EQ(log->Checkpoint(locked).code(), Err::kLocked);
  EXPECT_EQ(MustVerify(*log, mac_).checkpoints, 0);
}

// The MAC function runs with no lock held, so it may append (the daemon audits its own
// enclave calls); the record it adds is covered by the next checkpoint.
TEST_F(AuditCheckpointTest, MacFunctionMayAppend) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  AppendSamples(*log, 2);
  const MacFn appending = [&](ByteView m) {
    EXPECT_TRUE(log->Append(Sample(99)).ok());
    return mac_(m);
  };
  KC_ASSERT_OK(log->Checkpoint(appending));
  const VerifyReport rep = MustVerify(*log, mac_);
  EXPECT_TRUE(rep.ok()) << rep.Describe();
  EXPECT_EQ(rep.anchored_seq, 2);
  EXPECT_EQ(rep.head_seq, 3);
}

TEST_F(AuditCheckpointTest, PolicyDecision) {
  const CheckpointPolicy p{.every_records = 10, .every_seconds = 60};
  EXPECT_FALSE(CheckpointDue(p, 0, std::nullopt, 0, 1000));  // empty log
  EXPECT_TRUE(CheckpointDue(p, 1, std::nullopt, 0, 1000));   // first record: anchor early
  EXPECT_FALSE(CheckpointDue(p, 5, 5, 1000, 5000));          // nothing new
  EXPECT_FALSE(CheckpointDue(p, 14, 5, 1000, 1059));         // 9 new, 59 s
  EXPECT_TRUE(CheckpointDue(p, 15, 5, 1000, 1001));          // 10 new
  EXPECT_TRUE(CheckpointDue(p, 6, 5, 1000, 1060));           // 60 s
}

TEST_F(AuditCheckpointTest, MaybeCheckpointFollowsThePolicy) {
  Options o = TestOptions();
  o.checkpoint = {.every_records = 10, .every_seconds = 60};
  auto log = OpenLog(std::move(o));
  ASSERT_NE(log, nullptr);
  CountingMac mac{mac_};
  auto maybe = [&] {
    auto r = log->MaybeCheckpoint(mac.Fn());
    EXPECT_TRUE(r.ok()) << ::keycell::test::Describe(r.status());
    return r.ok() && *r;
  };
  EXPECT_FALSE(maybe());  // empty
  AppendSamples(*log, 1);
  EXPECT_TRUE(maybe());  // the first record is anchored at once
  AppendSamples(*log, 9);
  EXPECT_FALSE(maybe());
  AppendSamples(*log, 1);
  EXPECT_TRUE(maybe());  // 10 records since the last checkpoint
  AppendSamples(*log, 1);
  now_ += 59;
  EXPECT_FALSE(maybe());
  now_ += 1;
  EXPECT_TRUE(maybe());  // 60 s since the last checkpoint
  now_ += 3600;
  EXPECT_FALSE(maybe());  // time alone seals nothing: no new record
  EXPECT_EQ(mac.calls, 3);
  const VerifyReport rep = MustVerify(*log, mac_);
  EXPECT_TRUE(rep.ok()) << rep.Describe();
  EXPECT_EQ(rep.checkpoints, 3);
  EXPECT_EQ(rep.anchored_seq, 12);
}

}  // namespace
}  // namespace keycell::broker::audit::test

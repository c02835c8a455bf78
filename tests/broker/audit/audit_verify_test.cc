// Verify against an attacker who edits audit.db directly with the sqlite3 C API.

#include <string>

#include "tests/broker/audit/audit_test_util.h"

namespace keycell::broker::audit::test {
namespace {

class AuditVerifyTest : public AuditFixture {
 protected:
  void SetUp() override {
    AuditFixture::SetUp();
    log_ = OpenLog();
    ASSERT_NE(log_, nullptr);
  }

  VerifyReport Check() { return MustVerify(*log_, mac_); }
  // Starts over with a new, empty log in a new directory.
  void Fresh() {
    log_.reset();
    AuditFixture::TearDown();
    SetUp();
  }

  std::unique_ptr<AuditLog> log_;
};

#define EXPECT_PROBLEM(report, kind, at)                       \
  do {                                                         \
    const VerifyReport rep_ = (report);                        \
    EXPECT_EQ(rep_.problem, Problem::kind) << rep_.Describe(); \
    EXPECT_EQ(rep_.seq, at) << rep_.Describe();                \
  } while (0)

TEST_F(AuditVerifyTest, EmptyLogVerifies) {
  const VerifyReport rep = Check();
  EXPECT_TRUE(rep.ok());
  EXPECT_EQ(rep.records, 0);
  EXPECT_EQ(rep.head_seq, 0);
}

TEST_F(AuditVerifyTest, EditedColumnIsNamed) {
  AppendSamples(*log_, 20);
  Tamper("UPDATE audit SET result = 'denied' WHERE seq = 7");
  const VerifyReport rep = Check();
  EXPECT_PROBLEM(rep, kEdited, 7);
  EXPECT_EQ(rep.records, 6);  // 1..6 were verified before the problem
  EXPECT_NE(rep.Describe().find("record 7 was edited"), std::string::npos);
  // Every column is covered, including the nullable ones.
  for (const char* edit : {"ts = ts + 1", "actor = 'agent9'", "actor_kind = 'uid'",
                           "credential = 'other'", "version = NULL", "host = 'evil.example'",
                           "path = '/x'", "status = 500", "latency_us = 0", "detail = ''"}) {
    Fresh();  // a new log for each edit
    AppendSamples(*log_, 10);
    Tamper(std::string("UPDATE audit SET ") + edit + " WHERE seq = 4");
    EXPECT_PROBLEM(Check(), kEdited, 4);
  }
}

TEST_F(AuditVerifyTest, EditedHashIsNamed) {
  AppendSamples(*log_, 10);
  Tamper("UPDATE audit SET hash = zeroblob(32) WHERE seq = 10");
  EXPECT_PROBLEM(Check(), kEdited, 10);
}

TEST_F(AuditVerifyTest, EditWithRecomputedHashBreaksTheNextLink) {
  AppendSamples(*log_, 10);
  // Rewrite record 4 and fix only its own hash: record 5 no longer links to it.
  KC_ASSERT_OK_AND_ASSIGN(std::vector<Record> all, log_->Query(Filter{}));
  Record r = all[all.size() - 4];
  ASSERT_EQ(r.seq, 4);
  r.detail = "nothing happened";
  KC_ASSERT_OK_AND_ASSIGN(Hash h, ComputeHash(r));
  Tamper("UPDATE audit SET detail = 'nothing happened', hash = x'" + HexOf(h) + "' WHERE seq = 4");
  EXPECT_PROBLEM(Check(), kChainBroken, 5);
}

TEST_F(AuditVerifyTest, DeletedMiddleRecordIsNamedAsAGap) {
  AppendSamples(*log_, 20);
  Tamper("DELETE FROM audit WHERE seq = 10");
  const VerifyReport rep = Check();
  EXPECT_PROBLEM(rep, kMissing, 10);
  EXPECT_EQ(rep.other_seq, 10);
  EXPECT_NE(rep.Describe().find("records 10..10 are missing"), std::string::npos);
}

TEST_F(AuditVerifyTest, DeletedRangeAndFirstRecordAreNamed) {
  AppendSamples(*log_, 20);
  Tamper("DELETE FROM audit WHERE seq BETWEEN 5 AND 8");
  VerifyReport rep = Check();
  EXPECT_PROBLEM(rep, kMissing, 5);
  EXPECT_EQ(rep.other_seq, 8);
  Fresh();
  AppendSamples(*log_, 5);
  Tamper("DELETE FROM audit WHERE seq = 1");
  EXPECT_PROBLEM(Check(), kMissing, 1);
}

TEST_F(AuditVerifyTest, DeletedAndRenumberedIsNamed) {
  AppendSamples(*log_, 20);
  Tamper("DELETE FROM audit WHERE seq = 10; UPDATE audit SET seq = seq - 1 WHERE seq > 10");
  const VerifyReport rep = Check();
  EXPECT_PROBLEM(rep, kReordered, 10);
  EXPECT_EQ(rep.other_seq, 11);
}

TEST_F(AuditVerifyTest, SwappedRecordsAreDetected) {
  AppendSamples(*log_, 40);
  SwapRows(5, 30, kAllCols);  // whole rows moved, hashes and all
  const VerifyReport rep = Check();
  EXPECT_PROBLEM(rep, kReordered, 5);
  EXPECT_EQ(rep.other_seq, 30);
}

TEST_F(AuditVerifyTest, AdjacentSwapIsDetected) {
  AppendSamples(*log_, 10);
  SwapRows(5, 6, kAllCols);
  const VerifyReport rep = Check();
  EXPECT_PROBLEM(rep, kReordered, 5);
  EXPECT_EQ(rep.other_seq, 6);
}

TEST_F(AuditVerifyTest, SwappedContentsUnderKeptHashesAreEdits) {
  AppendSamples(*log_, 10);
  SwapRows(3, 8, kDataCols);  // contents swapped, each row keeps its hashes
  EXPECT_PROBLEM(Check(), kEdited, 3);
}

TEST_F(AuditVerifyTest, TruncationAfterACheckpointIsDetected) {
  AppendSamples(*log_, 30);
  KC_ASSERT_OK(log_->Checkpoint(mac_));
  AppendSamples(*log_, 5);
  EXPECT_TRUE(Check().ok());
  Tamper("DELETE FROM audit WHERE seq > 25");
  const VerifyReport rep = Check();
  EXPECT_PROBLEM(rep, kTruncated, 26);
  EXPECT_EQ(rep.other_seq, 30);
  EXPECT_EQ(rep.head_seq, 25);
}

// The documented limit: records after the newest checkpoint are not anchored.
TEST_F(AuditVerifyTest, TailAfterTheLastCheckpointIsNotAnchored) {
  AppendSamples(*log_, 30);
  KC_ASSERT_OK(log_->Checkpoint(mac_));
  AppendSamples(*log_, 5);
  Tamper("DELETE FROM audit WHERE seq > 30");
  const VerifyReport rep = Check();
  EXPECT_TRUE(rep.ok()) << rep.Describe();
  EXPECT_EQ(rep.anchored_seq, 30);
  EXPECT_EQ(rep.head_seq, 30);
}

TEST_F(AuditVerifyTest, ForgedCheckpointMacIsDetected) {
  AppendSamples(*log_, 10);
  KC_ASSERT_OK(log_->Checkpoint(mac_));
  AppendSamples(*log_, 10);
  // The attacker seals the head with a key of their own.
  KC_ASSERT_OK(log_->Checkpoint(HmacWithKey("not the enclave's key")));
  const VerifyReport rep = Check();
  EXPECT_PROBLEM(rep, kCheckpointForged, 20);
  EXPECT_EQ(rep.anchored_seq, 10);  // the genuine checkpoint was verified first
  // Changing the MAC bytes of the genuine one is caught the same way.
  Fresh();
  AppendSamples(*log_, 10);
  KC_ASSERT_OK(log_->Checkpoint(mac_));
  Tamper("UPDATE checkpoints SET mac = zeroblob(32)");
  EXPECT_PROBLEM(Check(), kCheckpointForged, 10);
}

TEST_F(AuditVerifyTest, CheckpointReplayedAtAnotherSeqIsForged) {
  AppendSamples(*log_, 20);
  KC_ASSERT_OK(log_->Checkpoint(mac_));
  // Move the checkpoint (MAC and all) onto record 10, with record 10's hash.
  Tamper("UPDATE checkpoints SET seq = 10, head_hash = (SELECT hash FROM audit WHERE seq = 10)");
  EXPECT_PROBLEM(Check(), kCheckpointForged, 10);
}

TEST_F(AuditVerifyTest, ChainRewrittenBelowACheckpointIsDetected) {
  AppendSamples(*log_, 20);
  KC_ASSERT_OK(log_->Checkpoint(mac_));
  AppendSamples(*log_, 5);
  RewriteChainFrom(*log_, 7, "nothing to see");
  // Every link is consistent again; only the checkpoint's MAC'd head disagrees.
  const VerifyReport rep = Check();
  EXPECT_PROBLEM(rep, kCheckpointOffChain, 20);
  EXPECT_EQ(rep.records, 20);
  // Re-sealing the rewritten head needs the key: with another one it is a forgery.
  Tamper("DELETE FROM checkpoints");
  KC_ASSERT_OK(log_->Checkpoint(HmacWithKey("attacker key")));
  EXPECT_PROBLEM(Check(), kCheckpointForged, 25);
}

TEST_F(AuditVerifyTest, WithoutMacFunctionOnlyHeadsAndTruncationAreChecked) {
  AppendSamples(*log_, 10);
  KC_ASSERT_OK(log_->Checkpoint(HmacWithKey("attacker key")));
  KC_ASSERT_OK_AND_ASSIGN(VerifyReport rep, log_->Verify(nullptr));
  EXPECT_TRUE(rep.ok());
  EXPECT_FALSE(rep.macs_checked);
  EXPECT_NE(rep.Describe().find("MACs not checked"), std::string::npos);
  Tamper("DELETE FROM audit WHERE seq > 8");
  KC_ASSERT_OK_AND_ASSIGN(rep, log_->Verify(nullptr));
  EXPECT_PROBLEM(rep, kTruncated, 9);
}

TEST_F(AuditVerifyTest, MacErrorIsAnErrorNotAVerdict) {
  AppendSamples(*log_, 3);
  KC_ASSERT_OK(log_->Checkpoint(mac_));
  const MacFn locked = [](ByteView) -> Result<Hash> {
    return Status(Err::kLocked, "vault locked");
  };
  auto rep = log_->Verify(locked);
  ASSERT_FALSE(rep.ok());
  EXPECT_EQ(rep.status().code(), Err::kLocked);
}

}  // namespace
}  // namespace keycell::broker::audit::test

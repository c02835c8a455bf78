#include "broker/audit/verify.h"

#include <algorithm>
#include <vector>

#include "broker/audit/audit_internal.h"

namespace keycell::broker::audit {

using internal::CheckpointRow;
using store::Db;
using store::ReadTransaction;
using store::Statement;

namespace {

constexpr Hash kZeroHash{};

// How far around a bad record to look for the seq it was written as. Covers swaps of
// nearby records; a far swap is found through the hash of its predecessor instead.
constexpr int64_t kReorderSearchWindow = 256;

bool SameHash(const Hash& a, const Hash& b) { return std::equal(a.begin(), a.end(), b.begin()); }

struct CheckpointEntry {
  CheckpointRow row;
  bool well_formed = false;  // both blobs exactly 32 bytes
};

Result<std::vector<CheckpointEntry>> ReadCheckpoints(const Db& db) {
  KC_ASSIGN_OR_RETURN(
      Statement st,
      Statement::Prepare(db, "SELECT seq, ts, head_hash, mac FROM checkpoints ORDER BY seq",
                         "audit: read checkpoints"));
  std::vector<CheckpointEntry> out;
  for (;;) {
    KC_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return out;
    CheckpointEntry e;
    e.row.seq = st.Int(0);
    e.row.ts = st.Int(1);
    const bool head_ok = internal::ReadHash(st, 2, &e.row.head_hash);
    e.well_formed = internal::ReadHash(st, 3, &e.row.mac) && head_ok;
    out.push_back(e);
  }
}

// The seqs a record that fails its hash could have been written as: right after the row
// now holding its prev_hash, first place for a zero prev_hash, and a window around it.
Result<std::vector<int64_t>> CandidateSeqs(const Db& db, const Record& r) {
  std::vector<int64_t> out;
  if (SameHash(r.prev_hash, kZeroHash)) out.push_back(1);
  // A full scan (hash has no index): this only runs once, on the failure path.
  KC_ASSIGN_OR_RETURN(Statement st,
                      Statement::Prepare(db, "SELECT seq FROM audit WHERE hash = ?1 LIMIT 4",
                                         "audit: find predecessor"));
  st.BindBlob(1, r.prev_hash);
  for (;;) {
    KC_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(st.Int(0) + 1);
  }
  for (int64_t s = std::max<int64_t>(1, r.seq - kReorderSearchWindow);
       s <= r.seq + kReorderSearchWindow; ++s) {
    out.push_back(s);
  }
  return out;
}

// The seq `r` was written as, if its contents hash correctly under another seq; else 0.
Result<int64_t> FindOriginalSeq(const Db& db, const Record& r) {
  KC_ASSIGN_OR_RETURN(std::vector<int64_t> candidates, CandidateSeqs(db, r));
  Record moved = r;
  for (int64_t s : candidates) {
    if (s == r.seq) continue;
    moved.seq = s;
    KC_ASSIGN_OR_RETURN(Hash h, ComputeHash(moved));
    if (SameHash(h, r.hash)) return s;
  }
  return int64_t{0};
}

// Walks records in seq order; each On*() returns false once a problem is in the report.
class Walker {
 public:
  Walker(const Db& db, const MacFn& mac, std::vector<CheckpointEntry> cps, VerifyReport* report)
      : db_(db), mac_(mac), cps_(std::move(cps)), report_(report) {}

  Result<bool> OnRecord(const Record& r, bool well_formed) {
    const int64_t expected = report_->head_seq + 1;
    if (r.seq != expected) return Fail(Problem::kMissing, expected, r.seq - 1);
    if (!well_formed) return Fail(Problem::kEdited, r.seq);
    KC_ASSIGN_OR_RETURN(Hash computed, ComputeHash(r));
    if (!SameHash(computed, r.hash)) {
      KC_ASSIGN_OR_RETURN(int64_t original, FindOriginalSeq(db_, r));
      if (original != 0) return Fail(Problem::kReordered, r.seq, original);
      return Fail(Problem::kEdited, r.seq);
    }
    if (!SameHash(r.prev_hash, report_->head_hash)) return Fail(Problem::kChainBroken, r.seq);
    ++report_->records;
    report_->head_seq = r.seq;
    report_->head_hash = r.hash;
    return CheckCheckpointsUpTo(r.seq);
  }

  // After the last record: a checkpoint beyond it covered records that are gone.
  Result<bool> OnEnd() {
    if (next_ >= cps_.size()) return true;
    const CheckpointEntry& cp = cps_[next_];
    KC_ASSIGN_OR_RETURN(bool authentic, MacVerifies(cp));
    if (!authentic) return Fail(Problem::kCheckpointForged, cp.row.seq);
    return Fail(Problem::kTruncated, report_->head_seq + 1, cp.row.seq);
  }

 private:
  // Checkpoints at or below `seq` (the record just verified). Every seq below was
  // verified before, so a checkpoint that is not exactly at `seq` names no record.
  Result<bool> CheckCheckpointsUpTo(int64_t seq) {
    for (; next_ < cps_.size() && cps_[next_].row.seq <= seq; ++next_) {
      const CheckpointEntry& cp = cps_[next_];
      KC_ASSIGN_OR_RETURN(bool authentic, MacVerifies(cp));
      if (!authentic) return Fail(Problem::kCheckpointForged, cp.row.seq);
      if (cp.row.seq != seq || !SameHash(cp.row.head_hash, report_->head_hash)) {
        return Fail(Problem::kCheckpointOffChain, cp.row.seq);
      }
      ++report_->checkpoints;
      report_->anchored_seq = seq;
    }
    return true;
  }

  // Without a MAC function only the shape is checked (macs_checked = false).
  Result<bool> MacVerifies(const CheckpointEntry& cp) {
    if (!cp.well_formed) return false;
    if (!mac_) return true;
    KC_ASSIGN_OR_RETURN(Hash expected,
                        mac_(CheckpointMessage(cp.row.seq, cp.row.ts, cp.row.head_hash)));
    return ConstantTimeEqual(expected, cp.row.mac);
  }

  bool Fail(Problem p, int64_t seq, int64_t other = 0) {
    report_->problem = p;
    report_->seq = seq;
    report_->other_seq = other;
    return false;
  }

  const Db& db_;
  const MacFn& mac_;
  std::vector<CheckpointEntry> cps_;
  size_t next_ = 0;
  VerifyReport* report_;
};

}  // namespace

const char* ProblemName(Problem p) {
  switch (p) {
    case Problem::kNone:
      return "ok";
    case Problem::kEdited:
      return "edited";
    case Problem::kMissing:
      return "missing";
    case Problem::kReordered:
      return "reordered";
    case Problem::kChainBroken:
      return "chain_broken";
    case Problem::kCheckpointForged:
      return "checkpoint_forged";
    case Problem::kCheckpointOffChain:
      return "checkpoint_off_chain";
    case Problem::kTruncated:
      return "truncated";
  }
  return "?";
}

std::string VerifyReport::Describe() const {
  const std::string n = std::to_string(seq);
  const std::string m = std::to_string(other_seq);
  switch (problem) {
    case Problem::kNone:
      return "ok: " + std::to_string(records) + " records, " + std::to_string(checkpoints) +
             " checkpoints" + (macs_checked ? "" : " (MACs not checked)");
    case Problem::kEdited:
      return "record " + n + " was edited: its contents do not match its hash";
    case Problem::kMissing:
      return "records " + n + ".." + m + " are missing (deleted)";
    case Problem::kReordered:
      return "record at seq " + n + " was written as seq " + m +
             " (records were reordered, or deleted and renumbered)";
    case Problem::kChainBroken:
      return "record " + n + " does not follow record " + std::to_string(seq - 1) +
             " (an earlier record was rewritten, or records were removed)";
    case Problem::kCheckpointForged:
      return "checkpoint at seq " + n + " has a MAC that does not verify (forged)";
    case Problem::kCheckpointOffChain:
      return "checkpoint at seq " + n + " does not match the chain: records up to " + n +
             " were rewritten";
    case Problem::kTruncated:
      return "records " + n + ".." + m + " are missing: a checkpoint covered them (truncated)";
  }
  return "?";
}

Result<VerifyReport> VerifyChain(Db& db, const MacFn& mac) {
  // One snapshot: records appended during the walk are neither half-seen nor reported.
  KC_ASSIGN_OR_RETURN(ReadTransaction snapshot, ReadTransaction::Begin(db));
  KC_ASSIGN_OR_RETURN(std::vector<CheckpointEntry> cps, ReadCheckpoints(db));
  VerifyReport report;
  report.macs_checked = static_cast<bool>(mac);
  Walker walker(db, mac, std::move(cps), &report);
  KC_ASSIGN_OR_RETURN(
      Statement st,
      Statement::Prepare(
          db, std::string("SELECT ") + internal::kRecordColumns + " FROM audit ORDER BY seq",
          "audit: walk"));
  for (;;) {
    KC_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    Record r;
    const bool well_formed = internal::ReadRecord(st, &r);
    KC_ASSIGN_OR_RETURN(bool go_on, walker.OnRecord(r, well_formed));
    if (!go_on) return report;
  }
  KC_ASSIGN_OR_RETURN(bool ok, walker.OnEnd());
  (void)ok;  // the report says what was found
  return report;
}

}  // namespace keycell::broker::audit

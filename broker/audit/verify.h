#pragma once
// Verification of the audit chain and its checkpoints (docs/audit.md, "Verify").
//
// The walk reads every record in seq order inside one read snapshot and stops at the
// first problem, which it names with its kind and seq. Checks, per record N:
//   - seq must be the previous seq + 1 (the first is 1)          -> kMissing
//   - SHA-256(prev_hash || canonical) must equal the stored hash  -> kEdited, or
//     kReordered when the row is intact but was written at another seq
//   - prev_hash must equal record N-1's hash (zeros for N = 1)    -> kChainBroken
// and per checkpoint (in seq order, as the walk reaches its seq):
//   - its MAC must verify under the caller's MAC function         -> kCheckpointForged
//   - its head_hash must equal record seq's hash                  -> kCheckpointOffChain
// and after the walk, a checkpoint past the last record           -> kTruncated.
//
// What it cannot see (by design of a hash chain): records appended after the newest
// checkpoint can be rewritten or cut off by someone who can write the file, because
// only a checkpoint's MAC needs a key the broker does not hold.

#include <cstdint>
#include <functional>
#include <string>

#include "broker/audit/record.h"
#include "broker/store/sqlite.h"
#include "common/bytes.h"
#include "common/result.h"

namespace keycell::broker::audit {

// Computes the MAC of a checkpoint message (CheckpointMessage()). keycelld passes one
// that asks the enclave for HMAC-SHA256 keyed by the audit key sealed in the vault.
// Errors it returns are passed through (e.g. kLocked when the vault is locked).
using MacFn = std::function<Result<Hash>(ByteView message)>;

enum class Problem {
  kNone,
  kEdited,              // record `seq`'s contents do not match its hash
  kMissing,             // records seq..other_seq are absent (deleted)
  kReordered,           // record at `seq` is intact but was written as seq other_seq
  kChainBroken,         // record `seq` does not link to record seq-1 (seq-1 rewritten
                        // with a recomputed hash, or records removed and renumbered)
  kCheckpointForged,    // the checkpoint at `seq` has a MAC that does not verify
  kCheckpointOffChain,  // the checkpoint at `seq` is authentic but its head hash is not
                        // record seq's hash: the chain up to seq was rewritten
  kTruncated,           // records seq..other_seq, covered by a checkpoint, are gone
};

// "ok", "edited", "missing", "reordered", "chain_broken", "checkpoint_forged",
// "checkpoint_off_chain", "truncated" (stable: the daemon's JSON uses them).
const char* ProblemName(Problem p);

struct VerifyReport {
  Problem problem = Problem::kNone;
  int64_t seq = 0;            // where the problem is (see Problem)
  int64_t other_seq = 0;      // kMissing / kTruncated: last missing seq; kReordered: the seq
                              // the record was written as (0 if it could not be found)
  int64_t records = 0;        // records whose hash was checked
  int64_t checkpoints = 0;    // checkpoints checked (MAC too when macs_checked)
  bool macs_checked = false;  // false when Verify ran without a MAC function
  int64_t head_seq = 0;       // last record read (0 for an empty log)
  Hash head_hash{};           // its hash (zeros for an empty log)
  int64_t anchored_seq = 0;   // newest checkpoint verified on the chain: records up to
                              // here cannot be changed without the enclave's key

  bool ok() const { return problem == Problem::kNone; }
  // One line for people, e.g. "record 17 was edited: its contents do not match its hash".
  std::string Describe() const;
};

// Walks the chain and the checkpoints of `db` inside one read transaction. With an empty
// `mac` the checkpoints' MACs are not checked (macs_checked = false) but their heads and
// the truncation check still are. A problem in the data is a report, not an error.
// Errors: SQLite errors; whatever `mac` returns; kTls. Blocks on file I/O and on `mac`.
Result<VerifyReport> VerifyChain(store::Db& db, const MacFn& mac);

}  // namespace keycell::broker::audit

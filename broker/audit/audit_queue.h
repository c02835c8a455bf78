#pragma once
// Group commit for the audit trail: callers Submit() records and go on; one writer
// thread commits whatever has gathered in one AppendBatch transaction (one fsync for
// many records). Built for the proxy, where a synchronous fsync per request would cap
// keycelld near 250 requests/s (docs/performance.md); control ops keep AuditLog::Append.
//
// Guarantees: records are committed in Submit order (the chain order is the queue
// order); nothing is dropped — a full queue makes Submit wait for room (backpressure)
// rather than lose a record; Flush() returns once everything submitted before it is
// committed or failed. A crash loses at most the records not yet committed (at most
// max_delay old), never reorders or alters committed ones.
//
// Thread-safety: Submit and Flush from any thread. Blocking: Submit only while the queue
// is full; Flush until the writer caught up; the destructor flushes, then joins.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "broker/audit/audit_log.h"

namespace keycell::broker::audit {

class AuditQueue {
 public:
  struct Options {
    size_t capacity = 10000;                  // records waiting at most (then Submit waits)
    size_t max_batch = 512;                   // records per transaction at most
    std::chrono::milliseconds max_delay{2};   // how long the writer gathers after the first
    // Called on the writer thread when a batch fails to commit (the records are lost and
    // counted in failed()); keycelld logs it. May be empty.
    std::function<void(const Status&, size_t records)> on_error;
  };

  // `log` must outlive the queue.
  AuditQueue(AuditLog& log, Options options);
  explicit AuditQueue(AuditLog& log) : AuditQueue(log, Options{}) {}
  ~AuditQueue();
  AuditQueue(const AuditQueue&) = delete;
  AuditQueue& operator=(const AuditQueue&) = delete;

  // Queues `entry`. A malformed entry (SanitizeEntry's kInvalidArgument: a caller bug) is
  // refused here, so it can never sink the batch it would have joined.
  Status Submit(Entry entry);
  // Waits until every record submitted before this call has been committed (or failed).
  void Flush();

  uint64_t committed() const;  // records committed so far
  uint64_t batches() const;    // transactions committed so far
  uint64_t failed() const;     // records lost to failed commits

 private:
  void Run();

  AuditLog& log_;
  const Options options_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // the writer waits for records or stop
  std::condition_variable done_cv_;  // Submit (room) and Flush (progress) wait here
  std::deque<Entry> queue_;          // guarded by mu_
  uint64_t submitted_ = 0;           // guarded by mu_: records ever submitted
  uint64_t finished_ = 0;            // guarded by mu_: records committed or failed
  uint64_t committed_ = 0, batches_ = 0, failed_ = 0;  // guarded by mu_
  bool stop_ = false;                // guarded by mu_
  std::thread writer_;
};

}  // namespace keycell::broker::audit

#include "broker/audit/audit_queue.h"

#include <vector>

#include "broker/audit/sanitize.h"

namespace keycell::broker::audit {

AuditQueue::AuditQueue(AuditLog& log, Options options) : log_(log), options_(std::move(options)) {
  writer_ = std::thread([this] { Run(); });
}

AuditQueue::~AuditQueue() {
  Flush();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  writer_.join();
}

Status AuditQueue::Submit(Entry entry) {
  KC_ASSIGN_OR_RETURN(Entry clean, SanitizeEntry(entry));
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [&] { return queue_.size() < options_.capacity; });
  queue_.push_back(std::move(clean));
  ++submitted_;
  lock.unlock();
  work_cv_.notify_one();
  return Status::Ok();
}

void AuditQueue::Flush() {
  std::unique_lock<std::mutex> lock(mu_);
  const uint64_t target = submitted_;
  done_cv_.wait(lock, [&] { return finished_ >= target; });
}

uint64_t AuditQueue::committed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return committed_;
}

uint64_t AuditQueue::batches() const {
  std::lock_guard<std::mutex> lock(mu_);
  return batches_;
}

uint64_t AuditQueue::failed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failed_;
}

void AuditQueue::Run() {
  std::vector<Entry> batch;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stop_ with nothing left
    // Gather: whatever else arrives within max_delay joins this transaction.
    if (queue_.size() < options_.max_batch && !stop_)
      work_cv_.wait_for(lock, options_.max_delay, [&] { return stop_ || queue_.size() >= options_.max_batch; });
    const size_t n = std::min(queue_.size(), options_.max_batch);
    batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.begin() + n));
    queue_.erase(queue_.begin(), queue_.begin() + n);
    lock.unlock();
    done_cv_.notify_all();  // room for blocked submitters
    auto written = log_.AppendBatch(batch);
    if (!written.ok() && options_.on_error) options_.on_error(written.status(), n);
    lock.lock();
    if (written.ok()) {
      committed_ += n;
      ++batches_;
    } else {
      failed_ += n;
    }
    finished_ += n;
    done_cv_.notify_all();
  }
}

}  // namespace keycell::broker::audit

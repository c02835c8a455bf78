#include "broker/webhooks/delivery_worker.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <exception>

namespace keycell::broker::webhooks {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

// "where (ErrName)" without the "webhooks: " prefix, for a log row.
std::string DescribeStatus(const Status& s) {
  std::string_view where = s.where();
  if (where.starts_with("webhooks: ")) where.remove_prefix(10);
  return std::string(where) + " (" + ErrName(s.code()) + ")";
}

int64_t MillisSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               t0)
      .count();
}

bool ValidOptions(const DeliveryWorker::Options& o) {
  if (o.attempt_timeout_ms < 1 || o.queue_capacity < 1 || o.retry_backoff_ms.size() > kMaxRetries)
    return false;
  for (int ms : o.retry_backoff_ms)
    if (ms < 0) return false;
  return true;
}

DeliveryRecord RowFor(const std::string& webhook_id, const Event& e, int attempt,
                      DeliveryResult result, std::string error) {
  DeliveryRecord r;
  r.webhook_id = webhook_id;
  r.event_id = e.id;
  r.event = EventName(e.type);
  r.attempt = attempt;
  r.result = result;
  r.error = std::move(error);
  return r;
}

}  // namespace

std::string SignatureHeaderValue(const Mac& mac) {
  std::string out = "sha256=";
  for (uint8_t b : mac) {
    out.push_back(kHexDigits[b >> 4]);
    out.push_back(kHexDigits[b & 0xf]);
  }
  return out;
}

Result<std::unique_ptr<DeliveryWorker>> DeliveryWorker::Start(WebhookStore* store, SignFn sign,
                                                              Options options) {
  if (store == nullptr || !sign || !ValidOptions(options))
    return Status(Err::kInvalidArgument, "webhooks: bad delivery options");
  KC_ASSIGN_OR_RETURN(std::unique_ptr<HttpClient> client, HttpClient::Create(options.http));
  UniqueFd cancel(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!cancel) return Status(Err::kInternal, "webhooks: eventfd", errno);
  return std::unique_ptr<DeliveryWorker>(new DeliveryWorker(
      store, std::move(sign), std::move(options), std::move(client), std::move(cancel)));
}

DeliveryWorker::DeliveryWorker(WebhookStore* store, SignFn sign, Options options,
                               std::unique_ptr<HttpClient> client, UniqueFd cancel_fd)
    : store_(store),
      sign_(std::move(sign)),
      options_(std::move(options)),
      client_(std::move(client)),
      cancel_fd_(std::move(cancel_fd)),
      thread_([this] { Run(); }) {}

DeliveryWorker::~DeliveryWorker() { Stop(); }

bool DeliveryWorker::Enqueue(std::string_view webhook_id, std::shared_ptr<const Event> event) {
  if (!event) return false;
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) {
    ++stats_.dropped;  // nobody left to write a row
    return false;
  }
  if (queue_.size() + static_cast<size_t>(busy_) >= options_.queue_capacity) {
    ++stats_.dropped;
    // The worker writes the row: a log write here would block the caller on fsync.
    // Bounded too: past the capacity, drops are only counted.
    if (unlogged_.size() < options_.queue_capacity) {
      unlogged_.push_back(RowFor(std::string(webhook_id), *event, 0, DeliveryResult::kDropped,
                                 "dropped: delivery queue full"));
      work_cv_.notify_one();
    } else {
      ++stats_.log_errors;
    }
    return false;
  }
  ++stats_.enqueued;
  queue_.emplace(Clock::now(), Item{std::string(webhook_id), std::move(event), 1, std::nullopt});
  work_cv_.notify_one();
  return true;
}

void DeliveryWorker::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    if (!unlogged_.empty()) {
      std::vector<DeliveryRecord> rows = std::move(unlogged_);
      unlogged_.clear();
      ++busy_;
      lock.unlock();
      LogRows(rows);
      lock.lock();
      --busy_;
      continue;
    }
    if (stopping_) break;
    if (queue_.empty()) {
      idle_cv_.notify_all();
      work_cv_.wait(lock);
      continue;
    }
    const Clock::time_point due = queue_.begin()->first;
    if (due > Clock::now()) {
      work_cv_.wait_until(lock, due);
      continue;
    }
    Item item = std::move(queue_.begin()->second);
    queue_.erase(queue_.begin());
    ++busy_;
    lock.unlock();
    const bool retry = RunQueued(item);
    lock.lock();
    --busy_;
    if (retry) {
      const int wait_ms = options_.retry_backoff_ms[static_cast<size_t>(item.attempt) - 2];
      queue_.emplace(Clock::now() + std::chrono::milliseconds(wait_ms), std::move(item));
    }
  }
  // Stop(): whatever is still queued will not be tried.
  std::vector<DeliveryRecord> rows;
  for (auto& [due, item] : queue_) {
    rows.push_back(
        RowFor(item.webhook_id, *item.event, item.attempt, DeliveryResult::kAbandoned,
               "abandoned: keycelld stopped before attempt " + std::to_string(item.attempt)));
    ++stats_.abandoned;
  }
  queue_.clear();
  lock.unlock();
  LogRows(rows);
  lock.lock();
  idle_cv_.notify_all();
}

bool DeliveryWorker::RunQueued(Item& item) {
  const bool last = static_cast<size_t>(item.attempt) > options_.retry_backoff_ms.size();
  Outcome outcome;
  auto hook = store_->GetWebhook(item.webhook_id);
  if (!hook.ok() && hook.status().code() == Err::kUnknownKey) return false;  // removed meanwhile
  if (!hook.ok()) {
    outcome.error = "cannot read the webhook: " + DescribeStatus(hook.status());
  } else {
    outcome = Attempt(*hook, *item.event, &item.mac);
  }
  const DeliveryResult result = outcome.delivered() ? DeliveryResult::kDelivered
                                : last              ? DeliveryResult::kFailed
                                                    : DeliveryResult::kRetrying;
  DeliveryRecord row = RowFor(item.webhook_id, *item.event, item.attempt, result, outcome.error);
  row.http_status = outcome.http_status;
  row.latency_ms = outcome.latency_ms;
  LogRow(std::move(row));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (result == DeliveryResult::kDelivered) ++stats_.delivered;
    if (result == DeliveryResult::kFailed) ++stats_.failed;
  }
  ++item.attempt;
  return result == DeliveryResult::kRetrying;
}

DeliveryWorker::Outcome DeliveryWorker::Attempt(const Webhook& hook, const Event& event,
                                                std::optional<Mac>* mac) const {
  Outcome out;
  const auto t0 = Clock::now();
  // Exceptions stop here (a SignFn that throws, bad_alloc): the worker thread must live.
  try {
    if (!mac->has_value()) {
      Result<Mac> signed_mac = sign_(hook, AsBytes(event.body));
      if (!signed_mac.ok()) {
        out.error = "signing failed: " + DescribeStatus(signed_mac.status());
        out.latency_ms = MillisSince(t0);
        return out;
      }
      *mac = *signed_mac;
    }
    auto url = ParseAndCheckWebhookUrl(hook.url);
    if (!url.ok()) {
      out.error = DescribeStatus(url.status());
      return out;
    }
    const std::string signature = SignatureHeaderValue(**mac);
    const HttpHeader headers[] = {
        {"Content-Type", "application/json"},       {"User-Agent", kUserAgent},
        {"X-Keycell-Event", EventName(event.type)}, {"X-Keycell-Delivery", event.id},
        {"X-Keycell-Signature", signature},
    };
    Result<int> status =
        client_->Post(*url, headers, event.body, options_.attempt_timeout_ms, cancel_fd_.get());
    out.latency_ms = MillisSince(t0);
    if (!status.ok()) {
      out.error = DescribeHttpError(status.status());
    } else {
      out.http_status = *status;
      if (*status < 200 || *status > 299) out.error = "HTTP " + std::to_string(*status);
    }
  } catch (const std::exception& e) {
    out.error = std::string("internal error: ") + e.what();
    out.latency_ms = MillisSince(t0);
  }
  return out;
}

Result<DeliveryRecord> DeliveryWorker::DeliverNow(std::string_view webhook_id, const Event& event) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return Status(Err::kUnavailable, "webhooks: delivery worker stopped");
  }
  KC_ASSIGN_OR_RETURN(Webhook hook, store_->GetWebhook(webhook_id));
  std::optional<Mac> mac;
  const Outcome outcome = Attempt(hook, event, &mac);
  DeliveryRecord row = RowFor(
      hook.id, event, 1, outcome.delivered() ? DeliveryResult::kDelivered : DeliveryResult::kFailed,
      outcome.error);
  row.http_status = outcome.http_status;
  row.latency_ms = outcome.latency_ms;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++(outcome.delivered() ? stats_.delivered : stats_.failed);
  }
  return store_->RecordDelivery(row);
}

void DeliveryWorker::LogRow(DeliveryRecord row) {
  auto written = store_->RecordDelivery(row);
  if (written.ok() || written.status().code() == Err::kUnknownKey) return;
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.log_errors;
}

void DeliveryWorker::LogRows(const std::vector<DeliveryRecord>& rows) {
  if (rows.empty()) return;
  auto written = store_->RecordDeliveries(rows);
  if (written.ok()) return;
  std::lock_guard<std::mutex> lock(mu_);
  stats_.log_errors += rows.size();
}

bool DeliveryWorker::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_cv_.wait_for(lock, timeout, [this] { return IdleLocked(); });
}

void DeliveryWorker::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  // Wakes every poll() of an attempt in flight (here or in DeliverNow) for good.
  const uint64_t one = 1;
  ssize_t n;
  do {
    n = write(cancel_fd_.get(), &one, sizeof(one));
  } while (n < 0 && errno == EINTR);
  work_cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

DeliveryStats DeliveryWorker::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace keycell::broker::webhooks

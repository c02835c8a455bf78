#pragma once
// Signed webhook delivery on a background thread.
//
// What is sent: POST <url> with the event's body (event.h) and the headers
//   Content-Type: application/json
//   User-Agent: keycell-webhooks/1
//   X-Keycell-Event: <event name>
//   X-Keycell-Delivery: <event id>
//   X-Keycell-Signature: sha256=<lower-hex HMAC-SHA256 of the raw body>
// The HMAC is computed by the daemon's SignFn, i.e. by the enclave over the webhook's
// sealed secret: this library never sees the secret. The body and the MAC are the same
// on every retry of an event (the MAC is computed once per queued delivery and reused).
//
// Retries: an attempt succeeds on a 2xx status. Anything else (another status, a
// connect/TLS/timeout error, a SignFn failure) is retried after the next entry of
// Options::retry_backoff_ms (1 s, 2 s, 4 s: 3 retries after the first attempt), then
// given up. Each attempt is bounded by Options::attempt_timeout_ms (10 s) after DNS.
// Redirects are not followed.
//
// Delivery log: every attempt writes one row (WebhookStore::RecordDelivery): attempt
// number, HTTP status or error text, latency and the result (delivered / retrying /
// failed). A delivery that is dropped because the queue is full, or abandoned because
// Stop() came first, gets a row too (dropped / abandoned). A webhook removed while its
// deliveries wait is skipped silently (its log is gone with it).
//
// Thread model: one worker thread owns the queue's I/O. Deliveries wait in a bounded
// queue ordered by due time, so a receiver in its backoff does not hold up others; the
// worker makes one attempt at a time. The worker calls SignFn and the WebhookStore from
// its own thread: SignFn must be thread-safe against the daemon's other calls (the
// EnclaveClient serialises its calls) and must not call Stop().
//
// Thread-safety: every public method may be called from any thread. Errors: see each.

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "broker/webhooks/event.h"
#include "broker/webhooks/http_client.h"
#include "broker/webhooks/types.h"
#include "broker/webhooks/webhook_store.h"
#include "common/bytes.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace keycell::broker::webhooks {

using Mac = std::array<uint8_t, 32>;

// HMAC-SHA256 of `body` under `hook`'s secret. The daemon implements it as
// EnclaveClient::Hmac(ToRecordRef(hook.secret_ref), hook.sealed_secret, body). It may block
// (the enclave call); an error (e.g. kLocked) fails that attempt, which is retried.
using SignFn = std::function<Result<Mac>(const Webhook& hook, ByteView body)>;

inline constexpr char kUserAgent[] = "keycell-webhooks/1";
inline constexpr int kDefaultAttemptTimeoutMs = 10 * 1000;
inline constexpr size_t kDefaultQueueCapacity = 256;
inline constexpr size_t kMaxRetries = 16;

// "sha256=" + 64 lower-case hex digits: the X-Keycell-Signature value.
std::string SignatureHeaderValue(const Mac& mac);

struct DeliveryStats {
  uint64_t enqueued = 0;    // accepted by Enqueue
  uint64_t delivered = 0;   // got a 2xx (Enqueue'd and DeliverNow)
  uint64_t failed = 0;      // gave up after the last retry
  uint64_t dropped = 0;     // refused by a full queue or after Stop()
  uint64_t abandoned = 0;   // still queued at Stop()
  uint64_t log_errors = 0;  // delivery-log rows that could not be written
};

class DeliveryWorker {
 public:
  struct Options {
    int attempt_timeout_ms = kDefaultAttemptTimeoutMs;  // per attempt, after DNS
    // Wait before retry 1, 2, ...; the size is the number of retries (<= kMaxRetries).
    // Tests inject milliseconds.
    std::vector<int> retry_backoff_ms = {1000, 2000, 4000};
    // Deliveries queued or in flight at once (>= 1); Enqueue drops beyond it.
    size_t queue_capacity = kDefaultQueueCapacity;
    HttpClientOptions http;  // CA files (tls.extra_ca_file)
  };

  // Parses the CA files and starts the worker thread. `store` must outlive the worker.
  // Errors: HttpClient::Create's (an unreadable or empty CA file); kInvalidArgument
  // ("webhooks: bad delivery options") for a timeout < 1 ms, capacity 0, a negative or too
  // long backoff schedule, or an empty SignFn; kInternal (eventfd failed). Blocks ~5 ms
  // parsing the system CA bundle.
  static Result<std::unique_ptr<DeliveryWorker>> Start(WebhookStore* store, SignFn sign,
                                                       Options options);

  // Stop(), then frees everything. Blocks as Stop() does.
  ~DeliveryWorker();
  DeliveryWorker(const DeliveryWorker&) = delete;
  DeliveryWorker& operator=(const DeliveryWorker&) = delete;

  // Queues one delivery of `event` to the webhook `webhook_id`, due now. Never blocks on
  // I/O (only on the queue's mutex, which no I/O holds) and never fails loudly: returns
  // false when the delivery was dropped, either because the queue is full (a "dropped"
  // row is written by the worker between attempts, or at Stop(); at most queue_capacity
  // such rows wait at once, further drops are only counted) or because the worker is
  // stopped (counted in stats() only).
  bool Enqueue(std::string_view webhook_id, std::shared_ptr<const Event> event);
  bool Enqueue(std::string_view webhook_id, const Event& event) {
    return Enqueue(webhook_id, std::make_shared<const Event>(event));
  }

  // One attempt right now on the caller's thread, without retries (`keycell webhooks
  // test`): signs, posts, logs the row and returns it (result delivered or failed).
  // Blocks for SignFn, DNS and up to attempt_timeout_ms. Errors: kUnknownKey +
  // kNoSuchWebhook; the store's errors writing the row; kUnavailable after Stop().
  Result<DeliveryRecord> DeliverNow(std::string_view webhook_id, const Event& event);

  // Waits until nothing is queued, in flight or waiting to be logged. Returns false on
  // timeout. For tests and orderly shutdown (drain, then Stop).
  bool WaitIdle(std::chrono::milliseconds timeout);

  // Interrupts an attempt in flight (its row says "cancelled"), logs every delivery still
  // queued as abandoned (and pending drops as dropped), and joins the worker. Later
  // Enqueue calls return false, DeliverNow fails. Idempotent. Blocks on those log writes
  // and for the attempt in flight to notice (immediate, except inside getaddrinfo or
  // SignFn, which cannot be interrupted). Must not be called from SignFn.
  void Stop();

  DeliveryStats stats() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Item {
    std::string webhook_id;
    std::shared_ptr<const Event> event;
    int attempt = 1;         // number of the next attempt
    std::optional<Mac> mac;  // computed at the first attempt that could sign
  };
  struct Outcome {
    std::optional<int> http_status;
    std::string error;  // "" when delivered
    int64_t latency_ms = 0;
    bool delivered() const { return error.empty(); }
  };

  DeliveryWorker(WebhookStore* store, SignFn sign, Options options,
                 std::unique_ptr<HttpClient> client, UniqueFd cancel_fd);
  void Run();
  // One attempt of `item` and its log row; returns true when a retry is due.
  bool RunQueued(Item& item);
  Outcome Attempt(const Webhook& hook, const Event& event, std::optional<Mac>* mac) const;
  void LogRow(DeliveryRecord row);
  void LogRows(const std::vector<DeliveryRecord>& rows);
  bool IdleLocked() const { return queue_.empty() && busy_ == 0 && unlogged_.empty(); }

  WebhookStore* const store_;
  const SignFn sign_;
  const Options options_;
  const std::unique_ptr<HttpClient> client_;
  const UniqueFd cancel_fd_;  // eventfd: readable once Stop() began

  mutable std::mutex mu_;
  std::condition_variable work_cv_;               // queue changed, or stopping
  std::condition_variable idle_cv_;               // IdleLocked() may have become true
  std::multimap<Clock::time_point, Item> queue_;  // by due time; FIFO among equals
  std::vector<DeliveryRecord> unlogged_;          // drops the worker still has to log
  int busy_ = 0;  // items the worker took out of queue_ and has not finished
  bool stopping_ = false;
  DeliveryStats stats_;
  std::thread thread_;  // last: started once everything above exists
};

}  // namespace keycell::broker::webhooks

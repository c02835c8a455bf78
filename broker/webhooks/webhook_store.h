#pragma once
// keycelld's webhook registry, delivery log and expiry-notice bookkeeping, in its own
// SQLite file (<data_dir>/webhooks.db), separate from keycell.db, audit.db and
// identity.db so that none of them changes and each can be restored alone.
//
// Same conventions as the store (docs/store.md): parent directories 0700, the file 0600
// whatever the umask (an existing one is narrowed, a symlink refused), WAL,
// synchronous=FULL, foreign keys on, append-only migrations (webhook_schema.h).
//
// Nothing secret is stored: a webhook's signing secret is a blob sealed by the enclave
// (with the RecordRef it is bound to); only the enclave can use it, through the
// daemon's SignFn (delivery_worker.h).
//
// Thread-safety: one WebhookStore is one SQLite connection guarded by a mutex; any number
// of threads may share it (the delivery worker writes the log while the daemon adds and
// lists webhooks).
//
// Blocking: every method blocks on file I/O (writes fsync) and for up to
// Options::busy_timeout_ms on another connection's write lock.
//
// Errors every method can return besides those listed:
//   kTimeout   the database stayed locked past the busy timeout
//   kInternal  SQLite failed (I/O error, disk full, corruption); detail = extended code
//   kNoMem     SQLite ran out of memory
//   kTampered  a row breaks the formats the schema enforces ("webhooks: malformed row"),
//              which only an edit of the file with CHECKs off can make

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "broker/store/sqlite.h"
#include "broker/webhooks/types.h"
#include "common/result.h"

namespace keycell::broker::webhooks {

class WebhookStore {
 public:
  struct Options {
    // Unix seconds for created_at and log rows; empty = time(nullptr). Tests inject one.
    std::function<int64_t()> clock;
    int busy_timeout_ms = 5000;
    // Newest delivery-log rows kept per webhook (>= 1); older ones are deleted on insert.
    int64_t max_deliveries_per_webhook = kDefaultMaxDeliveriesPerWebhook;
  };

  // "<data_dir>/webhooks.db".
  static std::string PathIn(const std::string& data_dir);

  // Opens (creating if missing) the database at `path` and migrates it. Errors:
  // kUpstreamIo (file system; detail errno), kInvalidArgument + kWebhookSchemaTooNew,
  // kInvalidArgument ("webhooks: bad options").
  static Result<std::unique_ptr<WebhookStore>> Open(const std::string& path, Options options);
  static Result<std::unique_ptr<WebhookStore>> Open(const std::string& path) {
    return Open(path, Options());
  }

  WebhookStore(const WebhookStore&) = delete;
  WebhookStore& operator=(const WebhookStore&) = delete;

  // ---- Webhooks.
  // Validates and stores a webhook; returns it as stored (id generated if empty,
  // created_at from the clock, events deduplicated in canonical order). The URL must pass
  // ParseAndCheckWebhookUrl (webhook_url.h): its kInvalidArgument/kPolicyDenied come back
  // unchanged, so the CLI can show why. Other errors (kInvalidArgument): "webhooks: no
  // events" / "webhooks: webhook.test cannot be subscribed", an empty or oversized sealed
  // secret or ref, a malformed id ("webhooks: bad webhook id"), an id already in use
  // ("webhooks: webhook id exists"); kTooLarge + kTooManyWebhooks.
  Result<Webhook> AddWebhook(const NewWebhook& hook);
  // All webhooks, oldest first.
  Result<std::vector<Webhook>> ListWebhooks();
  // The webhooks subscribed to `type`, oldest first.
  Result<std::vector<Webhook>> ListSubscribers(EventType type);
  // Errors: kUnknownKey + kNoSuchWebhook.
  Result<Webhook> GetWebhook(std::string_view id);
  // Deletes the webhook and its delivery log in one transaction. Errors: kUnknownKey +
  // kNoSuchWebhook.
  Status RemoveWebhook(std::string_view id);

  // ---- Delivery log.
  // Appends `record` (seq and `at` are assigned here, the other fields as given; error
  // text is cut to kMaxErrorTextBytes at a UTF-8 boundary and control characters become
  // '_'), updates the webhook's last_delivery_at/last_status/last_error for an attempt
  // (attempt >= 1), and deletes that webhook's rows beyond the newest
  // max_deliveries_per_webhook, all in one transaction. Errors: kUnknownKey +
  // kNoSuchWebhook (removed meanwhile: nothing is written), kInvalidArgument for fields
  // out of range.
  Result<DeliveryRecord> RecordDelivery(const DeliveryRecord& record);
  // RecordDelivery for many rows in one transaction (one fsync: the worker's shutdown and
  // drop paths). Rows of webhooks that no longer exist are skipped; returns how many rows
  // were written. Errors: as RecordDelivery, except kNoSuchWebhook.
  Result<size_t> RecordDeliveries(std::span<const DeliveryRecord> records);
  // Newest first; only `webhook_id`'s rows when given. `limit` 1..kMaxDeliveryListLimit
  // (kInvalidArgument "webhooks: bad limit" otherwise).
  Result<std::vector<DeliveryRecord>> ListDeliveries(std::optional<std::string_view> webhook_id,
                                                     int64_t limit = kDefaultDeliveryListLimit);

  // ---- Expiry notices (expiry.h).
  // Every notice fired so far.
  Result<std::vector<ExpiryNotice>> ListExpiryNotices();
  // Remembers that `notice` fired. Returns true if it was new, false if the same
  // (credential, expires_at, state) was already recorded (by another caller, or before a
  // restart); the first fired_at is kept. Errors: kInvalidArgument for an empty or
  // oversized credential name.
  Result<bool> RecordFired(const ExpiryNotice& notice);

  const std::string& path() const { return path_; }

 private:
  WebhookStore(store::Db db, std::string path, Options options)
      : db_(std::move(db)), path_(std::move(path)), options_(std::move(options)) {}
  int64_t Now() const;
  // Inserts one row inside the caller's transaction (mu_ held). Returns false, writing
  // nothing, if the webhook does not exist.
  Result<bool> InsertDeliveryLocked(DeliveryRecord* d);

  std::mutex mu_;
  store::Db db_;  // guarded by mu_
  const std::string path_;
  const Options options_;
};

}  // namespace keycell::broker::webhooks

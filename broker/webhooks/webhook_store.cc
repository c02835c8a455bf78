#include "broker/webhooks/webhook_store.h"

#include <algorithm>
#include <ctime>
#include <filesystem>

#include "broker/store/private_files.h"
#include "broker/webhooks/webhook_schema.h"
#include "broker/webhooks/webhook_url.h"

namespace keycell::broker::webhooks {

using store::Db;
using store::Statement;
using store::Transaction;

namespace {

constexpr char kWebhookColumns[] =
    "id, url, events, secret_blob, secret_record_id, secret_version, secret_name, created_at, "
    "last_delivery_at, last_status, last_error";
constexpr char kDeliveryColumns[] =
    "seq, webhook_id, event_id, event, attempt, at, result, http_status, error, latency_ms";

Status Configure(Db& db, int busy_timeout_ms) {
  sqlite3_busy_timeout(db.get(), busy_timeout_ms);
  // ON: RemoveWebhook's cascade, and no log row for a webhook that is gone.
  KC_RETURN_IF_ERROR(db.Exec("PRAGMA foreign_keys = ON", "webhooks: foreign_keys=ON"));
  KC_ASSIGN_OR_RETURN(std::string fk,
                      db.QueryText("PRAGMA foreign_keys", "webhooks: foreign_keys"));
  if (fk != "1") return Status(Err::kInternal, "webhooks: foreign_keys=ON");
  KC_ASSIGN_OR_RETURN(std::string mode,
                      db.QueryText("PRAGMA journal_mode = WAL", "webhooks: journal_mode=WAL"));
  if (mode != "wal") return Status(Err::kInternal, "webhooks: journal_mode=WAL");
  // FULL: an added webhook and a recorded expiry notice survive power loss (the latter is
  // what keeps a restart from firing an event twice).
  return db.Exec("PRAGMA synchronous = FULL", "webhooks: synchronous=FULL");
}

std::string JoinEvents(const std::vector<EventType>& events) {
  std::string out;
  for (EventType t : events) {
    if (!out.empty()) out += ',';
    out += EventName(t);
  }
  return out;
}

Result<std::vector<EventType>> SplitEvents(std::string_view joined) {
  std::vector<EventType> out;
  while (!joined.empty()) {
    const size_t comma = std::min(joined.find(','), joined.size());
    const auto type = ParseEventName(joined.substr(0, comma));
    if (!type) return Status(Err::kTampered, "webhooks: malformed row");
    out.push_back(*type);
    joined.remove_prefix(std::min(comma + 1, joined.size()));
  }
  return out;
}

// Subscribable types only, deduplicated, in kSubscribableEvents order.
Result<std::vector<EventType>> NormalizeEvents(const std::vector<EventType>& events) {
  if (events.empty()) return Status(Err::kInvalidArgument, "webhooks: no events");
  std::vector<EventType> out;
  for (EventType t : events) {
    if (std::find(std::begin(kSubscribableEvents), std::end(kSubscribableEvents), t) ==
        std::end(kSubscribableEvents))
      return Status(Err::kInvalidArgument, "webhooks: webhook.test cannot be subscribed");
  }
  for (EventType t : kSubscribableEvents)
    if (std::find(events.begin(), events.end(), t) != events.end()) out.push_back(t);
  return out;
}

Status ValidateNewWebhook(const NewWebhook& h) {
  KC_RETURN_IF_ERROR(ParseAndCheckWebhookUrl(h.url).status());
  if (!h.id.empty() && !IsWebhookId(h.id))
    return Status(Err::kInvalidArgument, "webhooks: bad webhook id");
  if (h.sealed_secret.empty() || h.sealed_secret.size() > kMaxSealedSecretBytes)
    return Status(Err::kInvalidArgument, "webhooks: sealed secret empty or too large");
  const SecretRef& r = h.secret_ref;
  if (r.record_id.empty() || r.record_id.size() > kMaxRecordIdBytes || r.name.empty() ||
      r.name.size() > kMaxSecretNameBytes)
    return Status(Err::kInvalidArgument, "webhooks: bad secret ref");
  return Status::Ok();
}

// Cuts at a UTF-8 boundary and replaces control characters, so a log row prints on one
// line wherever it is shown. Error texts are ours, but a strerror or mbedTLS string is
// not worth trusting blindly.
std::string CleanErrorText(std::string_view text) {
  std::string out(text.substr(0, kMaxErrorTextBytes));
  if (text.size() > kMaxErrorTextBytes) {
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
    if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0) out.pop_back();
  }
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '_';
  return out;
}

Result<Webhook> ReadWebhookRow(const Statement& st) {
  Webhook w;
  w.id = st.Text(0);
  w.url = st.Text(1);
  KC_ASSIGN_OR_RETURN(w.events, SplitEvents(st.Text(2)));
  w.sealed_secret = st.Blob(3);
  w.secret_ref.record_id = st.Text(4);
  w.secret_ref.version = static_cast<uint32_t>(st.Int(5));
  w.secret_ref.name = st.Text(6);
  w.created_at = st.Int(7);
  w.last_delivery_at = st.OptionalInt(8);
  if (auto s = st.OptionalInt(9)) w.last_status = static_cast<int>(*s);
  w.last_error = st.Text(10);
  return w;
}

Result<DeliveryRecord> ReadDeliveryRow(const Statement& st) {
  DeliveryRecord d;
  d.seq = st.Int(0);
  d.webhook_id = st.Text(1);
  d.event_id = st.Text(2);
  d.event = st.Text(3);
  d.attempt = static_cast<int>(st.Int(4));
  d.at = st.Int(5);
  const auto result = ParseDeliveryResult(st.Text(6));
  if (!result) return Status(Err::kTampered, "webhooks: malformed row");
  d.result = *result;
  if (auto s = st.OptionalInt(7)) d.http_status = static_cast<int>(*s);
  d.error = st.Text(8);
  d.latency_ms = st.Int(9);
  return d;
}

Result<std::vector<Webhook>> QueryWebhooks(const Db& db, const std::string& sql, const char* where,
                                           std::optional<std::string_view> bind1) {
  KC_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db, sql, where));
  if (bind1) st.Bind(1, *bind1);
  std::vector<Webhook> out;
  while (true) {
    KC_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return out;
    KC_ASSIGN_OR_RETURN(Webhook w, ReadWebhookRow(st));
    out.push_back(std::move(w));
  }
}

Result<bool> WebhookExists(const Db& db, std::string_view id) {
  KC_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db, "SELECT 1 FROM webhooks WHERE id = ?1",
                                                       "webhooks: find webhook"));
  st.Bind(1, id);
  return st.Step();
}

Status InsertWebhook(const Db& db, const Webhook& w) {
  KC_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db, R"sql(
      INSERT INTO webhooks (id, url, events, secret_blob, secret_record_id, secret_version,
                            secret_name, created_at)
      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8))sql",
                                                       "webhooks: insert webhook"));
  st.Bind(1, w.id);
  st.Bind(2, w.url);
  st.Bind(3, JoinEvents(w.events));
  st.BindBlob(4, w.sealed_secret);
  st.Bind(5, w.secret_ref.record_id);
  st.Bind(6, int64_t{w.secret_ref.version});
  st.Bind(7, w.secret_ref.name);
  st.Bind(8, w.created_at);
  return st.Run();
}

Status InsertDelivery(const Db& db, DeliveryRecord* d) {
  KC_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db, R"sql(
      INSERT INTO deliveries (webhook_id, event_id, event, attempt, at, result, http_status,
                              error, latency_ms)
      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9))sql",
                                                       "webhooks: insert delivery"));
  st.Bind(1, d->webhook_id);
  st.Bind(2, d->event_id);
  st.Bind(3, d->event);
  st.Bind(4, int64_t{d->attempt});
  st.Bind(5, d->at);
  st.Bind(6, std::string_view(DeliveryResultName(d->result)));
  st.Bind(7, d->http_status ? std::optional<int64_t>(*d->http_status) : std::nullopt);
  st.Bind(8, d->error);
  st.Bind(9, d->latency_ms);
  KC_RETURN_IF_ERROR(st.Run());
  d->seq = db.LastInsertRowId();
  return Status::Ok();
}

Status UpdateLastDelivery(const Db& db, const DeliveryRecord& d) {
  KC_ASSIGN_OR_RETURN(Statement st,
                      Statement::Prepare(db,
                                         "UPDATE webhooks SET last_delivery_at = ?2, "
                                         "last_status = ?3, last_error = ?4 WHERE id = ?1",
                                         "webhooks: update last delivery"));
  st.Bind(1, d.webhook_id);
  st.Bind(2, d.at);
  st.Bind(3, d.http_status ? std::optional<int64_t>(*d.http_status) : std::nullopt);
  st.Bind(4, d.error);
  return st.Run();
}

// Keeps the newest `keep` rows of the webhook: everything at or below the (keep+1)-th
// newest seq goes. The index on (webhook_id, seq) makes both steps index reads.
Status PruneDeliveries(const Db& db, std::string_view webhook_id, int64_t keep) {
  KC_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db, R"sql(
      DELETE FROM deliveries WHERE webhook_id = ?1 AND seq <= (
        SELECT seq FROM deliveries WHERE webhook_id = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2))sql",
                                                       "webhooks: prune deliveries"));
  st.Bind(1, webhook_id);
  st.Bind(2, keep);
  return st.Run();
}

Status ValidateDelivery(const DeliveryRecord& r) {
  const bool ok = r.attempt >= 0 && r.attempt <= 64 && r.latency_ms >= 0 &&
                  (!r.http_status || (*r.http_status >= 100 && *r.http_status <= 599)) &&
                  !r.event_id.empty() && r.event_id.size() <= 64 && !r.event.empty() &&
                  r.event.size() <= 64;
  return ok ? Status::Ok() : Status(Err::kInvalidArgument, "webhooks: bad delivery record");
}

}  // namespace

std::string WebhookStore::PathIn(const std::string& data_dir) {
  return (std::filesystem::path(data_dir) / "webhooks.db").string();
}

Result<std::unique_ptr<WebhookStore>> WebhookStore::Open(const std::string& path, Options options) {
  if (options.max_deliveries_per_webhook < 1 || options.busy_timeout_ms < 0)
    return Status(Err::kInvalidArgument, "webhooks: bad options");
  const std::string dir = std::filesystem::path(path).parent_path().string();
  if (!dir.empty()) KC_RETURN_IF_ERROR(store::MakePrivateDirs(dir));
  KC_RETURN_IF_ERROR(store::EnsurePrivateFile(path));
  // "./" keeps a relative path starting with "file:" from being read as a URI.
  const std::string open_path = path.starts_with("file:") ? "./" + path : path;
  KC_ASSIGN_OR_RETURN(Db db, Db::Open(open_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX));
  KC_RETURN_IF_ERROR(Configure(db, options.busy_timeout_ms));
  std::unique_ptr<WebhookStore> s(new WebhookStore(std::move(db), path, std::move(options)));
  KC_ASSIGN_OR_RETURN(int version, MigrateWebhooks(s->db_, s->Now()));
  if (version != kLatestWebhookSchemaVersion)
    return Status(Err::kInternal, "webhooks: migration incomplete", version);
  return s;
}

int64_t WebhookStore::Now() const {
  return options_.clock ? options_.clock() : static_cast<int64_t>(std::time(nullptr));
}

Result<Webhook> WebhookStore::AddWebhook(const NewWebhook& hook) {
  KC_RETURN_IF_ERROR(ValidateNewWebhook(hook));
  Webhook w;
  KC_ASSIGN_OR_RETURN(w.events, NormalizeEvents(hook.events));
  if (hook.id.empty()) {
    KC_ASSIGN_OR_RETURN(w.id, NewWebhookId());
  } else {
    w.id = hook.id;
  }
  w.url = hook.url;
  w.sealed_secret = hook.sealed_secret;
  w.secret_ref = hook.secret_ref;
  std::lock_guard<std::mutex> lock(mu_);
  w.created_at = Now();
  KC_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  KC_ASSIGN_OR_RETURN(int64_t count,
                      db_.QueryInt("SELECT count(*) FROM webhooks", "webhooks: count webhooks"));
  if (count >= static_cast<int64_t>(kMaxWebhooks)) return Status(Err::kTooLarge, kTooManyWebhooks);
  KC_ASSIGN_OR_RETURN(bool exists, WebhookExists(db_, w.id));
  if (exists) return Status(Err::kInvalidArgument, "webhooks: webhook id exists");
  KC_RETURN_IF_ERROR(InsertWebhook(db_, w));
  KC_RETURN_IF_ERROR(tx.Commit());
  return w;
}

Result<std::vector<Webhook>> WebhookStore::ListWebhooks() {
  std::lock_guard<std::mutex> lock(mu_);
  return QueryWebhooks(
      db_, std::string("SELECT ") + kWebhookColumns + " FROM webhooks ORDER BY created_at, id",
      "webhooks: list webhooks", std::nullopt);
}

Result<std::vector<Webhook>> WebhookStore::ListSubscribers(EventType type) {
  KC_ASSIGN_OR_RETURN(std::vector<Webhook> all, ListWebhooks());
  std::vector<Webhook> out;
  for (Webhook& w : all)
    if (w.Subscribes(type)) out.push_back(std::move(w));
  return out;
}

Result<Webhook> WebhookStore::GetWebhook(std::string_view id) {
  std::lock_guard<std::mutex> lock(mu_);
  KC_ASSIGN_OR_RETURN(
      std::vector<Webhook> rows,
      QueryWebhooks(db_, std::string("SELECT ") + kWebhookColumns + " FROM webhooks WHERE id = ?1",
                    "webhooks: get webhook", id));
  if (rows.empty()) return Status(Err::kUnknownKey, kNoSuchWebhook);
  return std::move(rows.front());
}

Status WebhookStore::RemoveWebhook(std::string_view id) {
  std::lock_guard<std::mutex> lock(mu_);
  KC_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  // Explicit, not only ON DELETE CASCADE: the log goes even on a connection that somehow
  // runs without foreign keys.
  KC_ASSIGN_OR_RETURN(Statement del_log,
                      Statement::Prepare(db_, "DELETE FROM deliveries WHERE webhook_id = ?1",
                                         "webhooks: delete deliveries"));
  del_log.Bind(1, id);
  KC_RETURN_IF_ERROR(del_log.Run());
  KC_ASSIGN_OR_RETURN(Statement del, Statement::Prepare(db_, "DELETE FROM webhooks WHERE id = ?1",
                                                        "webhooks: delete webhook"));
  del.Bind(1, id);
  KC_RETURN_IF_ERROR(del.Run());
  if (db_.Changes() == 0) return Status(Err::kUnknownKey, kNoSuchWebhook);
  return tx.Commit();
}

Result<bool> WebhookStore::InsertDeliveryLocked(DeliveryRecord* d) {
  KC_ASSIGN_OR_RETURN(bool exists, WebhookExists(db_, d->webhook_id));
  if (!exists) return false;
  KC_RETURN_IF_ERROR(InsertDelivery(db_, d));
  if (d->attempt >= 1) KC_RETURN_IF_ERROR(UpdateLastDelivery(db_, *d));
  KC_RETURN_IF_ERROR(PruneDeliveries(db_, d->webhook_id, options_.max_deliveries_per_webhook));
  return true;
}

Result<DeliveryRecord> WebhookStore::RecordDelivery(const DeliveryRecord& record) {
  KC_RETURN_IF_ERROR(ValidateDelivery(record));
  DeliveryRecord d = record;
  d.error = CleanErrorText(record.error);
  std::lock_guard<std::mutex> lock(mu_);
  d.at = Now();
  KC_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  KC_ASSIGN_OR_RETURN(bool written, InsertDeliveryLocked(&d));
  if (!written) return Status(Err::kUnknownKey, kNoSuchWebhook);
  KC_RETURN_IF_ERROR(tx.Commit());
  return d;
}

Result<size_t> WebhookStore::RecordDeliveries(std::span<const DeliveryRecord> records) {
  for (const DeliveryRecord& r : records) KC_RETURN_IF_ERROR(ValidateDelivery(r));
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = Now();
  KC_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  size_t written = 0;
  for (const DeliveryRecord& r : records) {
    DeliveryRecord d = r;
    d.error = CleanErrorText(r.error);
    d.at = now;
    KC_ASSIGN_OR_RETURN(bool ok, InsertDeliveryLocked(&d));
    written += ok ? 1 : 0;
  }
  KC_RETURN_IF_ERROR(tx.Commit());
  return written;
}

Result<std::vector<DeliveryRecord>> WebhookStore::ListDeliveries(
    std::optional<std::string_view> webhook_id, int64_t limit) {
  if (limit < 1 || limit > kMaxDeliveryListLimit)
    return Status(Err::kInvalidArgument, "webhooks: bad limit");
  std::string sql = std::string("SELECT ") + kDeliveryColumns + " FROM deliveries";
  sql += webhook_id ? " WHERE webhook_id = ?1 ORDER BY seq DESC LIMIT ?2"
                    : " ORDER BY seq DESC LIMIT ?2";
  std::lock_guard<std::mutex> lock(mu_);
  KC_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_, sql, "webhooks: list deliveries"));
  if (webhook_id) st.Bind(1, *webhook_id);
  st.Bind(2, limit);
  std::vector<DeliveryRecord> out;
  while (true) {
    KC_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return out;
    KC_ASSIGN_OR_RETURN(DeliveryRecord d, ReadDeliveryRow(st));
    out.push_back(std::move(d));
  }
}

Result<std::vector<ExpiryNotice>> WebhookStore::ListExpiryNotices() {
  std::lock_guard<std::mutex> lock(mu_);
  KC_ASSIGN_OR_RETURN(Statement st,
                      Statement::Prepare(db_,
                                         "SELECT credential, expires_at, state, fired_at FROM "
                                         "expiry_notices ORDER BY credential, expires_at, state",
                                         "webhooks: list expiry notices"));
  std::vector<ExpiryNotice> out;
  while (true) {
    KC_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return out;
    const auto state = ParseExpiryState(st.Text(2));
    if (!state) return Status(Err::kTampered, "webhooks: malformed row");
    out.push_back(ExpiryNotice{st.Text(0), st.Int(1), *state, st.Int(3)});
  }
}

Result<bool> WebhookStore::RecordFired(const ExpiryNotice& notice) {
  if (notice.credential.empty() || notice.credential.size() > kMaxCredentialNameBytes)
    return Status(Err::kInvalidArgument, "webhooks: bad credential name");
  std::lock_guard<std::mutex> lock(mu_);
  KC_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  // The key decides: whoever recorded it first fired it. DO NOTHING only for that
  // conflict (OR IGNORE would also swallow a CHECK failure).
  KC_ASSIGN_OR_RETURN(Statement st,
                      Statement::Prepare(db_,
                                         "INSERT INTO expiry_notices (credential, expires_at, "
                                         "state, fired_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT "
                                         "(credential, expires_at, state) DO NOTHING",
                                         "webhooks: insert expiry notice"));
  st.Bind(1, notice.credential);
  st.Bind(2, notice.expires_at);
  st.Bind(3, std::string_view(ExpiryStateName(notice.state)));
  st.Bind(4, notice.fired_at);
  KC_RETURN_IF_ERROR(st.Run());
  const bool inserted = db_.Changes() == 1;
  KC_RETURN_IF_ERROR(tx.Commit());
  return inserted;
}

}  // namespace keycell::broker::webhooks

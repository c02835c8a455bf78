#include "broker/webhooks/webhook_schema.h"

#include <iterator>

#include "broker/store/migrations.h"
#include "broker/webhooks/types.h"

namespace keycell::broker::webhooks {
namespace {

// Version 1. The CHECKs repeat the API's formats and limits (types.h), so a hand-edited or
// restored file is held to the same rules. No secret is stored: `secret_blob` is sealed by
// the enclave and useless without the token.
constexpr const char kSchemaV1[] = R"sql(
CREATE TABLE webhooks (
  id TEXT PRIMARY KEY CHECK (typeof(id) = 'text' AND length(id) = 20 AND substr(id, 1, 4) = 'whk_'
                             AND substr(id, 5) NOT GLOB '*[^0-9A-Za-z]*'),
  url TEXT NOT NULL CHECK (typeof(url) = 'text' AND length(CAST(url AS BLOB)) BETWEEN 1 AND 2048),
  -- Subscribed event names joined by ',' in canonical order.
  events TEXT NOT NULL CHECK (typeof(events) = 'text' AND length(events) BETWEEN 1 AND 256
                              AND events NOT GLOB '*[^a-z._,]*'),
  secret_blob BLOB NOT NULL CHECK (typeof(secret_blob) = 'blob'
                                   AND length(secret_blob) BETWEEN 1 AND 65536),
  secret_record_id TEXT NOT NULL CHECK (
    typeof(secret_record_id) = 'text' AND length(CAST(secret_record_id AS BLOB)) BETWEEN 1 AND 64),
  secret_version INTEGER NOT NULL CHECK (typeof(secret_version) = 'integer'
                                         AND secret_version BETWEEN 0 AND 4294967295),
  secret_name TEXT NOT NULL CHECK (typeof(secret_name) = 'text'
                                   AND length(CAST(secret_name AS BLOB)) BETWEEN 1 AND 128),
  created_at INTEGER NOT NULL CHECK (typeof(created_at) = 'integer'),
  last_delivery_at INTEGER CHECK (last_delivery_at IS NULL OR typeof(last_delivery_at) = 'integer'),
  last_status INTEGER CHECK (last_status IS NULL OR last_status BETWEEN 100 AND 599),
  last_error TEXT NOT NULL DEFAULT '' CHECK (typeof(last_error) = 'text'
                                             AND length(CAST(last_error AS BLOB)) <= 512)
);

-- The delivery log: one row per attempt, drop or abandoned retry. AUTOINCREMENT keeps seq
-- increasing even after the newest rows of a removed webhook are deleted.
CREATE TABLE deliveries (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
  event_id TEXT NOT NULL CHECK (typeof(event_id) = 'text' AND length(event_id) BETWEEN 1 AND 64),
  event TEXT NOT NULL CHECK (typeof(event) = 'text' AND length(event) BETWEEN 1 AND 64),
  attempt INTEGER NOT NULL CHECK (typeof(attempt) = 'integer' AND attempt BETWEEN 0 AND 64),
  at INTEGER NOT NULL CHECK (typeof(at) = 'integer'),
  result TEXT NOT NULL CHECK (result IN ('delivered', 'retrying', 'failed', 'dropped',
                                         'abandoned')),
  http_status INTEGER CHECK (http_status IS NULL OR http_status BETWEEN 100 AND 599),
  error TEXT NOT NULL DEFAULT '' CHECK (typeof(error) = 'text'
                                        AND length(CAST(error AS BLOB)) <= 512),
  latency_ms INTEGER NOT NULL CHECK (typeof(latency_ms) = 'integer' AND latency_ms >= 0)
);
-- ListDeliveries(webhook) newest first, and the per-webhook bound on insert.
CREATE INDEX deliveries_by_webhook ON deliveries (webhook_id, seq);

-- What the expiry scheduler has fired: one row per (credential, expiry value, state).
CREATE TABLE expiry_notices (
  credential TEXT NOT NULL CHECK (typeof(credential) = 'text'
                                  AND length(CAST(credential AS BLOB)) BETWEEN 1 AND 128),
  expires_at INTEGER NOT NULL CHECK (typeof(expires_at) = 'integer'),
  state TEXT NOT NULL CHECK (state IN ('expiring_soon', 'expired')),
  fired_at INTEGER NOT NULL CHECK (typeof(fired_at) = 'integer'),
  PRIMARY KEY (credential, expires_at, state)
) WITHOUT ROWID;
)sql";

// Append only. A released migration is never edited: write a new one.
constexpr store::Migration kMigrations[] = {
    {1, kSchemaV1},
};
static_assert(std::size(kMigrations) == kLatestWebhookSchemaVersion);
static_assert(store::MigrationStepsInOrder(kMigrations));

constexpr store::MigrationPlan kPlan = {kMigrations, kWebhookSchemaTooNew, "webhooks: migration"};

}  // namespace

Result<int> MigrateWebhooks(store::Db& db, int64_t now) { return store::Migrate(db, kPlan, now); }

}  // namespace keycell::broker::webhooks

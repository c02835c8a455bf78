#pragma once
// The webhook library's vocabulary: event types, a webhook as stored, a delivery-log row,
// an expiry notice, the limits, and the error `where` strings callers compare against.
// See docs/webhooks.md.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace keycell::broker::webhooks {

// ---- Event types ----------------------------------------------------------------------

// The wire names are AgentKeys' (credential.*, usage.*) plus webhook.test.
enum class EventType : uint8_t {
  kCredentialExpired,       // "credential.expired": expires_at has passed
  kCredentialExpiringSoon,  // "credential.expiring_soon": within kExpiringSoonSeconds
  kCredentialError,         // "credential.error": an upstream answered 401/403
  kUsageLimitReached,       // "usage.limit_reached": a rate/usage limit was hit
  kWebhookTest,             // "webhook.test": `keycell webhooks test`; never subscribed
};

// Every type a webhook may subscribe to, in canonical (stored) order.
inline constexpr EventType kSubscribableEvents[] = {
    EventType::kCredentialExpired, EventType::kCredentialExpiringSoon, EventType::kCredentialError,
    EventType::kUsageLimitReached};

const char* EventName(EventType type);  // "credential.expired", ...
// nullopt for an unknown name (exact, case-sensitive match).
std::optional<EventType> ParseEventName(std::string_view name);

// ---- Limits (named with units) -----------------------------------------------------------

inline constexpr size_t kMaxUrlBytes = 2048;
inline constexpr size_t kMaxWebhooks = 64;
inline constexpr size_t kMaxSealedSecretBytes = 64 * 1024;
inline constexpr size_t kMaxRecordIdBytes = 64;         // enclave.options: record_id max_size 65
inline constexpr size_t kMaxSecretNameBytes = 128;      // enclave.options: name max_size 129
inline constexpr size_t kMaxCredentialNameBytes = 128;  // the store's limit
inline constexpr size_t kMaxEventBodyBytes = 64 * 1024;
inline constexpr size_t kMaxErrorTextBytes = 512;
inline constexpr size_t kWebhookIdBase62Chars = 16;  // "whk_" + 16: ~95 bits, unique, not secret
inline constexpr size_t kEventIdBase62Chars = 22;    // "evt_" + 22: ~131 bits
inline constexpr std::string_view kWebhookIdPrefix = "whk_";
inline constexpr std::string_view kEventIdPrefix = "evt_";
// Newest delivery-log rows kept per webhook; older rows are deleted on insert.
inline constexpr int64_t kDefaultMaxDeliveriesPerWebhook = 1000;
inline constexpr int64_t kDefaultDeliveryListLimit = 100;
inline constexpr int64_t kMaxDeliveryListLimit = 10000;
// credential.expiring_soon fires this long before expires_at (AgentKeys: 7 days).
inline constexpr int64_t kExpiringSoonSeconds = 7 * 24 * 3600;

// ---- Error `where` strings (Status::where) callers may compare against ------------------

inline constexpr char kNoSuchWebhook[] = "webhooks: no such webhook";
inline constexpr char kTooManyWebhooks[] = "webhooks: too many webhooks (the limit is 64)";
inline constexpr char kWebhookSchemaTooNew[] = "webhooks: database written by a newer keycell";

// ---- Stored objects --------------------------------------------------------------------

// What the sealed secret blob is bound to (the enclave's RecordRef: its AAD). The daemon
// converts it to keycell_ipc_RecordRef for EnclaveClient::Hmac.
struct SecretRef {
  std::string record_id;
  uint32_t version = 0;
  std::string name;
};

struct Webhook {
  std::string id;                      // whk_<16 base62>
  std::string url;                     // as given; valid for ParseWebhookUrl + CheckUrlPolicy
  std::vector<EventType> events;       // subscribed types, canonical order, no duplicates
  std::vector<uint8_t> sealed_secret;  // opaque: only the enclave can use it
  SecretRef secret_ref;
  int64_t created_at = 0;                   // unix seconds
  std::optional<int64_t> last_delivery_at;  // time of the last attempt (any outcome)
  std::optional<int> last_status;           // its HTTP status; nullopt if no response
  std::string last_error;                   // its error text; "" when it got a response

  bool Subscribes(EventType type) const;
};

// What AddWebhook needs. `id` may be empty (a fresh one is generated); the daemon passes
// its own when the sealed secret is bound to the id (secret_ref.record_id == id).
struct NewWebhook {
  std::string id;
  std::string url;
  std::vector<EventType> events;  // at least one; duplicates are merged
  std::vector<uint8_t> sealed_secret;
  SecretRef secret_ref;
};

enum class DeliveryResult : uint8_t {
  kDelivered,  // a 2xx answer
  kRetrying,   // this attempt failed; another is scheduled
  kFailed,     // this attempt failed and it was the last one
  kDropped,    // never attempted: the queue was full (attempt = 0)
  kAbandoned,  // a scheduled attempt did not run: shutdown (attempt = the one skipped)
};
const char* DeliveryResultName(DeliveryResult r);  // "delivered", "retrying", ...
std::optional<DeliveryResult> ParseDeliveryResult(std::string_view name);

// One row of the delivery log.
struct DeliveryRecord {
  int64_t seq = 0;  // assigned by the store, increasing
  std::string webhook_id;
  std::string event_id;
  std::string event;  // the event's wire name
  int attempt = 0;    // 1 = first try, 2..4 = retries; 0 = dropped before any try
  int64_t at = 0;     // unix seconds, stamped by the store when the row is written
  DeliveryResult result = DeliveryResult::kFailed;
  std::optional<int> http_status;  // the receiver's status, if it answered
  std::string error;               // why it failed ("" when delivered); never a secret
  int64_t latency_ms = 0;
};

// ---- Expiry bookkeeping ------------------------------------------------------------------

enum class ExpiryState : uint8_t { kExpiringSoon, kExpired };
const char* ExpiryStateName(ExpiryState s);  // "expiring_soon", "expired"
std::optional<ExpiryState> ParseExpiryState(std::string_view name);

// One fired expiry event: (credential, expires_at, state) is the key, so each state
// fires once per credential and expiry value.
struct ExpiryNotice {
  std::string credential;
  int64_t expires_at = 0;  // the credential's expiry at the time it fired (unix seconds)
  ExpiryState state = ExpiryState::kExpiringSoon;
  int64_t fired_at = 0;

  bool SameKey(const ExpiryNotice& o) const {
    return credential == o.credential && expires_at == o.expires_at && state == o.state;
  }
};

// ---- Identifiers ----------------------------------------------------------------------

// "whk_" / "evt_" + base62 from getrandom(2), rejection-sampled (unbiased). Not secret.
// Errors: kInternal (getrandom failed; detail errno).
Result<std::string> NewWebhookId();
Result<std::string> NewEventId();
bool IsWebhookId(std::string_view id);

// getrandom(2) into `out`, looping on EINTR and short reads. Errors: kInternal + errno.
Status FillRandom(std::span<uint8_t> out);

}  // namespace keycell::broker::webhooks

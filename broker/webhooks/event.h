#pragma once
// Webhook events and their JSON payload. An Event is built once, with its body already
// serialized, so every webhook and every retry sends (and signs) the same bytes:
//
//   {"id":"evt_<22 base62>","event":"credential.expiring_soon",
//    "timestamp":"2025-06-01T09:00:00Z","data":{...}}
//
// The `data` members per type are listed with each builder and in docs/webhooks.md. No
// secret ever goes into an event: names, hosts, numbers and times only (the payload is a
// cJSON tree, see broker/json/json.h).
//
// Thread-safety: free functions, no shared state. Nothing here blocks except
// getrandom(2) for the event id.

#include <cstdint>
#include <string>
#include <string_view>

#include "broker/json/json.h"
#include "broker/webhooks/types.h"
#include "common/result.h"

namespace keycell::broker::webhooks {

struct Event {
  std::string id;  // evt_<22 base62>; also the X-Keycell-Delivery header
  EventType type = EventType::kWebhookTest;
  int64_t timestamp = 0;  // unix seconds (the payload has it as RFC 3339 UTC)
  std::string body;       // the exact JSON bytes that are POSTed and signed
};

// "2025-06-01T09:00:00Z" (RFC 3339, UTC, whole seconds). Years outside 0000..9999 are
// clamped to that range.
std::string FormatRfc3339(int64_t unix_seconds);

// Builds an event of `type` at `now` with a fresh id around `data` (must be a JSON object;
// ownership moves in). Errors: kInvalidArgument ("webhooks: event data must be an
// object"), kTooLarge (body above kMaxEventBodyBytes), kInternal (getrandom).
Result<Event> MakeEvent(EventType type, json::Json data, int64_t now);

// credential.expiring_soon / credential.expired:
//   data = {"credential": name, "expires_at": RFC 3339, "days_left": n}
// days_left = whole days until expires_at, rounded up (1 when less than a day is left);
// 0 for credential.expired. Errors: MakeEvent's, kInvalidArgument for a name that is not
// valid UTF-8.
Result<Event> MakeExpiryEvent(std::string_view credential, int64_t expires_at, ExpiryState state,
                              int64_t now);

// credential.error: an upstream refused the credential.
//   data = {"credential": name, "host": host, "status": 401|403}
Result<Event> MakeCredentialErrorEvent(std::string_view credential, std::string_view host,
                                       int http_status, int64_t now);

// usage.limit_reached: `subject` (an agent name or token prefix, never a token) hit
// `limit` requests per `window_seconds`.
//   data = {"subject": subject, "limit": n, "window_seconds": s}
Result<Event> MakeUsageLimitEvent(std::string_view subject, int64_t limit, int64_t window_seconds,
                                  int64_t now);

// webhook.test:
//   data = {"webhook_id": id, "message": "This is a test event from keycell."}
Result<Event> MakeTestEvent(std::string_view webhook_id, int64_t now);

}  // namespace keycell::broker::webhooks

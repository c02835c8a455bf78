#pragma once
// The expiry scheduler's decision, as pure functions the daemon's timer drives.
//
// For a credential with an expiry E, at time `now`:
//   now <  E - kExpiringSoonSeconds        nothing
//   E - kExpiringSoonSeconds <= now < E    credential.expiring_soon
//   E <= now                               credential.expired
// Each (credential, E, state) fires once: the store's expiry_notices table remembers what
// fired (WebhookStore::RecordFired), so a second timer tick or a daemon restart fires
// nothing new, while a rotation that sets a new expiry E' fires again for E'. A daemon
// that was down through the whole expiring-soon window fires only credential.expired.
//
// Dispatcher::FireDueExpiry (dispatcher.h) runs the whole cycle: list notices, decide,
// record, fan out.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "broker/webhooks/event.h"
#include "broker/webhooks/types.h"
#include "common/result.h"

namespace keycell::broker::webhooks {

struct CredentialExpiry {
  std::string name;
  std::optional<int64_t> expires_at;  // unix seconds; nullopt = never expires
};

// The notices due at `now` that are not in `fired` (compared by SameKey), in the order of
// `credentials`; fired_at = now. At most one per credential (the states are exclusive).
// Pure: no I/O, no clock.
std::vector<ExpiryNotice> DueExpiryNotices(std::span<const CredentialExpiry> credentials,
                                           int64_t now, std::span<const ExpiryNotice> fired);

// A due notice with the event that announces it.
struct DueExpiry {
  ExpiryNotice notice;
  Event event;
};

// DueExpiryNotices plus MakeExpiryEvent for each. The caller records each notice
// (WebhookStore::RecordFired) and dispatches its event. Errors: MakeExpiryEvent's
// (a credential name that is not valid UTF-8, getrandom failure).
Result<std::vector<DueExpiry>> DueExpiryEvents(std::span<const CredentialExpiry> credentials,
                                               int64_t now, std::span<const ExpiryNotice> fired);

}  // namespace keycell::broker::webhooks

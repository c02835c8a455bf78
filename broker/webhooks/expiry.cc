#include "broker/webhooks/expiry.h"

#include <set>
#include <string_view>
#include <tuple>

namespace keycell::broker::webhooks {
namespace {

using NoticeKey = std::tuple<std::string_view, int64_t, ExpiryState>;

std::optional<ExpiryState> StateAt(int64_t expires_at, int64_t now) {
  if (now >= expires_at) return ExpiryState::kExpired;
  // now < expires_at, so the unsigned difference is exact (no signed overflow for any
  // stored value, however hostile).
  const uint64_t left = static_cast<uint64_t>(expires_at) - static_cast<uint64_t>(now);
  if (left <= static_cast<uint64_t>(kExpiringSoonSeconds)) return ExpiryState::kExpiringSoon;
  return std::nullopt;
}

}  // namespace

std::vector<ExpiryNotice> DueExpiryNotices(std::span<const CredentialExpiry> credentials,
                                           int64_t now, std::span<const ExpiryNotice> fired) {
  std::set<NoticeKey> seen;
  for (const ExpiryNotice& f : fired) seen.emplace(f.credential, f.expires_at, f.state);
  std::vector<ExpiryNotice> due;
  for (const CredentialExpiry& c : credentials) {
    if (!c.expires_at) continue;
    const std::optional<ExpiryState> state = StateAt(*c.expires_at, now);
    if (!state) continue;
    // `seen` also holds what this call already chose: a credential listed twice fires once.
    if (!seen.emplace(c.name, *c.expires_at, *state).second) continue;
    due.push_back(ExpiryNotice{c.name, *c.expires_at, *state, now});
  }
  return due;
}

Result<std::vector<DueExpiry>> DueExpiryEvents(std::span<const CredentialExpiry> credentials,
                                               int64_t now, std::span<const ExpiryNotice> fired) {
  std::vector<DueExpiry> out;
  for (ExpiryNotice& n : DueExpiryNotices(credentials, now, fired)) {
    KC_ASSIGN_OR_RETURN(Event e, MakeExpiryEvent(n.credential, n.expires_at, n.state, now));
    out.push_back(DueExpiry{std::move(n), std::move(e)});
  }
  return out;
}

}  // namespace keycell::broker::webhooks

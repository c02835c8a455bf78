#include "broker/webhooks/types.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>

namespace keycell::broker::webhooks {
namespace {

constexpr char kBase62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

struct EventRow {
  EventType type;
  const char* name;
};
constexpr EventRow kEventNames[] = {
    {EventType::kCredentialExpired, "credential.expired"},
    {EventType::kCredentialExpiringSoon, "credential.expiring_soon"},
    {EventType::kCredentialError, "credential.error"},
    {EventType::kUsageLimitReached, "usage.limit_reached"},
    {EventType::kWebhookTest, "webhook.test"},
};

constexpr const char* kResultNames[] = {"delivered", "retrying", "failed", "dropped", "abandoned"};

Result<std::string> NewId(std::string_view prefix, size_t chars) {
  std::string id(prefix);
  uint8_t buf[32];
  while (id.size() < prefix.size() + chars) {
    KC_RETURN_IF_ERROR(FillRandom(std::span<uint8_t>(buf, sizeof(buf))));
    for (uint8_t b : buf) {
      // 248 = 4 * 62: bytes at or above it would bias the first eight digits.
      if (b >= 248 || id.size() == prefix.size() + chars) continue;
      id.push_back(kBase62[b % 62]);
    }
  }
  return id;
}

bool IsBase62(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

}  // namespace

const char* EventName(EventType type) {
  for (const EventRow& row : kEventNames)
    if (row.type == type) return row.name;
  return "unknown";
}

std::optional<EventType> ParseEventName(std::string_view name) {
  for (const EventRow& row : kEventNames)
    if (name == row.name) return row.type;
  return std::nullopt;
}

bool Webhook::Subscribes(EventType type) const {
  return std::find(events.begin(), events.end(), type) != events.end();
}

const char* DeliveryResultName(DeliveryResult r) {
  const auto i = static_cast<size_t>(r);
  return i < std::size(kResultNames) ? kResultNames[i] : "unknown";
}

std::optional<DeliveryResult> ParseDeliveryResult(std::string_view name) {
  for (size_t i = 0; i < std::size(kResultNames); ++i)
    if (name == kResultNames[i]) return static_cast<DeliveryResult>(i);
  return std::nullopt;
}

const char* ExpiryStateName(ExpiryState s) {
  return s == ExpiryState::kExpired ? "expired" : "expiring_soon";
}

std::optional<ExpiryState> ParseExpiryState(std::string_view name) {
  if (name == "expired") return ExpiryState::kExpired;
  if (name == "expiring_soon") return ExpiryState::kExpiringSoon;
  return std::nullopt;
}

Status FillRandom(std::span<uint8_t> out) {
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = getrandom(out.data() + got, out.size() - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status(Err::kInternal, "webhooks: getrandom", errno);
    got += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Result<std::string> NewWebhookId() { return NewId(kWebhookIdPrefix, kWebhookIdBase62Chars); }
Result<std::string> NewEventId() { return NewId(kEventIdPrefix, kEventIdBase62Chars); }

bool IsWebhookId(std::string_view id) {
  if (id.size() != kWebhookIdPrefix.size() + kWebhookIdBase62Chars) return false;
  if (!id.starts_with(kWebhookIdPrefix)) return false;
  return std::all_of(id.begin() + kWebhookIdPrefix.size(), id.end(), IsBase62);
}

}  // namespace keycell::broker::webhooks

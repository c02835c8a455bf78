#include "broker/webhooks/event.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <ctime>
#include <utility>

namespace keycell::broker::webhooks {
namespace {

constexpr int64_t kSecondsPerDay = 24 * 3600;
// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: four-digit years only.
constexpr int64_t kMinRfc3339 = -62167219200;
constexpr int64_t kMaxRfc3339 = 253402300799;

// Rounds up, at least 1: "expires in 1 day" while any part of a day is left.
int64_t DaysLeft(int64_t expires_at, int64_t now) {
  const int64_t left = expires_at - now;
  if (left <= 0) return 0;
  return (left + kSecondsPerDay - 1) / kSecondsPerDay;
}

}  // namespace

std::string FormatRfc3339(int64_t unix_seconds) {
  const int64_t clamped = std::min(std::max(unix_seconds, kMinRfc3339), kMaxRfc3339);
  const time_t t = static_cast<time_t>(clamped);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[96];  // the compiler cannot see that every field fits its width
  snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

Result<Event> MakeEvent(EventType type, json::Json data, int64_t now) {
  if (json::TypeOf(data.get()) != json::Type::kObject)
    return Status(Err::kInvalidArgument, "webhooks: event data must be an object");
  Event e;
  KC_ASSIGN_OR_RETURN(e.id, NewEventId());
  e.type = type;
  e.timestamp = now;
  // Member order is the documented one (cJSON keeps insertion order).
  json::Json root = json::MakeObject();
  KC_RETURN_IF_ERROR(json::SetString(root.get(), "id", e.id));
  KC_RETURN_IF_ERROR(json::SetString(root.get(), "event", EventName(type)));
  KC_RETURN_IF_ERROR(json::SetString(root.get(), "timestamp", FormatRfc3339(now)));
  KC_RETURN_IF_ERROR(json::Set(root.get(), "data", std::move(data)));
  KC_ASSIGN_OR_RETURN(e.body, json::Print(root.get()));
  if (e.body.size() > kMaxEventBodyBytes)
    return Status(Err::kTooLarge, "webhooks: event body too large",
                  static_cast<int32_t>(std::min<size_t>(e.body.size(), INT32_MAX)));
  return e;
}

Result<Event> MakeExpiryEvent(std::string_view credential, int64_t expires_at, ExpiryState state,
                              int64_t now) {
  json::Json data = json::MakeObject();
  KC_RETURN_IF_ERROR(json::SetString(data.get(), "credential", credential));
  KC_RETURN_IF_ERROR(json::SetString(data.get(), "expires_at", FormatRfc3339(expires_at)));
  const int64_t days =
      state == ExpiryState::kExpired ? 0 : std::max<int64_t>(1, DaysLeft(expires_at, now));
  KC_RETURN_IF_ERROR(json::SetInt(data.get(), "days_left", days));
  const EventType type = state == ExpiryState::kExpired ? EventType::kCredentialExpired
                                                        : EventType::kCredentialExpiringSoon;
  return MakeEvent(type, std::move(data), now);
}

Result<Event> MakeCredentialErrorEvent(std::string_view credential, std::string_view host,
                                       int http_status, int64_t now) {
  json::Json data = json::MakeObject();
  KC_RETURN_IF_ERROR(json::SetString(data.get(), "credential", credential));
  KC_RETURN_IF_ERROR(json::SetString(data.get(), "host", host));
  KC_RETURN_IF_ERROR(json::SetInt(data.get(), "status", http_status));
  return MakeEvent(EventType::kCredentialError, std::move(data), now);
}

Result<Event> MakeUsageLimitEvent(std::string_view subject, int64_t limit, int64_t window_seconds,
                                  int64_t now) {
  json::Json data = json::MakeObject();
  KC_RETURN_IF_ERROR(json::SetString(data.get(), "subject", subject));
  KC_RETURN_IF_ERROR(json::SetInt(data.get(), "limit", limit));
  KC_RETURN_IF_ERROR(json::SetInt(data.get(), "window_seconds", window_seconds));
  return MakeEvent(EventType::kUsageLimitReached, std::move(data), now);
}

Result<Event> MakeTestEvent(std::string_view webhook_id, int64_t now) {
  json::Json data = json::MakeObject();
  KC_RETURN_IF_ERROR(json::SetString(data.get(), "webhook_id", webhook_id));
  KC_RETURN_IF_ERROR(json::SetString(data.get(), "message", "This is a test event from keycell."));
  return MakeEvent(EventType::kWebhookTest, std::move(data), now);
}

}  // namespace keycell::broker::webhooks

// webhooks.add, .list, .rm, .test, .deliveries, and the daemon's two event sources that
// live here: the expiry scheduler and rate-limit notices. The signing secret is made and
// sealed by the enclave; keycelld stores the sealed blob and asks the enclave for each
// signature (keycelld_main.cc's SignFn).

#include <string>

#include "broker/daemon/log.h"
#include "broker/daemon/vault.h"
#include "broker/webhooks/webhook_url.h"

namespace keycell::broker::daemon {
namespace {

constexpr uint32_t kSecretChars = 40;  // ~238 bits of base62
constexpr char kSecretAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
constexpr int64_t kLimitNoticeIntervalSeconds = 60;

json::Json WebhookToJson(const webhooks::Webhook& h) {
  json::Json o = json::MakeObject();
  (void)json::SetString(o.get(), "id", h.id);
  (void)json::SetString(o.get(), "url", h.url);
  std::vector<std::string> events;
  for (webhooks::EventType t : h.events) events.emplace_back(webhooks::EventName(t));
  (void)json::Set(o.get(), "events", StringsToJson(events));
  (void)json::SetInt(o.get(), "created_at", h.created_at);
  SetOptionalTime(o.get(), "last_delivery_at", h.last_delivery_at);
  SetOptionalTime(o.get(), "last_status", h.last_status ? std::optional<int64_t>(*h.last_status) : std::nullopt);
  (void)json::SetString(o.get(), "last_error", h.last_error);
  return o;
}

json::Json DeliveryToJson(const webhooks::DeliveryRecord& d) {
  json::Json o = json::MakeObject();
  (void)json::SetInt(o.get(), "seq", d.seq);
  (void)json::SetString(o.get(), "webhook_id", d.webhook_id);
  (void)json::SetString(o.get(), "event_id", d.event_id);
  (void)json::SetString(o.get(), "event", d.event);
  (void)json::SetInt(o.get(), "attempt", d.attempt);
  (void)json::SetInt(o.get(), "at", d.at);
  (void)json::SetString(o.get(), "result", webhooks::DeliveryResultName(d.result));
  SetOptionalTime(o.get(), "http_status", d.http_status ? std::optional<int64_t>(*d.http_status) : std::nullopt);
  (void)json::SetString(o.get(), "error", d.error);
  (void)json::SetInt(o.get(), "latency_ms", d.latency_ms);
  return o;
}

OpResult WebhookFail(const Status& st) {
  std::string why(st.where());
  if (why.rfind("webhooks: ", 0) == 0) why = why.substr(10);
  if (st.code() == Err::kUnknownKey) return Fail("not_found", why, kExitNotFound);
  if (st.code() == Err::kPolicyDenied) return Fail("policy_denied", why, kExitPolicyDenied);
  if (st.code() == Err::kInvalidArgument || st.code() == Err::kTooLarge) return Fail("invalid", why, kExitInvalid);
  return Fail(st);
}

// Nothing may be done with a signing secret but HMAC: no host, no .env export, and a
// reveal only through Generate's one-time fd.
keycell_ipc_Policy SigningPolicy() {
  keycell_ipc_Policy p = keycell_ipc_Policy_init_zero;
  p.has_injection = true;
  return p;
}

}  // namespace

// The fd is the CLI's pipe: by default the enclave generates the secret and writes it
// there once (the human configures the receiver with it); with secret_from_fd the CLI
// filled the pipe with the user's own secret and the enclave reads it.
OpResult Vault::OpWebhooksAdd(const identity::Principal&, const cJSON* args, UniqueFd fd) {
  if (!fd) return Fail(Status(Err::kInvalidArgument, "webhooks.add"), "webhooks add needs the secret pipe");
  const std::string url(json::GetString(args, "url").value_or(""));
  if (Status st = webhooks::ParseAndCheckWebhookUrl(url).status(); !st.ok()) return WebhookFail(st);
  webhooks::NewWebhook hook;
  hook.url = url;
  for (const std::string& name : StringArray(args, "events")) {
    const auto type = webhooks::ParseEventName(name);
    if (!type || *type == webhooks::EventType::kWebhookTest)
      return Fail("invalid", "unknown event '" + name + "' (credential.expired, credential.expiring_soon, "
                             "credential.error, usage.limit_reached)", kExitInvalid);
    hook.events.push_back(*type);
  }
  if (hook.events.empty()) return Fail("invalid", "give at least one event with --events", kExitInvalid);
  auto id = webhooks::NewWebhookId();
  if (!id.ok()) return Fail(id.status());
  hook.id = *id;
  hook.secret_ref = {hook.id, 1, "webhook/" + hook.id};
  const keycell_ipc_RecordRef ref = RefOf(hook.secret_ref.record_id, 1, hook.secret_ref.name);
  const bool own_secret = json::GetBool(args, "secret_from_fd").value_or(false);
  auto sealed = own_secret ? enclave_.SealFromFd(ref, SigningPolicy(), fd.get())
                           : enclave_.Generate(ref, SigningPolicy(), kSecretChars, kSecretAlphabet, fd.get());
  if (!sealed.ok()) return Fail(sealed.status());
  hook.sealed_secret = std::move(sealed->blob);
  auto added = webhooks_.AddWebhook(hook);
  if (!added.ok()) return WebhookFail(added.status());
  return WithAudit(Ok(WebhookToJson(*added)), {"", std::nullopt, added->id + " " + url});
}

OpResult Vault::OpWebhooksList(const identity::Principal&, const cJSON*, UniqueFd) {
  auto hooks = webhooks_.ListWebhooks();
  if (!hooks.ok()) return WebhookFail(hooks.status());
  json::Json out = json::MakeArray();
  for (const webhooks::Webhook& h : *hooks) (void)json::Append(out.get(), WebhookToJson(h));
  return Ok(std::move(out));
}

OpResult Vault::OpWebhooksRemove(const identity::Principal&, const cJSON* args, UniqueFd) {
  const std::string id(json::GetString(args, "id").value_or(""));
  if (Status st = webhooks_.RemoveWebhook(id); !st.ok()) return WebhookFail(st);
  json::Json out = json::MakeObject();
  (void)json::SetString(out.get(), "removed", id);
  return WithAudit(Ok(std::move(out)), {"", std::nullopt, id});
}

// One delivery now, on this thread: the reply says what the receiver answered.
OpResult Vault::OpWebhooksTest(const identity::Principal&, const cJSON* args, UniqueFd) {
  const std::string id(json::GetString(args, "id").value_or(""));
  auto row = hooks_.SendTest(id, NowSeconds());
  if (!row.ok()) return WebhookFail(row.status());
  return WithAudit(Ok(DeliveryToJson(*row)), {"", std::nullopt, id + " " + webhooks::DeliveryResultName(row->result)});
}

OpResult Vault::OpWebhooksDeliveries(const identity::Principal&, const cJSON* args, UniqueFd) {
  const auto id = json::GetString(args, "id");
  const int64_t limit = json::GetInt(args, "limit").value_or(webhooks::kDefaultDeliveryListLimit);
  if (limit < 1 || limit > webhooks::kMaxDeliveryListLimit)
    return Fail("invalid", "limit must be 1.." + std::to_string(webhooks::kMaxDeliveryListLimit), kExitInvalid);
  auto rows = webhooks_.ListDeliveries(id ? std::optional<std::string_view>(*id) : std::nullopt, limit);
  if (!rows.ok()) return WebhookFail(rows.status());
  json::Json out = json::MakeArray();
  for (const webhooks::DeliveryRecord& d : *rows) (void)json::Append(out.get(), DeliveryToJson(d));
  return Ok(std::move(out));
}

size_t Vault::FireDueExpiry(bool force) {
  if (!expiry_changed_.exchange(false) && !force) return 0;
  auto creds = store_.ListCredentials({});
  if (!creds.ok()) {
    expiry_changed_ = true;  // try again next tick
    return 0;
  }
  std::vector<webhooks::CredentialExpiry> expiries;
  for (const store::Credential& c : *creds)
    if (c.expires_at) expiries.push_back({c.name, c.expires_at});
  auto fired = hooks_.FireDueExpiry(expiries, NowSeconds());
  if (!fired.ok()) {
    LogEvent(LogLevel::kWarn, "expiry_check_failed", {{"detail", fired.status().where()}});
    return 0;
  }
  if (*fired > 0) LogEvent(LogLevel::kInfo, "expiry_events", {{"fired", std::to_string(*fired)}});
  return *fired;
}

void Vault::NotifyRateLimited(std::string_view subject, int64_t requests_per_minute) {
  const int64_t now = NowSeconds();
  {
    std::lock_guard<std::mutex> lock(limit_mu_);
    auto it = limit_notified_.find(subject);
    if (it != limit_notified_.end() && now - it->second < kLimitNoticeIntervalSeconds) return;
    if (limit_notified_.size() > 10000) limit_notified_.clear();  // bounded; a lost throttle only resends
    limit_notified_[std::string(subject)] = now;
  }
  auto event = webhooks::MakeUsageLimitEvent(subject, requests_per_minute, 60, now);
  if (event.ok()) (void)hooks_.Dispatch(*event);
}

}  // namespace keycell::broker::daemon

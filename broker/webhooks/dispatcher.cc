#include "broker/webhooks/dispatcher.h"

#include <memory>

namespace keycell::broker::webhooks {

Result<size_t> Dispatcher::Dispatch(const Event& event) {
  if (event.type == EventType::kWebhookTest) return size_t{0};
  KC_ASSIGN_OR_RETURN(std::vector<Webhook> hooks, store_->ListSubscribers(event.type));
  if (hooks.empty()) return size_t{0};
  // One copy of the body shared by every queued delivery.
  const auto shared = std::make_shared<const Event>(event);
  size_t queued = 0;
  for (const Webhook& h : hooks) queued += worker_->Enqueue(h.id, shared) ? 1 : 0;
  return queued;
}

Result<size_t> Dispatcher::FireDueExpiry(std::span<const CredentialExpiry> credentials,
                                         int64_t now) {
  KC_ASSIGN_OR_RETURN(std::vector<ExpiryNotice> fired, store_->ListExpiryNotices());
  KC_ASSIGN_OR_RETURN(std::vector<DueExpiry> due, DueExpiryEvents(credentials, now, fired));
  size_t sent = 0;
  for (const DueExpiry& d : due) {
    KC_ASSIGN_OR_RETURN(bool first, store_->RecordFired(d.notice));
    if (!first) continue;  // another caller fired it since we read the list
    KC_RETURN_IF_ERROR(Dispatch(d.event).status());
    ++sent;
  }
  return sent;
}

Result<DeliveryRecord> Dispatcher::SendTest(std::string_view webhook_id, int64_t now) {
  KC_ASSIGN_OR_RETURN(Webhook hook, store_->GetWebhook(webhook_id));
  KC_ASSIGN_OR_RETURN(Event event, MakeTestEvent(hook.id, now));
  return worker_->DeliverNow(hook.id, event);
}

}  // namespace keycell::broker::webhooks

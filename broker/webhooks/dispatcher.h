#pragma once
// Fans events out to the webhooks subscribed to them, and runs the expiry scheduler's
// cycle. This is the object the daemon talks to once everything is wired:
//
//   auto store  = WebhookStore::Open(WebhookStore::PathIn(cfg.data_dir));
//   auto worker = DeliveryWorker::Start(store.get(), sign, {.http = {.extra_ca_file =
//                                                           cfg.tls_extra_ca_file}});
//   Dispatcher hooks(store.get(), worker.get());
//   hooks.Dispatch(*MakeCredentialErrorEvent("stripe", "api.stripe.com", 401, now));
//   hooks.FireDueExpiry(credentials, now);   // from a timer, e.g. every minute
//   hooks.SendTest("whk_...");               // `keycell webhooks test`
//
// Thread-safety: a Dispatcher holds two pointers and no state of its own; it is as
// thread-safe as the store and the worker (both are). Blocking: Dispatch and
// FireDueExpiry read the store (file I/O, busy timeout) and FireDueExpiry writes one row
// per fired notice (fsync); neither waits for a delivery. SendTest blocks for one whole
// attempt.

#include <cstddef>
#include <span>
#include <string_view>

#include "broker/webhooks/delivery_worker.h"
#include "broker/webhooks/event.h"
#include "broker/webhooks/expiry.h"
#include "broker/webhooks/webhook_store.h"
#include "common/result.h"

namespace keycell::broker::webhooks {

class Dispatcher {
 public:
  // Both must outlive the dispatcher.
  Dispatcher(WebhookStore* store, DeliveryWorker* worker) : store_(store), worker_(worker) {}

  // Enqueues `event` once for every webhook subscribed to its type; returns how many
  // deliveries were queued (drops are not counted; they are logged by the worker).
  // webhook.test is never fanned out (use SendTest). Errors: the store's.
  Result<size_t> Dispatch(const Event& event);

  // The expiry cycle (expiry.h): reads the fired notices, decides what is due at `now`
  // for `credentials`, records each notice (WebhookStore::RecordFired) and dispatches its
  // event only if this call recorded it, so concurrent callers cannot both fire it.
  // Recording comes first: a crash between the two loses that one event rather than
  // sending it twice after the restart. Returns the number of events fired. Errors: the
  // store's; MakeExpiryEvent's.
  Result<size_t> FireDueExpiry(std::span<const CredentialExpiry> credentials, int64_t now);

  // `keycell webhooks test`: a webhook.test event for this webhook alone, delivered now
  // on the caller's thread with one attempt (DeliveryWorker::DeliverNow); returns its
  // log row. Errors: kUnknownKey + kNoSuchWebhook; DeliverNow's.
  Result<DeliveryRecord> SendTest(std::string_view webhook_id, int64_t now);

 private:
  WebhookStore* const store_;
  DeliveryWorker* const worker_;
};

}  // namespace keycell::broker::webhooks

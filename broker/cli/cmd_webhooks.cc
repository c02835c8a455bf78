// Webhooks: keycelld POSTs signed events (credential.expired, credential.expiring_soon,
// credential.error, usage.limit_reached) to URLs you register. The signing secret is
// generated inside the enclave and shown here once (or read from stdin with
// --secret-stdin); keycelld keeps it sealed and never sees it (docs/webhooks.md).

#include "broker/cli/commands.h"
#include "broker/cli/output.h"
#include "broker/cli/secret_io.h"
#include "broker/cli/session.h"

namespace keycell::cli {
namespace {

constexpr char kWebhooksDetails[] =
    "Each delivery is an HTTP POST of {id, event, timestamp, data} with the header\n"
    "X-Keycell-Signature: sha256=<hex HMAC-SHA256 of the raw body under the secret>.\n"
    "Deliveries time out after 10 s and are retried 3 times (1 s, 2 s, 4 s); every\n"
    "attempt is logged (`webhooks deliveries`). URLs must be https://, or http:// to a\n"
    "loopback address. Events: credential.expired, credential.expiring_soon (7 days\n"
    "before), credential.error (an upstream answered 401/403), usage.limit_reached.\n"
    "\n"
    "Examples:\n"
    "  keycell webhooks add https://hooks.example.com/keycell --events credential.expired,credential.expiring_soon\n"
    "  keycell webhooks add https://ops.example.com/k --events credential.error --secret-stdin < secret.txt\n"
    "  keycell webhooks list\n"
    "  keycell webhooks test whk_AbCdEfGhIjKlMnOp\n"
    "  keycell webhooks deliveries whk_AbCdEfGhIjKlMnOp\n"
    "  keycell webhooks rm whk_AbCdEfGhIjKlMnOp\n";

constexpr size_t kMaxShownSecretBytes = 1024;

std::string HooksTable(const cJSON* list) {
  if (json::ChildCount(list) == 0) return "no webhooks\n";
  Table t({"ID", "URL", "EVENTS", "CREATED", "LAST DELIVERY", "LAST STATUS"});
  for (const cJSON* h : json::Children(list)) {
    std::string last = IntField(h, "last_status");
    if (const std::string err = StringField(h, "last_error"); !err.empty()) last = err;
    t.AddRow({StringField(h, "id"), StringField(h, "url"), JoinOrDash(StringsOf(json::GetArray(h, "events"))),
              TimeField(h, "created_at"), TimeField(h, "last_delivery_at"), last});
  }
  return t.Render();
}

std::string DeliveriesTable(const cJSON* list) {
  if (json::ChildCount(list) == 0) return "no deliveries\n";
  Table t({"TIME", "WEBHOOK", "EVENT", "ATTEMPT", "RESULT", "STATUS", "MS", "ERROR"});
  for (const cJSON* d : json::Children(list))
    t.AddRow({TimeField(d, "at"), StringField(d, "webhook_id"), StringField(d, "event"), IntField(d, "attempt"),
              StringField(d, "result"), IntField(d, "http_status"), IntField(d, "latency_ms"), StringField(d, "error")});
  return t.Render();
}

struct AddArgs {
  std::string url;
  std::vector<std::string> events;
  bool secret_stdin = false;
  bool as_json = false;
};

int RunAdd(const AddArgs& a) {
  json::Json args = json::MakeObject();
  (void)json::SetString(args.get(), "url", a.url);
  (void)json::Set(args.get(), "events", JsonStrings(a.events));
  int rc = kExitOk;
  if (a.secret_stdin) {
    auto value = ReadValueInput("webhook secret: ");
    if (!value.ok()) return Fail(kExitInvalid, std::string("cannot read the secret: ") + value.status().where());
    auto pipe = ValuePipe(SecretView(value->data(), value->size()));
    if (!pipe.ok()) return Fail(kExitFailure, "cannot make a pipe");
    (void)json::SetBool(args.get(), "secret_from_fd", true);
    auto session = Session::Open(true, &rc);
    if (!session) return rc;
    json::Json r;
    if ((rc = session->Call("webhooks.add", args.get(), pipe->get(), &r)) != kExitOk) return rc;
    return a.as_json ? PrintJson(r.get()) : PrintText("keycell: added webhook " + StringField(r.get(), "id") + "\n");
  }
  auto session = Session::Open(true, &rc);
  if (!session) return rc;
  SecureBuffer secret;
  json::Json r;
  if ((rc = session->CallWithOutput("webhooks.add", args.get(), kMaxShownSecretBytes, &secret, &r)) != kExitOk)
    return rc;
  if (a.as_json) {
    if ((rc = PrintJson(r.get())) != kExitOk) return rc;
  } else {
    fputs(("keycell: added webhook " + StringField(r.get(), "id") + " for " +
           JoinOrDash(StringsOf(json::GetArray(r.get(), "events")), ", ") +
           "; its signing secret follows, shown once: configure your receiver with it\n")
              .c_str(),
          stderr);
  }
  // The secret goes from the enclave's pipe to stdout, never through a std::string.
  if (!WriteSecret(STDOUT_FILENO, SecretView(secret.data(), secret.size())).ok() ||
      !WriteSecret(STDOUT_FILENO, SecretView(reinterpret_cast<const uint8_t*>("\n"), 1)).ok())
    return Fail(kExitFailure, "cannot write the secret to stdout");
  return kExitOk;
}

std::string TestResult(const cJSON* d) {
  const std::string result = StringField(d, "result");
  if (result == "delivered")
    return "keycell: delivered webhook.test, receiver answered " + IntField(d, "http_status") + " in " +
           IntField(d, "latency_ms") + " ms\n";
  return "keycell: webhook.test not delivered: " +
         (StringField(d, "error").empty() ? "HTTP " + IntField(d, "http_status") : StringField(d, "error")) + "\n";
}

}  // namespace

void RegisterWebhookCommands(CLI::App& app, int& exit_code) {
  CLI::App* hooks = AddCommand(app, "webhooks", "Signed event notifications to your URLs", kWebhooksDetails);
  hooks->require_subcommand(1);

  auto add = std::make_shared<AddArgs>();
  CLI::App* c = AddCommand(*hooks, "add", "Register a URL for events (prints its secret once)", kWebhooksDetails);
  c->add_option("url", add->url, "https:// URL (http:// only to loopback)")->required();
  c->add_option("--events", add->events, "Comma-separated event names")->required()->delimiter(',')->allow_extra_args(false);
  c->add_flag("--secret-stdin", add->secret_stdin, "Use your own secret from stdin instead of a generated one");
  c->add_flag("--json", add->as_json, "Print the webhook as JSON (the secret still follows on its own line)");
  c->callback([add, &exit_code] { exit_code = RunAdd(*add); });

  auto list_json = std::make_shared<bool>(false);
  c = AddCommand(*hooks, "list", "List webhooks", kWebhooksDetails);
  c->add_flag("--json", *list_json, "Print JSON");
  c->callback([list_json, &exit_code] { exit_code = CallAndPrint("webhooks.list", nullptr, *list_json, HooksTable); });

  for (const char* op : {"rm", "test"}) {
    auto id = std::make_shared<std::string>();
    const bool rm = std::string_view(op) == "rm";
    c = AddCommand(*hooks, op, rm ? "Remove a webhook and its delivery log" : "Send a webhook.test event now",
                   kWebhooksDetails);
    c->add_option("id", *id, "The webhook's id (whk_...)")->required();
    c->callback([id, rm, &exit_code] {
      json::Json args = json::MakeObject();
      (void)json::SetString(args.get(), "id", *id);
      if (rm) {
        exit_code = CallAndPrint("webhooks.rm", args.get(), false,
                                 [](const cJSON* r) { return "keycell: removed " + StringField(r, "removed") + "\n"; });
        return;
      }
      int rc = kExitOk;
      auto session = Session::Open(true, &rc);
      if (!session) {
        exit_code = rc;
        return;
      }
      json::Json r;
      if ((rc = session->Call("webhooks.test", args.get(), -1, &r)) != kExitOk) {
        exit_code = rc;
        return;
      }
      exit_code = PrintText(TestResult(r.get()));
      if (exit_code == kExitOk && StringField(r.get(), "result") != "delivered") exit_code = kExitFailure;
    });
  }

  auto del_id = std::make_shared<std::string>();
  auto del_limit = std::make_shared<int64_t>(50);
  auto del_json = std::make_shared<bool>(false);
  c = AddCommand(*hooks, "deliveries", "The delivery log, newest first", kWebhooksDetails);
  c->add_option("id", *del_id, "Only this webhook's deliveries");
  c->add_option("--limit", *del_limit, "At most this many rows (default 50)")->check(CLI::Range(1, 10000));
  c->add_flag("--json", *del_json, "Print JSON");
  c->callback([=, &exit_code] {
    json::Json args = json::MakeObject();
    if (!del_id->empty()) (void)json::SetString(args.get(), "id", *del_id);
    (void)json::SetInt(args.get(), "limit", *del_limit);
    exit_code = CallAndPrint("webhooks.deliveries", args.get(), *del_json, DeliveriesTable);
  });
}

}  // namespace keycell::cli

// The audit trail: `audit` queries it, `audit verify` checks its hash chain and the
// enclave-sealed checkpoints (docs/audit.md).

#include <time.h>

#include "broker/cli/commands.h"
#include "broker/cli/expiry.h"
#include "broker/cli/output.h"
#include "broker/cli/session.h"

namespace keycell::cli {
namespace {

constexpr char kAuditDetails[] =
    "Every use of a credential (proxy call, reveal with its purpose, .env write, run),\n"
    "every change (add, rotate, rollback, delete, agents, tokens, API keys), unlock and\n"
    "lock, and every refused authentication is a record: time, who (uid, agent or API\n"
    "key), action, credential and version, target host and path (never the query),\n"
    "result and latency. Never a value, PIN or token. Newest first.\n"
    "\n"
    "--since takes a duration back from now (24h, 7d) or a date (2026-11-01).\n"
    "\n"
    "Examples:\n"
    "  keycell audit\n"
    "  keycell audit --agent ci-bot --since 24h\n"
    "  keycell audit --credential openai/prod --action proxy --json\n"
    "  keycell audit verify\n";

constexpr char kVerifyDetails[] =
    "Recomputes the hash chain over every record and checks each checkpoint's MAC (made\n"
    "in the enclave with a key only the token can unseal; the vault must be unlocked for\n"
    "the MACs, otherwise only the chain is checked and the output says so). Any edited,\n"
    "deleted, reordered or truncated record is named by its sequence number. Exit 0 when\n"
    "intact, 1 when tampering was found.\n"
    "\n"
    "Examples:\n"
    "  keycell audit verify\n"
    "  keycell audit verify --json\n";

// "24h", "7d" back from now, or an RFC 3339 date / date-time.
Result<int64_t> ParseSince(const std::string& text, int64_t now) {
  const bool duration = !text.empty() && isalpha(static_cast<unsigned char>(text.back())) &&
                        text.find_first_not_of("0123456789") == text.size() - 1;
  if (duration) {
    KC_ASSIGN_OR_RETURN(const int64_t span, ParseExpiry(text, 0));
    return now - span;
  }
  return ParseExpiry(text, 0);
}

std::string Who(const cJSON* r) {
  const std::string kind = StringField(r, "actor_kind");
  return (kind == "agent" ? "" : kind + ":") + StringField(r, "actor");
}

std::string RecordsTable(const cJSON* list) {
  if (json::ChildCount(list) == 0) return "no audit records\n";
  Table t({"SEQ", "TIME", "WHO", "ACTION", "CREDENTIAL", "VER", "TARGET", "RESULT", "MS", "DETAIL"});
  for (const cJSON* r : json::Children(list)) {
    const int64_t us = json::GetInt(r, "latency_us").value_or(0);
    std::string target = StringField(r, "host") + StringField(r, "path");
    const std::string status = IntField(r, "status");
    std::string result = StringField(r, "result") + (status == "-" ? "" : " " + status);
    t.AddRow({IntField(r, "seq"), TimeField(r, "ts"), Who(r), StringField(r, "action"), StringField(r, "credential"),
              IntField(r, "version"), target.empty() ? "-" : target, result,
              std::to_string(us / 1000) + "." + std::to_string(us % 1000 / 100), StringField(r, "detail")});
  }
  return t.Render();
}

struct QueryArgs {
  std::string agent, credential, since, action;
  int64_t limit = 100;
  bool as_json = false;
};

int RunQuery(const QueryArgs& q) {
  json::Json args = json::MakeObject();
  if (!q.agent.empty()) (void)json::SetString(args.get(), "agent", q.agent);
  if (!q.credential.empty()) (void)json::SetString(args.get(), "credential", q.credential);
  if (!q.action.empty()) (void)json::SetString(args.get(), "action", q.action);
  if (!q.since.empty()) {
    auto since = ParseSince(q.since, static_cast<int64_t>(time(nullptr)));
    if (!since.ok()) return Fail(kExitInvalid, std::string("--since: ") + since.status().where());
    (void)json::SetInt(args.get(), "since", *since);
  }
  (void)json::SetInt(args.get(), "limit", q.limit);
  return CallAndPrint("audit.query", args.get(), q.as_json, RecordsTable);
}

int RunVerify(bool as_json) {
  int rc = kExitOk;
  auto session = Session::Open(true, &rc);
  if (!session) return rc;
  json::Json r;
  if ((rc = session->Call("audit.verify", nullptr, -1, &r)) != kExitOk) return rc;
  const bool ok = json::GetBool(r.get(), "ok").value_or(false);
  if (as_json) {
    rc = PrintJson(r.get());
  } else {
    std::string text = ok ? "audit log intact: " + IntField(r.get(), "records") + " record(s), " +
                                IntField(r.get(), "checkpoints") + " checkpoint(s)"
                          : "AUDIT LOG TAMPERED: " + StringField(r.get(), "message");
    if (ok && !json::GetBool(r.get(), "macs_checked").value_or(false))
      text += " (checkpoint MACs not checked: the vault is locked; run keycell unlock)";
    else if (ok)
      text += ", sealed up to record " + IntField(r.get(), "anchored_seq");
    rc = PrintText(text + "\n");
  }
  return ok ? rc : kExitFailure;
}

}  // namespace

void RegisterAuditCommands(CLI::App& app, int& exit_code) {
  auto q = std::make_shared<QueryArgs>();
  CLI::App* audit = AddCommand(app, "audit", "Query or verify the tamper-evident audit trail", kAuditDetails);
  audit->add_option("--agent", q->agent, "Records of this agent (by name)");
  audit->add_option("--credential", q->credential, "Records about this credential");
  audit->add_option("--since", q->since, "Only newer records: 24h, 7d or a date");
  audit->add_option("--action", q->action, "proxy, reveal, env.write, run, credential.add, token.create, ...");
  audit->add_option("--limit", q->limit, "At most this many records (default 100)")->check(CLI::Range(1, 10000));
  audit->add_flag("--json", q->as_json, "Print JSON");
  audit->callback([q, audit, &exit_code] {
    if (audit->get_subcommands().empty()) exit_code = RunQuery(*q);
  });
  auto verify_json = std::make_shared<bool>(false);
  CLI::App* verify = AddCommand(*audit, "verify", "Check the audit chain and its sealed checkpoints", kVerifyDetails);
  verify->add_flag("--json", *verify_json, "Print JSON");
  verify->callback([verify_json, &exit_code] { exit_code = RunVerify(*verify_json); });
}

}  // namespace keycell::cli

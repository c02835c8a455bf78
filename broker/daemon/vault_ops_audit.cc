// audit.query and audit.verify: reading and checking the hash-chained audit trail.

#include <string>

#include "broker/daemon/vault.h"

namespace keycell::broker::daemon {
namespace {

std::string HexOf(const audit::Hash& h) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : h) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

json::Json RecordToJson(const audit::Record& r) {
  json::Json o = json::MakeObject();
  (void)json::SetInt(o.get(), "seq", r.seq);
  (void)json::SetInt(o.get(), "ts", r.ts);
  (void)json::SetString(o.get(), "actor", r.actor);
  (void)json::SetString(o.get(), "actor_kind", audit::ActorKindName(r.actor_kind));
  (void)json::SetString(o.get(), "action", r.action);
  (void)json::SetString(o.get(), "credential", r.credential);
  SetOptionalTime(o.get(), "version", r.version);
  (void)json::SetString(o.get(), "host", r.host);
  (void)json::SetString(o.get(), "path", r.path);
  (void)json::SetString(o.get(), "result", r.result);
  SetOptionalTime(o.get(), "status", r.status);
  (void)json::SetInt(o.get(), "latency_us", r.latency_us);
  (void)json::SetString(o.get(), "detail", r.detail);
  (void)json::SetString(o.get(), "hash", HexOf(r.hash));
  return o;
}

}  // namespace

OpResult Vault::OpAuditQuery(const identity::Principal& who, const cJSON* args, UniqueFd) {
  audit::Filter f;
  if (auto v = json::GetString(args, "agent")) {
    f.actor = std::string(*v);
    f.actor_kind = audit::ActorKind::kAgent;
  }
  if (auto v = json::GetString(args, "credential")) f.credential = std::string(*v);
  if (auto v = json::GetString(args, "action")) f.action = std::string(*v);
  if (auto v = json::GetInt(args, "since")) f.since = *v;
  if (auto v = json::GetInt(args, "before_seq")) f.before_seq = *v;
  f.limit = json::GetInt(args, "limit").value_or(audit::kDefaultQueryLimit);
  if (f.limit < 1 || f.limit > audit::kMaxQueryLimit)
    return Fail("invalid", "limit must be 1.." + std::to_string(audit::kMaxQueryLimit), kExitInvalid);
  // An agent reads its own trail only.
  if (who.acts_as_agent()) {
    f.actor = who.agent_name;
    f.actor_kind = audit::ActorKind::kAgent;
  }
  auto records = audit_.Query(f);
  if (!records.ok()) return Fail(records.status(), std::string("cannot read the audit log: ") + records.status().where());
  json::Json out = json::MakeArray();
  for (const audit::Record& r : *records) (void)json::Append(out.get(), RecordToJson(r));
  return Ok(std::move(out));
}

// Checks the whole chain and every checkpoint. The checkpoints' MACs need the enclave, so
// a locked vault verifies the chain only and says so.
OpResult Vault::OpAuditVerify(const identity::Principal&, const cJSON*, UniqueFd) {
  auto report = audit_.Verify(AuditMac());
  if (!report.ok()) return Fail(report.status(), std::string("cannot verify the audit log: ") + report.status().where());
  json::Json out = json::MakeObject();
  (void)json::SetBool(out.get(), "ok", report->ok());
  (void)json::SetString(out.get(), "problem", audit::ProblemName(report->problem));
  (void)json::SetString(out.get(), "message", report->Describe());
  (void)json::SetInt(out.get(), "seq", report->seq);
  (void)json::SetInt(out.get(), "other_seq", report->other_seq);
  (void)json::SetInt(out.get(), "records", report->records);
  (void)json::SetInt(out.get(), "checkpoints", report->checkpoints);
  (void)json::SetBool(out.get(), "macs_checked", report->macs_checked);
  (void)json::SetInt(out.get(), "head_seq", report->head_seq);
  (void)json::SetString(out.get(), "head_hash", HexOf(report->head_hash));
  (void)json::SetInt(out.get(), "anchored_seq", report->anchored_seq);
  OpResult r = Ok(std::move(out));
  r.audit.detail = report->ok() ? "ok" : report->Describe();
  return r;
}

}  // namespace keycell::broker::daemon

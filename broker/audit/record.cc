#include "broker/audit/record.h"

#include <mbedtls/md.h>

#include <cstring>

namespace keycell::broker::audit {
namespace {

struct KindName {
  ActorKind kind;
  const char* name;
};
// The names are part of the canonical encoding and of the schema's CHECK: never rename.
constexpr KindName kKindNames[] = {
    {ActorKind::kUid, "uid"},
    {ActorKind::kAgent, "agent"},
    {ActorKind::kApiKey, "apikey"},
    {ActorKind::kToken, "token"},
};

void PutI64(std::vector<uint8_t>* out, int64_t v) {
  const uint64_t u = static_cast<uint64_t>(v);
  for (int shift = 56; shift >= 0; shift -= 8) out->push_back(static_cast<uint8_t>(u >> shift));
}

void PutStr(std::vector<uint8_t>* out, std::string_view s) {
  uint8_t len[4];
  // Field caps (sanitize.h) keep every string far below 4 GiB; the cast cannot truncate.
  PutU32Be(len, static_cast<uint32_t>(s.size()));
  out->insert(out->end(), len, len + 4);
  out->insert(out->end(), s.begin(), s.end());
}

void PutOpt(std::vector<uint8_t>* out, const std::optional<int64_t>& v) {
  out->push_back(v ? 1 : 0);
  if (v) PutI64(out, *v);
}

void PutTag(std::vector<uint8_t>* out, const char* tag) {
  out->insert(out->end(), tag, tag + std::strlen(tag));
}

}  // namespace

const char* ActorKindName(ActorKind kind) {
  for (const KindName& k : kKindNames) {
    if (k.kind == kind) return k.name;
  }
  return "?";
}

std::optional<ActorKind> ParseActorKind(std::string_view name) {
  for (const KindName& k : kKindNames) {
    if (name == k.name) return k.kind;
  }
  return std::nullopt;
}

std::vector<uint8_t> CanonicalV1(const Record& r) {
  std::vector<uint8_t> out;
  out.reserve(128 + r.actor.size() + r.action.size() + r.credential.size() + r.host.size() +
              r.path.size() + r.result.size() + r.detail.size());
  PutTag(&out, kCanonicalTagV1);
  PutI64(&out, r.seq);
  PutI64(&out, r.ts);
  PutStr(&out, r.actor);
  PutStr(&out, ActorKindName(r.actor_kind));
  PutStr(&out, r.action);
  PutStr(&out, r.credential);
  PutOpt(&out, r.version);
  PutStr(&out, r.host);
  PutStr(&out, r.path);
  PutStr(&out, r.result);
  PutOpt(&out, r.status);
  PutI64(&out, r.latency_us);
  PutStr(&out, r.detail);
  return out;
}

Result<Hash> Sha256(ByteView data) {
  Hash h{};
  const int rc =
      mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), data.data(), data.size(), h.data());
  if (rc != 0) return Status(Err::kTls, "audit: sha256", rc);
  return h;
}

Result<Hash> ComputeHash(const Record& r) {
  std::vector<uint8_t> buf(r.prev_hash.begin(), r.prev_hash.end());
  const std::vector<uint8_t> canonical = CanonicalV1(r);
  buf.insert(buf.end(), canonical.begin(), canonical.end());
  return Sha256(buf);
}

std::vector<uint8_t> CheckpointMessage(int64_t seq, int64_t ts, const Hash& head_hash) {
  std::vector<uint8_t> out;
  out.reserve(8 + 16 + head_hash.size());
  PutTag(&out, kCheckpointTagV1);
  PutI64(&out, seq);
  PutI64(&out, ts);
  out.insert(out.end(), head_hash.begin(), head_hash.end());
  return out;
}

}  // namespace keycell::broker::audit

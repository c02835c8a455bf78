// Versions: rotation with optimistic concurrency, rollback, history, sealed blobs.

#include "broker/store/store.h"
#include "broker/store/store_internal.h"

namespace keycell::broker::store {

using internal::ReadHead;

namespace internal {
namespace {

constexpr const char kInsertVersion[] = R"sql(
INSERT INTO credential_versions (credential_id, version, created_at, sealed, fingerprint, policy)
VALUES (?1, ?2, ?3, ?4, ?5, ?6))sql";

constexpr const char kPushCurrent[] = R"sql(
UPDATE credentials SET current_version = ?2, rotated_at = ?3, policy = ?4 WHERE id = ?1)sql";

}  // namespace

Status InsertVersion(const Db& db, int64_t credential_id, const VersionWrite& v) {
  KC_ASSIGN_OR_RETURN(Statement json, Statement::Prepare(db, "SELECT ?1 = '' OR json_valid(?1)",
                                                         "store: check policy json"));
  json.Bind(1, v.policy_json);
  KC_ASSIGN_OR_RETURN(bool row, json.Step());
  if (!row || json.Int(0) == 0) return Status(Err::kInvalidArgument, "store: policy is not JSON");
  KC_ASSIGN_OR_RETURN(Statement st,
                      Statement::Prepare(db, kInsertVersion, "store: insert version"));
  st.Bind(1, credential_id);
  st.Bind(2, int64_t{v.version});
  st.Bind(3, v.now);
  st.BindBlob(4, v.sealed);
  st.Bind(5, v.fingerprint);
  st.Bind(6, v.policy_json);
  return st.Run();
}

Status PushVersion(const Db& db, const Head& head, uint32_t expected_current,
                   const VersionWrite& v) {
  // The blob was sealed for version v.version: if anyone added a version or moved
  // the current one since the caller read the head, storing it would either clash or
  // silently undo their change. The caller re-reads and re-seals instead.
  if (head.current != expected_current || v.version != head.latest + 1) {
    return Status(Err::kUnavailable, kConflict);
  }
  KC_RETURN_IF_ERROR(InsertVersion(db, head.id, v));
  KC_ASSIGN_OR_RETURN(Statement st,
                      Statement::Prepare(db, kPushCurrent, "store: set current version"));
  st.Bind(1, head.id);
  st.Bind(2, int64_t{v.version});
  st.Bind(3, v.now);
  st.Bind(4, v.policy_json);
  return st.Run();
}

}  // namespace internal

namespace {

Result<SealedVersion> ReadSealed(const Db& db, std::string_view name, const uint32_t* version) {
  KC_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db, R"sql(
      SELECT c.record_id, c.name, v.version, v.created_at, v.fingerprint, v.policy, v.sealed
        FROM credentials c JOIN credential_versions v ON v.credential_id = c.id
       WHERE c.name = ?1 AND v.version = coalesce(?2, c.current_version))sql",
                                                       "store: select sealed version"));
  st.Bind(1, name);
  if (version != nullptr) {
    st.Bind(2, int64_t{*version});
  } else {
    st.BindNull(2);
  }
  KC_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) {
    KC_RETURN_IF_ERROR(ReadHead(db, name).status());  // tells "no credential" apart
    return Status(Err::kUnknownKey, kNoSuchVersion);
  }
  SealedVersion s;
  s.record_id = st.Text(0);
  s.name = st.Text(1);
  s.version = static_cast<uint32_t>(st.Int(2));
  s.created_at = st.Int(3);
  s.fingerprint = st.Text(4);
  s.policy_json = st.Text(5);
  s.sealed = st.Blob(6);
  return s;
}

}  // namespace

Status Store::AddVersion(std::string_view name, uint32_t expected_current, const VersionWrite& v) {
  KC_RETURN_IF_ERROR(ValidateVersionWrite(v));
  std::lock_guard<std::mutex> lock(mu_);
  KC_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  KC_ASSIGN_OR_RETURN(internal::Head head, ReadHead(db_, name));
  KC_RETURN_IF_ERROR(internal::PushVersion(db_, head, expected_current, v));
  return tx.Commit();
}

Status Store::SetCurrentVersion(std::string_view name, uint32_t version,
                                uint32_t expected_current) {
  std::lock_guard<std::mutex> lock(mu_);
  KC_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  KC_ASSIGN_OR_RETURN(internal::Head head, ReadHead(db_, name));
  if (head.current != expected_current) return Status(Err::kUnavailable, kConflict);
  KC_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_, R"sql(
      UPDATE credentials
         SET current_version = ?2,
             policy = (SELECT policy FROM credential_versions
                        WHERE credential_id = ?1 AND version = ?2)
       WHERE id = ?1 AND EXISTS (SELECT 1 FROM credential_versions
                                  WHERE credential_id = ?1 AND version = ?2))sql",
                                                       "store: set current version"));
  st.Bind(1, head.id);
  st.Bind(2, int64_t{version});
  KC_RETURN_IF_ERROR(st.Run());
  if (db_.Changes() == 0) return Status(Err::kUnknownKey, kNoSuchVersion);
  return tx.Commit();
}

Result<std::vector<VersionInfo>> Store::History(std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  // One read transaction, so the head and the rows are the same snapshot.
  KC_ASSIGN_OR_RETURN(ReadTransaction snapshot, ReadTransaction::Begin(db_));
  KC_ASSIGN_OR_RETURN(internal::Head head, ReadHead(db_, name));
  KC_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_, R"sql(
      SELECT version, created_at, fingerprint, length(sealed) FROM credential_versions
       WHERE credential_id = ?1 ORDER BY version)sql",
                                                       "store: select history"));
  st.Bind(1, head.id);
  std::vector<VersionInfo> out;
  for (;;) {
    KC_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    VersionInfo info;
    info.version = static_cast<uint32_t>(st.Int(0));
    info.created_at = st.Int(1);
    info.fingerprint = st.Text(2);
    info.sealed_bytes = static_cast<size_t>(st.Int(3));
    info.current = info.version == head.current;
    out.push_back(std::move(info));
  }
  return out;
}

Result<SealedVersion> Store::GetVersion(std::string_view name, uint32_t version) {
  std::lock_guard<std::mutex> lock(mu_);
  return ReadSealed(db_, name, &version);
}

Result<SealedVersion> Store::GetCurrent(std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  return ReadSealed(db_, name, nullptr);
}

}  // namespace keycell::broker::store

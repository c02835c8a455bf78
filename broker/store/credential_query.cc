// The one read query behind GetCredential, ListCredentials and CredentialsForProject.
// Tags, projects and the latest version are correlated subqueries on indexed keys, so a
// listing of N credentials is one statement, not N + 1. It reads no version rows: they
// share pages with the sealed blobs (the current policy is copied onto credentials).

#include <algorithm>
#include <string>

#include "broker/store/store_internal.h"

namespace keycell::broker::store::internal {
namespace {

constexpr const char kSelectCredentials[] = R"sql(
SELECT c.id, c.record_id, c.name, c.provider, c.env, c.notes, c.created_at, c.rotated_at,
       c.expires_at, c.current_version,
       (SELECT max(v.version) FROM credential_versions v WHERE v.credential_id = c.id),
       c.policy,
       (SELECT group_concat(t.tag, char(31)) FROM credential_tags t
         WHERE t.credential_id = c.id),
       (SELECT group_concat(p.path, char(31)) FROM assignments a
          JOIN projects p ON p.id = a.project_id WHERE a.credential_id = c.id)
  FROM credentials c WHERE 1)sql";

// One row per filter field: the field and the condition it adds (bound in this order).
struct FilterClause {
  const std::optional<std::string> CredentialFilter::*field;
  const char* sql;
};
constexpr FilterClause kFilterClauses[] = {
    {&CredentialFilter::env, " AND c.env = ?"},
    {&CredentialFilter::provider, " AND c.provider = ?"},
    {&CredentialFilter::tag,
     " AND c.id IN (SELECT credential_id FROM credential_tags WHERE tag = ?)"},
    {&CredentialFilter::project,
     " AND c.id IN (SELECT a.credential_id FROM assignments a JOIN projects p"
     " ON p.id = a.project_id WHERE p.path = ?)"},
};

Credential RowToCredential(const Statement& st) {
  Credential c;
  c.id = st.Int(0);
  c.record_id = st.Text(1);
  c.name = st.Text(2);
  c.provider = st.Text(3);
  c.env = st.Text(4);
  c.notes = st.Text(5);
  c.created_at = st.Int(6);
  c.rotated_at = st.OptionalInt(7);
  c.expires_at = st.OptionalInt(8);
  c.current_version = static_cast<uint32_t>(st.Int(9));
  c.latest_version = static_cast<uint32_t>(st.Int(10));
  c.policy_json = st.Text(11);
  c.tags = SplitList(st.Text(12));
  c.projects = SplitList(st.Text(13));
  return c;
}

}  // namespace

std::vector<std::string> SplitList(std::string_view joined) {
  std::vector<std::string> out;
  while (!joined.empty()) {
    const size_t sep = joined.find('\x1f');
    out.emplace_back(joined.substr(0, sep));
    if (sep == std::string_view::npos) break;
    joined.remove_prefix(sep + 1);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::vector<Credential>> QueryCredentials(const Db& db, const CredentialFilter& filter,
                                                 const std::string* name) {
  std::string sql = kSelectCredentials;
  std::vector<const std::string*> binds;
  for (const FilterClause& clause : kFilterClauses) {
    const std::optional<std::string>& value = filter.*clause.field;
    if (!value) continue;
    sql += clause.sql;
    binds.push_back(&*value);
  }
  if (name != nullptr) {
    sql += " AND c.name = ?";
    binds.push_back(name);
  }
  sql += " ORDER BY c.name";
  KC_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db, sql, "store: select credentials"));
  for (size_t i = 0; i < binds.size(); ++i) st.Bind(static_cast<int>(i + 1), *binds[i]);
  std::vector<Credential> out;
  for (;;) {
    KC_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(RowToCredential(st));
  }
  return out;
}

Result<Credential> ReadCredential(const Db& db, std::string_view name) {
  const std::string key(name);
  KC_ASSIGN_OR_RETURN(std::vector<Credential> found, QueryCredentials(db, {}, &key));
  if (found.empty()) return Status(Err::kUnknownKey, kNoSuchCredential);
  return std::move(found.front());
}

Result<Head> ReadHead(const Db& db, std::string_view name) {
  KC_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db, R"sql(
      SELECT c.id, c.record_id, c.current_version,
             (SELECT max(v.version) FROM credential_versions v WHERE v.credential_id = c.id)
        FROM credentials c WHERE c.name = ?1)sql",
                                                       "store: read credential head"));
  st.Bind(1, name);
  KC_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Status(Err::kUnknownKey, kNoSuchCredential);
  Head h;
  h.id = st.Int(0);
  h.record_id = st.Text(1);
  h.current = static_cast<uint32_t>(st.Int(2));
  h.latest = static_cast<uint32_t>(st.Int(3));
  return h;
}

Result<bool> Exists(const Db& db, const char* sql, std::string_view arg, const char* where) {
  KC_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db, sql, where));
  st.Bind(1, arg);
  return st.Step();
}

}  // namespace keycell::broker::store::internal

// Projects (absolute directory paths) and credential <-> project assignments.

#include "broker/store/store.h"
#include "broker/store/store_internal.h"

namespace keycell::broker::store {
namespace {

Result<std::vector<Project>> QueryProjects(const Db& db, const std::string* path) {
  std::string sql = R"sql(
      SELECT p.id, p.path,
             (SELECT group_concat(c.name, char(31)) FROM assignments a
                JOIN credentials c ON c.id = a.credential_id WHERE a.project_id = p.id)
        FROM projects p)sql";
  if (path != nullptr) sql += " WHERE p.path = ?1";
  sql += " ORDER BY p.path";
  KC_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db, sql, "store: select projects"));
  if (path != nullptr) st.Bind(1, *path);
  std::vector<Project> out;
  for (;;) {
    KC_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    Project p;
    p.id = st.Int(0);
    p.path = st.Text(1);
    p.credentials = internal::SplitList(st.Text(2));
    out.push_back(std::move(p));
  }
  return out;
}

// The project's row id, inserting the row if it is new. `path` is normalised.
Result<int64_t> EnsureProject(const Db& db, const std::string& path) {
  KC_ASSIGN_OR_RETURN(Statement ins,
                      Statement::Prepare(db, "INSERT OR IGNORE INTO projects (path) VALUES (?1)",
                                         "store: insert project"));
  ins.Bind(1, path);
  KC_RETURN_IF_ERROR(ins.Run());
  KC_ASSIGN_OR_RETURN(Statement sel,
                      Statement::Prepare(db, "SELECT id FROM projects WHERE path = ?1",
                                         "store: select project id"));
  sel.Bind(1, path);
  KC_ASSIGN_OR_RETURN(bool row, sel.Step());
  if (!row) return Status(Err::kInternal, "store: project vanished");
  return sel.Int(0);
}

}  // namespace

Result<Project> Store::AddProject(std::string_view path) {
  KC_ASSIGN_OR_RETURN(std::string norm, NormalizeProjectPath(path));
  std::lock_guard<std::mutex> lock(mu_);
  KC_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  KC_RETURN_IF_ERROR(EnsureProject(db_, norm).status());
  KC_ASSIGN_OR_RETURN(std::vector<Project> found, QueryProjects(db_, &norm));
  if (found.empty()) return Status(Err::kInternal, "store: project vanished");
  KC_RETURN_IF_ERROR(tx.Commit());
  return std::move(found.front());
}

Status Store::RemoveProject(std::string_view path) {
  KC_ASSIGN_OR_RETURN(std::string norm, NormalizeProjectPath(path));
  std::lock_guard<std::mutex> lock(mu_);
  KC_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  KC_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_, "DELETE FROM projects WHERE path = ?1",
                                                       "store: delete project"));
  st.Bind(1, norm);
  KC_RETURN_IF_ERROR(st.Run());  // assignments go by ON DELETE CASCADE
  if (db_.Changes() == 0) return Status(Err::kUnknownKey, kNoSuchProject);
  return tx.Commit();
}

Result<std::vector<Project>> Store::ListProjects() {
  std::lock_guard<std::mutex> lock(mu_);
  return QueryProjects(db_, nullptr);
}

Status Store::Assign(std::string_view name, std::string_view path) {
  KC_ASSIGN_OR_RETURN(std::string norm, NormalizeProjectPath(path));
  std::lock_guard<std::mutex> lock(mu_);
  KC_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  KC_ASSIGN_OR_RETURN(internal::Head head, internal::ReadHead(db_, name));
  KC_ASSIGN_OR_RETURN(int64_t project_id, EnsureProject(db_, norm));
  KC_ASSIGN_OR_RETURN(
      Statement st,
      Statement::Prepare(
          db_, "INSERT OR IGNORE INTO assignments (credential_id, project_id) VALUES (?1, ?2)",
          "store: insert assignment"));
  st.Bind(1, head.id);
  st.Bind(2, project_id);
  KC_RETURN_IF_ERROR(st.Run());
  return tx.Commit();
}

Status Store::Unassign(std::string_view name, std::string_view path) {
  KC_ASSIGN_OR_RETURN(std::string norm, NormalizeProjectPath(path));
  std::lock_guard<std::mutex> lock(mu_);
  KC_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  KC_ASSIGN_OR_RETURN(internal::Head head, internal::ReadHead(db_, name));
  KC_ASSIGN_OR_RETURN(Statement st, Statement::Prepare(db_, R"sql(
      DELETE FROM assignments
       WHERE credential_id = ?1 AND project_id = (SELECT id FROM projects WHERE path = ?2))sql",
                                                       "store: delete assignment"));
  st.Bind(1, head.id);
  st.Bind(2, norm);
  KC_RETURN_IF_ERROR(st.Run());
  if (db_.Changes() == 0) return Status(Err::kUnknownKey, kNotAssigned);
  return tx.Commit();
}

Result<std::vector<Credential>> Store::CredentialsForProject(std::string_view path) {
  CredentialFilter filter;
  filter.project = std::string(path);
  return ListCredentials(filter);
}

}  // namespace keycell::broker::store

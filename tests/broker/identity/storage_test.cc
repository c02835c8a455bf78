// identity.db on disk: private file, WAL, migrations, only hashes of secrets stored, and
// the lookup being "row by prefix, then hash compare" (checked by editing the file).
#include <sqlite3.h>
#include <sys/stat.h>

#include "broker/identity/secrets.h"
#include "tests/broker/identity/identity_test_util.h"

namespace keycell::broker::identity::test {
namespace {

using IdentityStorage = IdentityTest;

// A second connection on the file, as another process (or an attacker with the file)
// would have.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    sqlite3_busy_timeout(db_, 5000);
  }
  ~RawDb() { sqlite3_close_v2(db_); }
  void Exec(const std::string& sql) {
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
        << (err ? err : "");
    sqlite3_free(err);
  }
  std::string Text(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr), SQLITE_OK);
    std::string out;
    if (sqlite3_step(st) == SQLITE_ROW) {
      const auto* p = static_cast<const char*>(sqlite3_column_blob(st, 0));
      out.assign(p ? p : "", static_cast<size_t>(sqlite3_column_bytes(st, 0)));
    }
    sqlite3_finalize(st);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

std::string DigestText(const std::string& s) {
  const Sha256Digest d = Sha256(AsBytes(s));
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

TEST_F(IdentityStorage, PrivateWalFileWithSchemaVersion) {
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((dir_ + "/data").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  RawDb raw(path_);
  EXPECT_EQ(raw.Text("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.Text("SELECT CAST(max(version) AS TEXT) FROM schema_version"), "1");
  EXPECT_EQ(store_->schema_version(), kIdentitySchemaVersion);
}

TEST_F(IdentityStorage, ReopenDoesNotMigrateTwice) {
  Reopen();
  Reopen();
  RawDb raw(path_);
  EXPECT_EQ(raw.Text("SELECT CAST(count(*) AS TEXT) FROM schema_version"), "1");
}

TEST_F(IdentityStorage, NewerFileIsRefused) {
  store_.reset();
  {
    RawDb raw(path_);
    raw.Exec("INSERT INTO schema_version (version, applied_at) VALUES (99, 0)");
  }
  auto opened = IdentityStore::Open(path_, clock_);
  EXPECT_TRUE(HasWhere(opened.status(), Err::kInvalidArgument, kIdentitySchemaTooNew));
}

TEST_F(IdentityStorage, OnlyHashesOfSecretsAreStored) {
  std::vector<std::string> secrets;
  for (int i = 0; i < 5; ++i) {
    secrets.push_back(NewAgentToken("bot" + std::to_string(i), "cred" + std::to_string(i)));
    ApiKeySpec spec;
    spec.name = "key" + std::to_string(i);
    KC_ASSERT_OK_AND_ASSIGN(IssuedKey k, store_->CreateApiKey(spec));
    secrets.push_back(Text(k.key));
  }
  {
    RawDb raw(path_);
    EXPECT_EQ(
        raw.Text("SELECT hash FROM proxy_tokens WHERE prefix = '" + secrets[0].substr(0, 12) + "'"),
        DigestText(secrets[0]));
    EXPECT_EQ(
        raw.Text("SELECT hash FROM api_keys WHERE prefix = '" + secrets[1].substr(0, 12) + "'"),
        DigestText(secrets[1]));
  }
  // Every byte SQLite wrote, before and after a checkpoint: no secret, and not even the
  // secret part after the listed prefix.
  auto check_files = [&] {
    std::string bytes;
    for (const char* suffix : {"", "-wal", "-shm"}) bytes += ReadFileBytes(path_ + suffix);
    ASSERT_GT(bytes.size(), 0u);
    for (const std::string& s : secrets) {
      EXPECT_EQ(bytes.find(s), std::string::npos);
      EXPECT_EQ(bytes.find(s.substr(12)), std::string::npos);
      EXPECT_EQ(bytes.find(s.substr(12, 16)), std::string::npos);
      EXPECT_NE(bytes.find(DigestText(s)), std::string::npos);  // the hash is what is there
    }
  };
  check_files();
  store_.reset();  // the last connection closing checkpoints the WAL into the main file
  check_files();
}

TEST_F(IdentityStorage, TheStoredHashDecides) {
  const std::string token = NewAgentToken("bot", "resend");
  KC_ASSERT_OK(store_->AuthenticateBearer(token));
  {
    RawDb raw(path_);
    raw.Exec("UPDATE proxy_tokens SET hash = zeroblob(32)");
  }
  // Same prefix, so the row is found: only the hash compare can refuse it.
  EXPECT_EQ(RefusalOf(store_->AuthenticateBearer(token).status()), AuthRefusal::kUnknown);
}

TEST_F(IdentityStorage, TheRowIsFoundByPrefixOnly) {
  const std::string token = NewAgentToken("bot", "resend");
  {
    RawDb raw(path_);
    // The correct hash stays in the table, under another prefix: a lookup by hash would
    // still find it, a lookup by prefix does not.
    raw.Exec("UPDATE proxy_tokens SET prefix = 'pxr_zzzzzzzz'");
  }
  EXPECT_EQ(RefusalOf(store_->AuthenticateBearer(token).status()), AuthRefusal::kUnknown);
  {
    RawDb raw(path_);
    raw.Exec("UPDATE proxy_tokens SET prefix = '" + token.substr(0, 12) + "'");
  }
  KC_EXPECT_OK(store_->AuthenticateBearer(token));
}

TEST_F(IdentityStorage, ChecksHoldForHandEditedRows) {
  KC_ASSERT_OK(store_->CreateAgent("bot", {"**"}));
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  for (const char* bad : {
           "INSERT INTO api_keys (id, name, role, prefix, hash, created_at) VALUES "
           "('0123456789abcdef', 'k', 'root', 'kc_AAAAAAAAA', zeroblob(32), 0)",
           "INSERT INTO api_keys (id, name, role, prefix, hash, created_at) VALUES "
           "('0123456789abcdef', 'k', 'member', 'kc_AAAAAAAAA', zeroblob(31), 0)",
           "INSERT INTO agents (id, name, created_at) VALUES ('agt_short', 'x', 0)",
       }) {
    EXPECT_NE(sqlite3_exec(db, bad, nullptr, nullptr, nullptr), SQLITE_OK) << bad;
  }
  sqlite3_close_v2(db);
}

}  // namespace
}  // namespace keycell::broker::identity::test

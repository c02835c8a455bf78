// ExportSealed / ImportSealed.

#include <sqlite3.h>
#include <sys/stat.h>

#include "tests/broker/store/store_test_util.h"

namespace keycell::broker::store::test {
namespace {

using V = std::vector<std::string>;

class StoreBackupTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    src_ = OpenStore();
    ASSERT_NE(src_, nullptr);
    CredentialMeta k = Meta("K", "openai", "prod", {"ml", "x"});
    k.notes = "notes";
    k.expires_at = 777;
    rid_k_ = Add(*src_, k, 1000);
    FakeSealed v2(rid_k_, 2, "K", 2000);
    KC_ASSERT_OK(src_->AddVersion("K", 1, v2.Write()));
    KC_ASSERT_OK(src_->SetCurrentVersion("K", 1, 2));
    Add(*src_, Meta("L"));
    KC_ASSERT_OK(src_->Assign("K", "/p/one"));
    KC_ASSERT_OK(src_->AddProject("/p/unused").status());
    backup_ = dir_ + "/backup.kcs";
    other_path_ = dir_ + "/other/store.db";
  }

  std::unique_ptr<Store> OpenOther() {
    std::swap(db_path_, other_path_);
    auto s = OpenStore();
    std::swap(db_path_, other_path_);
    return s;
  }

  // Everything a user can see, without local row ids.
  static std::string Dump(Store& s) {
    std::string out;
    auto all = s.ListCredentials({});
    EXPECT_TRUE(all.ok());
    for (const Credential& c : *all) {
      out += c.record_id + "|" + c.name + "|" + c.provider + "|" + c.env + "|" + c.notes + "|" +
             std::to_string(c.created_at) + "|" + std::to_string(c.rotated_at.value_or(-1)) + "|" +
             std::to_string(c.expires_at.value_or(-1)) + "|" + std::to_string(c.current_version) +
             "|" + c.policy_json + "|";
      for (const std::string& t : c.tags) out += t + ",";
      for (const std::string& p : c.projects) out += p + ",";
      for (uint32_t v = 1; v <= c.latest_version; ++v) {
        auto sv = s.GetVersion(c.name, v);
        EXPECT_TRUE(sv.ok());
        out += "|" + BlobText(sv->sealed) + "@" + std::to_string(sv->created_at) + sv->fingerprint;
      }
      out += "\n";
    }
    return out;
  }

  std::unique_ptr<Store> src_;
  std::string rid_k_;
  std::string backup_;
  std::string other_path_;
};

TEST_F(StoreBackupTest, ExportWritesOnePrivateStandaloneFile) {
  const mode_t old = umask(0);
  const Status st = src_->ExportSealed(backup_);
  umask(old);
  KC_ASSERT_OK(st);
  struct stat sb {};
  ASSERT_EQ(stat(backup_.c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0600u);
  EXPECT_FALSE(std::filesystem::exists(backup_ + "-wal"));
  EXPECT_FALSE(std::filesystem::exists(backup_ + "-journal"));
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    EXPECT_EQ(e.path().string().find(".tmp-"), std::string::npos) << e.path();
  }
  // Opens as a plain SQLite file in rollback-journal mode.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(backup_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(q), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(q, 0)), "delete");
  sqlite3_finalize(q);
  sqlite3_close(db);
}

TEST_F(StoreBackupTest, ExportRefusesToOverwriteTheStoreItself) {
  const Status st = src_->ExportSealed(db_path_);
  EXPECT_EQ(st.code(), Err::kInvalidArgument) << ::keycell::test::Describe(st);
  KC_EXPECT_OK(src_->IntegrityCheck());
  KC_EXPECT_OK(src_->GetCredential("K").status());
}

TEST_F(StoreBackupTest, RoundTripIntoAnEmptyStoreAndAgain) {
  KC_ASSERT_OK(src_->ExportSealed(backup_));
  auto dst = OpenOther();
  ASSERT_NE(dst, nullptr);
  KC_ASSERT_OK_AND_ASSIGN(ImportReport r, dst->ImportSealed(backup_));
  EXPECT_EQ(r.credentials_added, 2u);
  EXPECT_EQ(r.versions_added, 3u);
  EXPECT_EQ(r.unchanged, 0u);
  EXPECT_EQ(Dump(*dst), Dump(*src_));
  KC_ASSERT_OK_AND_ASSIGN(std::vector<Project> projects, dst->ListProjects());
  ASSERT_EQ(projects.size(), 2u);
  EXPECT_EQ(projects[1].path, "/p/unused");
  // Importing the same file again changes nothing.
  KC_ASSERT_OK_AND_ASSIGN(ImportReport again, dst->ImportSealed(backup_));
  EXPECT_EQ(again.credentials_added, 0u);
  EXPECT_EQ(again.versions_added, 0u);
  EXPECT_EQ(again.unchanged, 2u);
  EXPECT_EQ(Dump(*dst), Dump(*src_));
  KC_EXPECT_OK(dst->IntegrityCheck());
}

TEST_F(StoreBackupTest, ImportAddsMissingVersionsButKeepsLocalState) {
  KC_ASSERT_OK(src_->ExportSealed(backup_));
  auto dst = OpenOther();
  ASSERT_NE(dst, nullptr);
  KC_ASSERT_OK(dst->ImportSealed(backup_).status());
  // The source moves on: version 3 and new metadata.
  FakeSealed v3(rid_k_, 3, "K", 3000);
  KC_ASSERT_OK(src_->AddVersion("K", 1, v3.Write()));
  KC_ASSERT_OK(src_->UpdateMetadata("K", {.provider = "changed"}));
  KC_ASSERT_OK(src_->ExportSealed(backup_));
  KC_ASSERT_OK_AND_ASSIGN(ImportReport r, dst->ImportSealed(backup_));
  EXPECT_EQ(r.credentials_added, 0u);
  EXPECT_EQ(r.credentials_updated, 1u);
  EXPECT_EQ(r.versions_added, 1u);
  EXPECT_EQ(r.unchanged, 1u);
  KC_ASSERT_OK_AND_ASSIGN(Credential k, dst->GetCredential("K"));
  EXPECT_EQ(k.latest_version, 3u);
  EXPECT_EQ(k.current_version, 1u);  // local current stays
  EXPECT_EQ(k.provider, "openai");   // local metadata stays
  KC_ASSERT_OK_AND_ASSIGN(SealedVersion got, dst->GetVersion("K", 3));
  EXPECT_EQ(BlobText(got.sealed), v3.blob);
}

TEST_F(StoreBackupTest, ConflictsStopTheWholeImport) {
  KC_ASSERT_OK(src_->ExportSealed(backup_));
  auto dst = OpenOther();
  ASSERT_NE(dst, nullptr);
  Add(*dst, Meta("K"));  // same name, different record id
  Add(*dst, Meta("M"));
  const std::string before = Dump(*dst);
  std::vector<std::string> conflicts;
  const Status st = dst->ImportSealed(backup_, &conflicts).status();
  EXPECT_TRUE(HasWhere(st, Err::kInvalidArgument, kImportConflict))
      << ::keycell::test::Describe(st);
  EXPECT_EQ(conflicts, (V{"K"}));
  EXPECT_EQ(Dump(*dst), before);  // "L" was not imported either: all or nothing
}

TEST_F(StoreBackupTest, SameVersionWithADifferentBlobIsAConflict) {
  KC_ASSERT_OK(src_->ExportSealed(backup_));
  auto dst = OpenOther();
  ASSERT_NE(dst, nullptr);
  KC_ASSERT_OK(dst->ImportSealed(backup_).status());
  FakeSealed forked(rid_k_, 3, "K");
  forked.blob += "-fork";
  KC_ASSERT_OK(dst->AddVersion("K", 1, forked.Write()));
  FakeSealed v3(rid_k_, 3, "K");
  KC_ASSERT_OK(src_->AddVersion("K", 1, v3.Write()));
  KC_ASSERT_OK(src_->ExportSealed(backup_));
  std::vector<std::string> conflicts;
  EXPECT_TRUE(HasWhere(dst->ImportSealed(backup_, &conflicts).status(), Err::kInvalidArgument,
                       kImportConflict));
  EXPECT_EQ(conflicts, (V{"K"}));
}

TEST_F(StoreBackupTest, RejectsFilesThatAreNotUsableBackups) {
  auto dst = OpenOther();
  ASSERT_NE(dst, nullptr);
  EXPECT_EQ(dst->ImportSealed(dir_ + "/missing").status().code(), Err::kUpstreamIo);
  // A SQLite file that is not a keycell store.
  const std::string foreign = dir_ + "/foreign.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(foreign.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE t (x)", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  EXPECT_EQ(dst->ImportSealed(foreign).status().code(), Err::kInvalidArgument);
  // Not SQLite at all.
  const std::string junk = dir_ + "/junk";
  FILE* f = fopen(junk.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs(
      "definitely not a database, but long enough to have a header........................"
      "................................................................................",
      f);
  fclose(f);
  const Status junk_st = dst->ImportSealed(junk).status();
  EXPECT_TRUE(HasWhere(junk_st, Err::kInvalidArgument, "store: backup is not a keycell store"))
      << ::keycell::test::Describe(junk_st);
  // A backup from a newer keycell.
  KC_ASSERT_OK(src_->ExportSealed(backup_));
  ASSERT_EQ(sqlite3_open(backup_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db, "INSERT INTO schema_version VALUES (42, 0)", nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  EXPECT_TRUE(HasWhere(dst->ImportSealed(backup_).status(), Err::kInvalidArgument, kSchemaTooNew));
  KC_ASSERT_OK_AND_ASSIGN(std::vector<Credential> all, dst->ListCredentials({}));
  EXPECT_TRUE(all.empty());
  // The store still works after the failed imports (src was detached).
  Add(*dst, Meta("after"));
  KC_EXPECT_OK(dst->IntegrityCheck());
}

TEST_F(StoreBackupTest, ImportHoldsRowsToTheSameLimits) {
  KC_ASSERT_OK(src_->ExportSealed(backup_));
  // Tamper with the backup so a row breaks a limit the API enforces. The CHECK
  // constraints of the *destination* table must catch it.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(backup_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "PRAGMA ignore_check_constraints = ON; "
                         "UPDATE credentials SET name = 'bad' || char(31) WHERE name = 'L'",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto dst = OpenOther();
  ASSERT_NE(dst, nullptr);
  const Status st = dst->ImportSealed(backup_).status();
  EXPECT_EQ(st.code(), Err::kInvalidArgument) << ::keycell::test::Describe(st);
  EXPECT_EQ(st.detail(), SQLITE_CONSTRAINT_CHECK) << ::keycell::test::Describe(st);
  KC_ASSERT_OK_AND_ASSIGN(std::vector<Credential> all, dst->ListCredentials({}));
  EXPECT_TRUE(all.empty());
}

TEST_F(StoreBackupTest, ImportRefusesPolicyThatIsNotJson) {
  KC_ASSERT_OK(src_->ExportSealed(backup_));
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(backup_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE credential_versions SET policy = '{oops'", nullptr, nullptr,
                         nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto dst = OpenOther();
  ASSERT_NE(dst, nullptr);
  EXPECT_TRUE(HasWhere(dst->ImportSealed(backup_).status(), Err::kInvalidArgument,
                       "store: backup policy is not JSON"));
}

}  // namespace
}  // namespace keycell::broker::store::test

// Store: opening, migrations, file modes, and credential add/get/list/update/delete.

#include <sqlite3.h>
#include <sys/stat.h>

#include <set>

#include "broker/store/schema.h"
#include "tests/broker/store/store_test_util.h"

namespace keycell::broker::store::test {
namespace {

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// Runs SQL on the file through a separate raw connection.
void RawExec(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

int64_t RawCount(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  int64_t n = -1;
  if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

TEST_F(StoreTest, OpenMigratesAnEmptyFileAndIsIdempotent) {
  {
    auto s = OpenStore();
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->SchemaVersion(), kLatestSchemaVersion);
  }
  auto s = OpenStore();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->SchemaVersion(), kLatestSchemaVersion);
  s.reset();
  EXPECT_EQ(RawCount(db_path_, "SELECT count(*) FROM schema_version"), kLatestSchemaVersion);
  EXPECT_EQ(RawCount(db_path_,
                     "SELECT count(*) FROM sqlite_schema WHERE name IN ("
                     "'credentials','credential_versions','credential_tags',"
                     "'projects','assignments')"),
            5);
}

TEST_F(StoreTest, OpenSetsWalForeignKeysAndFullSync) {
  auto s = OpenStore();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(RawCount(db_path_,
                     "SELECT count(*) FROM pragma_journal_mode WHERE "
                     "journal_mode = 'wal'"),
            1);
  KC_EXPECT_OK(s->IntegrityCheck());
}

TEST_F(StoreTest, OpenRefusesANewerSchemaWithoutTouchingIt) {
  OpenStore().reset();
  RawExec(db_path_, "INSERT INTO schema_version (version, applied_at) VALUES (99, 0)");
  auto r = Store::Open(db_path_);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(HasWhere(r.status(), Err::kInvalidArgument, kSchemaTooNew))
      << ::keycell::test::Describe(r.status());
  EXPECT_EQ(r.status().detail(), 99);
  EXPECT_EQ(RawCount(db_path_, "SELECT max(version) FROM schema_version"), 99);
}

TEST_F(StoreTest, CreatesPrivateDirsAndFilesWhateverTheUmask) {
  for (mode_t mask : {mode_t{0}, mode_t{0277}}) {
    SCOPED_TRACE(mask);
    const mode_t old = umask(mask);
    db_path_ = dir_ + "/m" + std::to_string(mask) + "/a/b/store.db";
    auto s = OpenStore();
    umask(old);
    ASSERT_NE(s, nullptr);
    Add(*s, Meta("K"));
    EXPECT_EQ(ModeOf(dir_ + "/m" + std::to_string(mask)), 0700u);
    EXPECT_EQ(ModeOf(dir_ + "/m" + std::to_string(mask) + "/a/b"), 0700u);
    EXPECT_EQ(ModeOf(db_path_), 0600u);
    EXPECT_EQ(ModeOf(db_path_ + "-wal"), 0600u);
    EXPECT_EQ(ModeOf(db_path_ + "-shm"), 0600u);
  }
}

TEST_F(StoreTest, NarrowsAnExistingWorldReadableFile) {
  OpenStore().reset();
  ASSERT_EQ(chmod(db_path_.c_str(), 0644), 0);
  auto s = OpenStore();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(ModeOf(db_path_), 0600u);
}

TEST_F(StoreTest, OpenRefusesASymlink) {
  std::filesystem::create_directories(dir_ + "/data/keycell");
  std::filesystem::create_symlink(dir_ + "/elsewhere.db", db_path_);
  auto r = Store::Open(db_path_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Err::kUpstreamIo);
}

TEST(StoreNewRecordIdTest, Is32LowerHexAndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto id = NewRecordId();
    ASSERT_TRUE(id.ok());
    KC_EXPECT_OK(ValidateRecordId(*id));
    EXPECT_TRUE(seen.insert(*id).second);
  }
}

TEST_F(StoreTest, AddThenGetRoundTripsEveryField) {
  auto s = OpenStore();
  ASSERT_NE(s, nullptr);
  CredentialMeta meta = Meta("OPENAI_API_KEY", "openai", "prod", {"team:ml", "ci", "ci"});
  meta.notes = "billing account 7";
  meta.expires_at = 5000;
  KC_ASSERT_OK_AND_ASSIGN(std::string rid, NewRecordId());
  FakeSealed v1(rid, 1, meta.name, 1234);
  KC_ASSERT_OK_AND_ASSIGN(Credential added, s->AddCredential(meta, rid, v1.Write()));
  KC_ASSERT_OK_AND_ASSIGN(Credential c, s->GetCredential("OPENAI_API_KEY"));
  EXPECT_EQ(c.id, added.id);
  EXPECT_EQ(c.record_id, rid);
  EXPECT_EQ(c.name, "OPENAI_API_KEY");
  EXPECT_EQ(c.provider, "openai");
  EXPECT_EQ(c.env, "prod");
  EXPECT_EQ(c.notes, "billing account 7");
  EXPECT_EQ(c.tags, (std::vector<std::string>{"ci", "team:ml"}));
  EXPECT_EQ(c.created_at, 1234);
  EXPECT_FALSE(c.rotated_at.has_value());
  EXPECT_EQ(c.expires_at, 5000);
  EXPECT_EQ(c.current_version, 1u);
  EXPECT_EQ(c.latest_version, 1u);
  EXPECT_EQ(c.policy_json, v1.policy);
  EXPECT_TRUE(c.projects.empty());
  KC_ASSERT_OK_AND_ASSIGN(SealedVersion cur, s->GetCurrent("OPENAI_API_KEY"));
  EXPECT_EQ(cur.record_id, rid);
  EXPECT_EQ(cur.version, 1u);
  EXPECT_EQ(BlobText(cur.sealed), v1.blob);
  EXPECT_EQ(cur.fingerprint, "fp1");
}

TEST_F(StoreTest, UnknownNameIsUnknownKey) {
  auto s = OpenStore();
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(HasWhere(s->GetCredential("nope").status(), Err::kUnknownKey, kNoSuchCredential));
  EXPECT_TRUE(HasWhere(s->DeleteCredential("nope"), Err::kUnknownKey, kNoSuchCredential));
  EXPECT_TRUE(HasWhere(s->GetCurrent("nope").status(), Err::kUnknownKey, kNoSuchCredential));
  EXPECT_TRUE(HasWhere(s->History("nope").status(), Err::kUnknownKey, kNoSuchCredential));
}

TEST_F(StoreTest, DuplicateNameHasItsOwnErrorAndChangesNothing) {
  auto s = OpenStore();
  ASSERT_NE(s, nullptr);
  const std::string first = Add(*s, Meta("K", "openai"));
  KC_ASSERT_OK_AND_ASSIGN(std::string rid, NewRecordId());
  FakeSealed v1(rid, 1, "K");
  const Status dup = s->AddCredential(Meta("K", "stripe"), rid, v1.Write()).status();
  EXPECT_TRUE(IsNameExists(dup)) << ::keycell::test::Describe(dup);
  EXPECT_FALSE(IsConflict(dup));
  // The same record id under another name is a different error.
  FakeSealed other(first, 1, "L");
  const Status rid_dup = s->AddCredential(Meta("L"), first, other.Write()).status();
  EXPECT_EQ(rid_dup.code(), Err::kInvalidArgument);
  EXPECT_FALSE(IsNameExists(rid_dup));
  KC_ASSERT_OK_AND_ASSIGN(Credential c, s->GetCredential("K"));
  EXPECT_EQ(c.record_id, first);
  EXPECT_EQ(c.provider, "openai");
  KC_ASSERT_OK_AND_ASSIGN(std::vector<Credential> all, s->ListCredentials({}));
  EXPECT_EQ(all.size(), 1u);
}

TEST_F(StoreTest, RejectsBadInputBeforeWriting) {
  auto s = OpenStore();
  ASSERT_NE(s, nullptr);
  KC_ASSERT_OK_AND_ASSIGN(std::string rid, NewRecordId());
  FakeSealed v1(rid, 1, "K");
  auto add = [&](const CredentialMeta& m, std::string_view id, const VersionWrite& w) {
    return s->AddCredential(m, id, w).status().code();
  };
  EXPECT_EQ(add(Meta(""), rid, v1.Write()), Err::kInvalidArgument);
  EXPECT_EQ(add(Meta("a\nb"), rid, v1.Write()), Err::kInvalidArgument);
  EXPECT_EQ(add(Meta(std::string(kMaxNameBytes + 1, 'x')), rid, v1.Write()), Err::kTooLarge);
  EXPECT_EQ(add(Meta("K", "", "", {"has space"}), rid, v1.Write()), Err::kInvalidArgument);
  EXPECT_EQ(add(Meta("K"), "not-hex", v1.Write()), Err::kInvalidArgument);
  VersionWrite w = v1.Write();
  w.version = 2;
  EXPECT_EQ(add(Meta("K"), rid, w), Err::kInvalidArgument);
  w = v1.Write();
  w.sealed = ByteView();
  EXPECT_EQ(add(Meta("K"), rid, w), Err::kInvalidArgument);
  const std::vector<uint8_t> huge(kMaxSealedBytes + 1, 1);
  w = v1.Write();
  w.sealed = huge;
  EXPECT_EQ(add(Meta("K"), rid, w), Err::kTooLarge);
  w = v1.Write();
  w.policy_json = "{not json";
  EXPECT_EQ(add(Meta("K"), rid, w), Err::kInvalidArgument);  // the table's json_valid CHECK
  KC_ASSERT_OK_AND_ASSIGN(std::vector<Credential> all, s->ListCredentials({}));
  EXPECT_TRUE(all.empty());
}

class StoreListTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    s_ = OpenStore();
    ASSERT_NE(s_, nullptr);
    Add(*s_, Meta("c-stripe", "stripe", "prod", {"billing"}));
    Add(*s_, Meta("a-openai", "openai", "dev", {"ml", "billing"}));
    Add(*s_, Meta("b-openai", "openai", "prod", {"ml"}));
    Add(*s_, Meta("d-plain"));
    KC_ASSERT_OK(s_->Assign("a-openai", "/home/u/proj"));
    KC_ASSERT_OK(s_->Assign("c-stripe", "/home/u/proj"));
    KC_ASSERT_OK(s_->Assign("c-stripe", "/home/u/other"));
  }
  std::vector<std::string> Names(const CredentialFilter& f) {
    auto r = s_->ListCredentials(f);
    EXPECT_TRUE(r.ok()) << ::keycell::test::Describe(r.status());
    std::vector<std::string> out;
    if (r.ok()) {
      for (const Credential& c : *r) out.push_back(c.name);
    }
    return out;
  }
  std::unique_ptr<Store> s_;
};

using V = std::vector<std::string>;

TEST_F(StoreListTest, NoFilterListsAllByName) {
  EXPECT_EQ(Names({}), (V{"a-openai", "b-openai", "c-stripe", "d-plain"}));
}

TEST_F(StoreListTest, EachFilter) {
  EXPECT_EQ(Names({.env = "prod"}), (V{"b-openai", "c-stripe"}));
  EXPECT_EQ(Names({.provider = "openai"}), (V{"a-openai", "b-openai"}));
  EXPECT_EQ(Names({.project = "/home/u/proj"}), (V{"a-openai", "c-stripe"}));
  EXPECT_EQ(Names({.project = "/home/u/./proj/"}), (V{"a-openai", "c-stripe"}));
  EXPECT_EQ(Names({.tag = "billing"}), (V{"a-openai", "c-stripe"}));
  EXPECT_EQ(Names({.tag = "nope"}), V{});
  EXPECT_EQ(Names({.project = "/nowhere"}), V{});
}

TEST_F(StoreListTest, FiltersCombineWithAnd) {
  EXPECT_EQ(Names({.env = "prod", .provider = "openai"}), (V{"b-openai"}));
  EXPECT_EQ(Names({.project = "/home/u/proj", .tag = "ml"}), (V{"a-openai"}));
  EXPECT_EQ(Names({.env = "dev", .project = "/home/u/other"}), V{});
}

TEST_F(StoreListTest, RowsCarryTagsAndProjects) {
  KC_ASSERT_OK_AND_ASSIGN(std::vector<Credential> all, s_->ListCredentials({}));
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].tags, (V{"billing", "ml"}));
  EXPECT_EQ(all[2].projects, (V{"/home/u/other", "/home/u/proj"}));
  EXPECT_TRUE(all[3].tags.empty());
}

TEST_F(StoreListTest, RelativeProjectFilterIsRejected) {
  EXPECT_EQ(s_->ListCredentials({.project = "proj"}).status().code(), Err::kInvalidArgument);
}

TEST_F(StoreTest, UpdateMetadataChangesOnlyWhatIsSet) {
  auto s = OpenStore();
  ASSERT_NE(s, nullptr);
  CredentialMeta meta = Meta("K", "openai", "dev", {"a"});
  meta.notes = "n";
  meta.expires_at = 99;
  Add(*s, meta);
  MetadataUpdate u;
  u.env = "prod";
  u.tags = std::vector<std::string>{"b", "c"};
  KC_ASSERT_OK(s->UpdateMetadata("K", u));
  KC_ASSERT_OK_AND_ASSIGN(Credential c, s->GetCredential("K"));
  EXPECT_EQ(c.provider, "openai");
  EXPECT_EQ(c.env, "prod");
  EXPECT_EQ(c.notes, "n");
  EXPECT_EQ(c.tags, (V{"b", "c"}));
  EXPECT_EQ(c.expires_at, 99);
  MetadataUpdate clear;
  clear.clear_expires_at = true;
  KC_ASSERT_OK(s->UpdateMetadata("K", clear));
  KC_ASSERT_OK_AND_ASSIGN(c, s->GetCredential("K"));
  EXPECT_FALSE(c.expires_at.has_value());
  EXPECT_EQ(c.tags, (V{"b", "c"}));
  MetadataUpdate bad;
  bad.tags = std::vector<std::string>{"no spaces"};
  EXPECT_EQ(s->UpdateMetadata("K", bad).code(), Err::kInvalidArgument);
  EXPECT_TRUE(HasWhere(s->UpdateMetadata("nope", u), Err::kUnknownKey, kNoSuchCredential));
}

TEST_F(StoreTest, DeleteCascadesToVersionsTagsAndAssignments) {
  auto s = OpenStore();
  ASSERT_NE(s, nullptr);
  const std::string rid = Add(*s, Meta("K", "", "", {"t1", "t2"}));
  Add(*s, Meta("L", "", "", {"t1"}));
  FakeSealed v2(rid, 2, "K");
  KC_ASSERT_OK(s->AddVersion("K", 1, v2.Write()));
  KC_ASSERT_OK(s->Assign("K", "/p"));
  KC_ASSERT_OK(s->Assign("L", "/p"));
  KC_ASSERT_OK(s->DeleteCredential("K"));
  EXPECT_TRUE(HasWhere(s->GetCredential("K").status(), Err::kUnknownKey, kNoSuchCredential));
  EXPECT_TRUE(HasWhere(s->DeleteCredential("K"), Err::kUnknownKey, kNoSuchCredential));
  s.reset();
  EXPECT_EQ(RawCount(db_path_, "SELECT count(*) FROM credential_versions"), 1);
  EXPECT_EQ(RawCount(db_path_, "SELECT count(*) FROM credential_tags"), 1);
  EXPECT_EQ(RawCount(db_path_, "SELECT count(*) FROM assignments"), 1);
  EXPECT_EQ(RawCount(db_path_, "SELECT count(*) FROM projects"), 1);  // projects stay
}

TEST(StoreNormalizeProjectPathTest, Cases) {
  EXPECT_EQ(*NormalizeProjectPath("/a/b/../c/"), "/a/c");
  EXPECT_EQ(*NormalizeProjectPath("/a//b/./"), "/a/b");
  EXPECT_EQ(*NormalizeProjectPath("/"), "/");
  EXPECT_EQ(*NormalizeProjectPath("/.."), "/");
  EXPECT_EQ(NormalizeProjectPath("a/b").status().code(), Err::kInvalidArgument);
  EXPECT_EQ(NormalizeProjectPath("").status().code(), Err::kInvalidArgument);
  EXPECT_EQ(NormalizeProjectPath("/a\x1f").status().code(), Err::kInvalidArgument);
  EXPECT_EQ(NormalizeProjectPath("/" + std::string(kMaxProjectPathBytes, 'a')).status().code(),
            Err::kTooLarge);
}

}  // namespace
}  // namespace keycell::broker::store::test

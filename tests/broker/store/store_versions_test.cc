// Versions: overwrite, rotation with optimistic concurrency (single and multi-threaded),
// rollback, history.

#include <atomic>
#include <functional>
#include <thread>

#include "tests/broker/store/store_test_util.h"

namespace keycell::broker::store::test {
namespace {

class StoreVersionsTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    s_ = OpenStore();
    ASSERT_NE(s_, nullptr);
    rid_ = Add(*s_, Meta("K", "openai", "dev", {"a"}), 1000);
  }
  std::unique_ptr<Store> s_;
  std::string rid_;
};

TEST_F(StoreVersionsTest, AddVersionMakesItCurrentAndSetsRotatedAt) {
  FakeSealed v2(rid_, 2, "K", 2000);
  KC_ASSERT_OK(s_->AddVersion("K", 1, v2.Write()));
  KC_ASSERT_OK_AND_ASSIGN(Credential c, s_->GetCredential("K"));
  EXPECT_EQ(c.current_version, 2u);
  EXPECT_EQ(c.latest_version, 2u);
  EXPECT_EQ(c.rotated_at, 2000);
  EXPECT_EQ(c.created_at, 1000);
  KC_ASSERT_OK_AND_ASSIGN(SealedVersion cur, s_->GetCurrent("K"));
  EXPECT_EQ(BlobText(cur.sealed), v2.blob);
  KC_ASSERT_OK_AND_ASSIGN(SealedVersion old, s_->GetVersion("K", 1));
  EXPECT_EQ(old.version, 1u);
  EXPECT_EQ(BlobText(old.sealed), FakeSealed(rid_, 1, "K").blob);
}

TEST_F(StoreVersionsTest, StaleReadsAreConflictsAndChangeNothing) {
  FakeSealed v2(rid_, 2, "K");
  KC_ASSERT_OK(s_->AddVersion("K", 1, v2.Write()));
  // A second rotator that read {current 1, latest 1} before the first one committed.
  FakeSealed loser(rid_, 2, "K");
  const Status st = s_->AddVersion("K", 1, loser.Write());
  EXPECT_TRUE(IsConflict(st)) << ::keycell::test::Describe(st);
  // Right expected_current but a version number that is not latest + 1.
  FakeSealed gap(rid_, 4, "K");
  EXPECT_TRUE(IsConflict(s_->AddVersion("K", 2, gap.Write())));
  FakeSealed stale(rid_, 3, "K");
  EXPECT_TRUE(IsConflict(s_->AddVersion("K", 1, stale.Write())));
  KC_ASSERT_OK_AND_ASSIGN(std::vector<VersionInfo> h, s_->History("K"));
  EXPECT_EQ(h.size(), 2u);
  EXPECT_TRUE(HasWhere(s_->AddVersion("nope", 1, v2.Write()), Err::kUnknownKey, kNoSuchCredential));
}

TEST_F(StoreVersionsTest, OverwriteKeepsTheCredentialAndAddsAVersion) {
  KC_ASSERT_OK(s_->Assign("K", "/proj"));
  CredentialMeta meta = Meta("K", "anthropic", "prod", {"b"});
  FakeSealed v2(rid_, 2, "K", 3000);
  KC_ASSERT_OK_AND_ASSIGN(Credential c, s_->OverwriteCredential(meta, 1, v2.Write()));
  EXPECT_EQ(c.record_id, rid_);
  EXPECT_EQ(c.created_at, 1000);
  EXPECT_EQ(c.rotated_at, 3000);
  EXPECT_EQ(c.provider, "anthropic");
  EXPECT_EQ(c.env, "prod");
  EXPECT_EQ(c.tags, (std::vector<std::string>{"b"}));
  EXPECT_EQ(c.current_version, 2u);
  EXPECT_EQ(c.projects, (std::vector<std::string>{"/proj"}));
  KC_ASSERT_OK_AND_ASSIGN(std::vector<VersionInfo> h, s_->History("K"));
  ASSERT_EQ(h.size(), 2u);  // history survives an overwrite
  EXPECT_FALSE(h[0].current);
  EXPECT_TRUE(h[1].current);
  // Stale and unknown.
  FakeSealed again(rid_, 2, "K");
  EXPECT_TRUE(IsConflict(s_->OverwriteCredential(meta, 1, again.Write()).status()));
  EXPECT_TRUE(HasWhere(s_->OverwriteCredential(Meta("nope"), 1, again.Write()).status(),
                       Err::kUnknownKey, kNoSuchCredential));
  KC_ASSERT_OK_AND_ASSIGN(c, s_->GetCredential("K"));
  EXPECT_EQ(c.provider, "anthropic");  // the failed overwrite left no trace
}

TEST_F(StoreVersionsTest, RollbackAndRotateAfterIt) {
  FakeSealed v2(rid_, 2, "K");
  v2.policy = R"({"hosts":["v2.example.com"]})";
  KC_ASSERT_OK(s_->AddVersion("K", 1, v2.Write()));
  KC_ASSERT_OK_AND_ASSIGN(Credential c, s_->GetCredential("K"));
  EXPECT_EQ(c.policy_json, v2.policy);
  KC_ASSERT_OK(s_->SetCurrentVersion("K", 1, 2));
  KC_ASSERT_OK_AND_ASSIGN(c, s_->GetCredential("K"));
  EXPECT_EQ(c.current_version, 1u);
  EXPECT_EQ(c.latest_version, 2u);
  EXPECT_EQ(c.policy_json, FakeSealed(rid_, 1, "K").policy);  // the policy in force
  KC_ASSERT_OK_AND_ASSIGN(SealedVersion cur, s_->GetCurrent("K"));
  EXPECT_EQ(cur.version, 1u);
  // Errors: missing version, stale expectation.
  EXPECT_TRUE(HasWhere(s_->SetCurrentVersion("K", 7, 1), Err::kUnknownKey, kNoSuchVersion));
  EXPECT_TRUE(IsConflict(s_->SetCurrentVersion("K", 2, 2)));
  EXPECT_TRUE(HasWhere(s_->GetVersion("K", 7).status(), Err::kUnknownKey, kNoSuchVersion));
  // The next rotation is latest + 1, never a reuse of version 2.
  FakeSealed reuse(rid_, 2, "K");
  EXPECT_TRUE(IsConflict(s_->AddVersion("K", 1, reuse.Write())));
  FakeSealed v3(rid_, 3, "K");
  KC_ASSERT_OK(s_->AddVersion("K", 1, v3.Write()));
  KC_ASSERT_OK_AND_ASSIGN(std::vector<VersionInfo> h, s_->History("K"));
  ASSERT_EQ(h.size(), 3u);
  for (uint32_t i = 0; i < 3; ++i) EXPECT_EQ(h[i].version, i + 1);
  EXPECT_TRUE(h[2].current);
  EXPECT_EQ(h[1].fingerprint, "fp2");
  EXPECT_EQ(h[1].sealed_bytes, v2.blob.size());
}

// N rotators each loop: read the head, "seal" for latest + 1, AddVersion; on a conflict
// re-read and retry. The history must come out as 1..N+1 with no gaps or duplicates,
// each version holding the blob sealed for its own number.
void RotateConcurrently(const std::function<Store&(int)>& store_for, const std::string& rid,
                        int threads, int* conflicts) {
  std::atomic<int> conflict_count{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      Store& s = store_for(t);
      for (;;) {
        auto c = s.GetCredential("K");
        ASSERT_TRUE(c.ok());
        FakeSealed next(rid, c->latest_version + 1, "K");
        const Status st = s.AddVersion("K", c->current_version, next.Write());
        if (st.ok()) return;
        ASSERT_TRUE(IsConflict(st)) << ::keycell::test::Describe(st);
        ++conflict_count;
      }
    });
  }
  go = true;
  for (std::thread& th : pool) th.join();
  *conflicts = conflict_count.load();
}

void ExpectLinearHistory(Store& s, const std::string& rid, int threads) {
  KC_ASSERT_OK_AND_ASSIGN(std::vector<VersionInfo> h, s.History("K"));
  ASSERT_EQ(h.size(), static_cast<size_t>(threads + 1));
  for (size_t i = 0; i < h.size(); ++i) {
    EXPECT_EQ(h[i].version, i + 1);
    KC_ASSERT_OK_AND_ASSIGN(SealedVersion v, s.GetVersion("K", h[i].version));
    EXPECT_EQ(BlobText(v.sealed), FakeSealed(rid, h[i].version, "K").blob);
  }
  KC_ASSERT_OK_AND_ASSIGN(Credential c, s.GetCredential("K"));
  EXPECT_EQ(c.current_version, static_cast<uint32_t>(threads + 1));
}

TEST_F(StoreVersionsTest, ConcurrentRotationsOnOneStoreAreLinear) {
  constexpr int kThreads = 8;
  int conflicts = 0;
  RotateConcurrently([&](int) -> Store& { return *s_; }, rid_, kThreads, &conflicts);
  RecordProperty("conflicts_retried", conflicts);
  ExpectLinearHistory(*s_, rid_, kThreads);
}

TEST_F(StoreVersionsTest, ConcurrentRotationsOnSeparateConnectionsAreLinear) {
  constexpr int kThreads = 8;
  std::vector<std::unique_ptr<Store>> stores;
  for (int i = 0; i < kThreads; ++i) {
    stores.push_back(OpenStore());
    ASSERT_NE(stores.back(), nullptr);
  }
  int conflicts = 0;
  RotateConcurrently([&](int t) -> Store& { return *stores[t]; }, rid_, kThreads, &conflicts);
  RecordProperty("conflicts_retried", conflicts);
  ExpectLinearHistory(*s_, rid_, kThreads);
  KC_EXPECT_OK(s_->IntegrityCheck());
}

}  // namespace
}  // namespace keycell::broker::store::test

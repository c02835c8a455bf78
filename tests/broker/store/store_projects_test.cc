// Projects and assignments.

#include "tests/broker/store/store_test_util.h"

namespace keycell::broker::store::test {
namespace {

using V = std::vector<std::string>;

class StoreProjectsTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    s_ = OpenStore();
    ASSERT_NE(s_, nullptr);
    Add(*s_, Meta("A"));
    Add(*s_, Meta("B"));
  }
  std::unique_ptr<Store> s_;
};

TEST_F(StoreProjectsTest, AddProjectNormalisesAndIsIdempotent) {
  KC_ASSERT_OK_AND_ASSIGN(Project p, s_->AddProject("/home/u/app/../web/"));
  EXPECT_EQ(p.path, "/home/u/web");
  EXPECT_TRUE(p.credentials.empty());
  KC_ASSERT_OK_AND_ASSIGN(Project again, s_->AddProject("/home/u/web"));
  EXPECT_EQ(again.id, p.id);
  EXPECT_EQ(s_->AddProject("relative/dir").status().code(), Err::kInvalidArgument);
  KC_ASSERT_OK_AND_ASSIGN(std::vector<Project> all, s_->ListProjects());
  EXPECT_EQ(all.size(), 1u);
}

TEST_F(StoreProjectsTest, AssignCreatesProjectsAndListsThem) {
  KC_ASSERT_OK(s_->Assign("B", "/w/one"));
  KC_ASSERT_OK(s_->Assign("A", "/w/one/"));
  KC_ASSERT_OK(s_->Assign("A", "/w/one"));  // twice is fine
  KC_ASSERT_OK(s_->Assign("A", "/w/two"));
  KC_ASSERT_OK(s_->AddProject("/w/empty").status());
  KC_ASSERT_OK_AND_ASSIGN(std::vector<Project> all, s_->ListProjects());
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].path, "/w/empty");
  EXPECT_TRUE(all[0].credentials.empty());
  EXPECT_EQ(all[1].path, "/w/one");
  EXPECT_EQ(all[1].credentials, (V{"A", "B"}));
  EXPECT_EQ(all[2].credentials, (V{"A"}));
  KC_ASSERT_OK_AND_ASSIGN(std::vector<Credential> in_one, s_->CredentialsForProject("/w/one"));
  ASSERT_EQ(in_one.size(), 2u);
  EXPECT_EQ(in_one[0].name, "A");
  KC_ASSERT_OK_AND_ASSIGN(std::vector<Credential> none, s_->CredentialsForProject("/w/none"));
  EXPECT_TRUE(none.empty());
  EXPECT_TRUE(HasWhere(s_->Assign("nope", "/w/one"), Err::kUnknownKey, kNoSuchCredential));
}

TEST_F(StoreProjectsTest, UnassignAndRemoveProject) {
  KC_ASSERT_OK(s_->Assign("A", "/w/one"));
  KC_ASSERT_OK(s_->Assign("B", "/w/one"));
  KC_ASSERT_OK(s_->Unassign("A", "/w/one"));
  EXPECT_TRUE(HasWhere(s_->Unassign("A", "/w/one"), Err::kUnknownKey, kNotAssigned));
  EXPECT_TRUE(HasWhere(s_->Unassign("A", "/w/never"), Err::kUnknownKey, kNotAssigned));
  EXPECT_TRUE(HasWhere(s_->Unassign("nope", "/w/one"), Err::kUnknownKey, kNoSuchCredential));
  KC_ASSERT_OK_AND_ASSIGN(Credential b, s_->GetCredential("B"));
  EXPECT_EQ(b.projects, (V{"/w/one"}));
  KC_ASSERT_OK(s_->RemoveProject("/w/one"));
  EXPECT_TRUE(HasWhere(s_->RemoveProject("/w/one"), Err::kUnknownKey, kNoSuchProject));
  KC_ASSERT_OK_AND_ASSIGN(b, s_->GetCredential("B"));
  EXPECT_TRUE(b.projects.empty());
}

}  // namespace
}  // namespace keycell::broker::store::test

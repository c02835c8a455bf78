#pragma once
// Shared fixture for the identity tests: a fresh temp directory, a ManualClock and an
// IdentityStore on <dir>/data/identity.db.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "broker/identity/identity_store.h"
#include "tests/support/status_testing.h"

namespace keycell::broker::identity::test {

inline bool HasWhere(const Status& s, Err code, const char* where) {
  return s.code() == code && std::strcmp(s.where(), where) == 0;
}

// Tests only: a secret as text, to present it back or search for it.
inline std::string Text(const SecureBuffer& b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

inline std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class IdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kc-identity-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = IdentityDbPath(dir_ + "/data");
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void Reopen() {
    store_.reset();
    auto opened = IdentityStore::Open(path_, clock_);
    ASSERT_TRUE(opened.ok()) << ::keycell::test::Describe(opened.status());
    store_ = std::move(opened).value();
  }
  // An agent allowed everything, and a fresh token for `credential`.
  std::string NewAgentToken(const std::string& agent, const std::string& credential) {
    if (!store_->GetAgent(agent).ok()) {
      EXPECT_TRUE(store_->CreateAgent(agent, {"**"}).ok());
    }
    auto issued = store_->AssignToken(agent, credential);
    EXPECT_TRUE(issued.ok()) << ::keycell::test::Describe(issued.status());
    return issued.ok() ? Text(issued->token) : std::string();
  }

  ManualClock clock_;
  std::string dir_;
  std::string path_;
  std::unique_ptr<IdentityStore> store_;
};

}  // namespace keycell::broker::identity::test

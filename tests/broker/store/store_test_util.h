#pragma once
// Shared fixture for the store tests: a fresh temp directory per test, and fake sealed
// blobs that encode what they are bound to (so a test can tell which version it got).

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "broker/store/store.h"
#include "tests/support/status_testing.h"

namespace keycell::broker::store::test {

inline bool HasWhere(const Status& s, Err code, const char* where) {
  return s.code() == code && std::strcmp(s.where(), where) == 0;
}

// Owns the bytes a VersionWrite points at.
struct FakeSealed {
  std::string blob;
  std::string fingerprint;
  std::string policy = R"({"hosts":["api.example.com"]})";
  uint32_t version = 1;
  int64_t now = 1000;

  FakeSealed(std::string_view record_id, uint32_t v, std::string_view name, int64_t t = 1000)
      : blob("sealed|" + std::string(record_id) + "|" + std::to_string(v) + "|" +
             std::string(name)),
        fingerprint("fp" + std::to_string(v)),
        version(v),
        now(t) {}

  VersionWrite Write() const {
    VersionWrite w;
    w.version = version;
    w.sealed = AsBytes(blob);
    w.fingerprint = fingerprint;
    w.policy_json = policy;
    w.now = now;
    return w;
  }
};

inline std::string BlobText(const std::vector<uint8_t>& b) {
  return std::string(b.begin(), b.end());
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kc-store-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    db_path_ = dir_ + "/data/keycell/store.db";
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::unique_ptr<Store> OpenStore() {
    auto r = Store::Open(db_path_);
    EXPECT_TRUE(r.ok()) << ::keycell::test::Describe(r.status());
    return r.ok() ? std::move(r).value() : nullptr;
  }

  CredentialMeta Meta(const std::string& name, const std::string& provider = "",
                      const std::string& env = "", std::vector<std::string> tags = {}) {
    CredentialMeta m;
    m.name = name;
    m.provider = provider;
    m.env = env;
    m.tags = std::move(tags);
    return m;
  }

  // Adds `name` with a fresh record id and a fake version 1; returns the record id.
  std::string Add(Store& s, const CredentialMeta& meta, int64_t now = 1000) {
    auto id = NewRecordId();
    EXPECT_TRUE(id.ok());
    FakeSealed v1(*id, 1, meta.name, now);
    auto r = s.AddCredential(meta, *id, v1.Write());
    EXPECT_TRUE(r.ok()) << ::keycell::test::Describe(r.status());
    return *id;
  }

  std::string dir_;
  std::string db_path_;
};

}  // namespace keycell::broker::store::test

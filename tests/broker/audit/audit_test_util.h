#pragma once
// Shared fixture for the audit tests: a fresh temp directory, a fake clock, an HMAC
// callback with a test key (standing in for the enclave), and "attacker" helpers that
// edit audit.db with the raw sqlite3 C API, as someone with the file would.

#include <gtest/gtest.h>
#include <mbedtls/md.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "broker/audit/audit_log.h"
#include "tests/support/status_testing.h"

namespace keycell::broker::audit::test {

// HMAC-SHA256 under `key`, as the enclave computes it for the daemon.
inline MacFn HmacWithKey(std::string key) {
  return [key = std::move(key)](ByteView message) -> Result<Hash> {
    Hash out{};
    const int rc = mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
                                   reinterpret_cast<const uint8_t*>(key.data()), key.size(),
                                   message.data(), message.size(), out.data());
    if (rc != 0) return Status(Err::kTls, "test hmac", rc);
    return out;
  };
}

inline std::string HexOf(const Hash& h) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  for (uint8_t b : h) {
    s.push_back(kDigits[b >> 4]);
    s.push_back(kDigits[b & 15]);
  }
  return s;
}

class AuditFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kc-audit-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = AuditLog::PathIn(dir_ + "/data/keycell");
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  Options TestOptions() {
    Options o;
    o.clock = [this] { return now_.load(); };
    o.busy_timeout_ms = 30000;  // generous: CI machines stall on fsync
    return o;
  }

  std::unique_ptr<AuditLog> OpenLog() { return OpenLog(TestOptions()); }
  std::unique_ptr<AuditLog> OpenLog(Options o) {
    auto r = AuditLog::Open(path_, std::move(o));
    EXPECT_TRUE(r.ok()) << ::keycell::test::Describe(r.status());
    return r.ok() ? std::move(r).value() : nullptr;
  }

  // A proxy call by agent "agent<i % 3>" on credential "cred<i % 4>".
  static Entry Sample(int i) {
    Entry e;
    e.actor = "agent" + std::to_string(i % 3);
    e.actor_kind = ActorKind::kAgent;
    e.action = actions::kProxy;
    e.credential = "cred" + std::to_string(i % 4);
    e.version = 1 + i % 2;
    e.host = "api.example.com";
    e.path = "/v1/items/" + std::to_string(i);
    e.result = "ok";
    e.status = 200;
    e.latency_us = 1000 + i;
    e.detail = "call " + std::to_string(i);
    return e;
  }

  void AppendSamples(AuditLog& log, int n) {
    for (int i = 0; i < n; ++i) {
      auto r = log.Append(Sample(i));
      ASSERT_TRUE(r.ok()) << ::keycell::test::Describe(r.status());
    }
  }

  VerifyReport MustVerify(AuditLog& log, const MacFn& mac) {
    auto r = log.Verify(mac);
    EXPECT_TRUE(r.ok()) << ::keycell::test::Describe(r.status());
    return r.ok() ? *r : VerifyReport{};
  }

  // Runs `sql` on audit.db over a raw connection, after dropping the append-only
  // triggers (an attacker with the file can; the chain must catch what follows).
  void Tamper(const std::string& sql) {
    RawExec(
        "DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_no_delete;"
        "DROP TRIGGER IF EXISTS checkpoints_no_update;"
        "DROP TRIGGER IF EXISTS checkpoints_no_delete;" +
        sql);
  }

  // Runs `sql` as is; returns the sqlite3 result code.
  int RawExec(const std::string& sql) {
    sqlite3* db = nullptr;
    int rc = sqlite3_open(path_.c_str(), &db);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
    sqlite3_close(db);
    return rc;
  }

  // Swaps the listed columns of rows a and b (both rows updated, as an attacker would).
  void SwapRows(int64_t a, int64_t b, const std::string& cols) {
    const std::string sa = std::to_string(a), sb = std::to_string(b);
    Tamper("CREATE TEMP TABLE swap AS SELECT * FROM audit WHERE seq IN (" + sa + "," + sb +
           ");UPDATE audit SET (" + cols + ") = (SELECT " + cols +
           " FROM swap WHERE swap.seq = CASE audit.seq WHEN " + sa + " THEN " + sb + " ELSE " + sa +
           " END) WHERE seq IN (" + sa + "," + sb + ");");
  }

  // Sets record `seq`'s detail to `new_detail` and recomputes every hash from there on,
  // so the chain is self-consistent again: only a checkpoint can tell.
  void RewriteChainFrom(AuditLog& log, int64_t seq, const std::string& new_detail);

  static constexpr char kDataCols[] =
      "ts, actor, actor_kind, action, credential, version, host, path, result, status, "
      "latency_us, detail";
  static constexpr char kAllCols[] =
      "ts, actor, actor_kind, action, credential, version, host, path, result, status, "
      "latency_us, detail, prev_hash, hash";

  std::atomic<int64_t> now_{1'700'000'000};
  std::string dir_;
  std::string path_;
  MacFn mac_ = HmacWithKey("audit test key: stands in for the sealed audit key");
};

inline void AuditFixture::RewriteChainFrom(AuditLog& log, int64_t seq,
                                           const std::string& new_detail) {
  Filter all;
  all.limit = kMaxQueryLimit;
  auto rows = log.Query(all);
  ASSERT_TRUE(rows.ok());
  std::vector<Record> recs(rows->rbegin(), rows->rend());  // oldest first
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "DROP TRIGGER IF EXISTS audit_no_update", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "UPDATE audit SET detail = ?1, prev_hash = ?2, hash = ?3 "
                               "WHERE seq = ?4",
                               -1, &st, nullptr),
            SQLITE_OK);
  for (size_t i = static_cast<size_t>(seq - 1); i < recs.size(); ++i) {
    Record& r = recs[i];
    if (r.seq == seq) r.detail = new_detail;
    if (i > 0) r.prev_hash = recs[i - 1].hash;
    r.hash = *ComputeHash(r);
    sqlite3_bind_text(st, 1, r.detail.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 2, r.prev_hash.data(), 32, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 3, r.hash.data(), 32, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, r.seq);
    EXPECT_EQ(sqlite3_step(st), SQLITE_DONE);
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
}

}  // namespace keycell::broker::audit::test

// AuditLog::Query: filters, order, paging, limits, and that each filter uses an index.

#include <sqlite3.h>

#include <string>
#include <vector>

#include "broker/audit/audit_internal.h"
#include "tests/broker/audit/audit_test_util.h"

namespace keycell::broker::audit::test {
namespace {

class AuditQueryTest : public AuditFixture {
 protected:
  // 12 records: agent0..2 round robin, cred0..3 round robin, ts 100..111; seq 4 and 8 are
  // reveals by the owner (uid 1000).
  void Fill(AuditLog& log) {
    for (int i = 0; i < 12; ++i) {
      now_ = 100 + i;
      Entry e = Sample(i);
      if (i == 3 || i == 7) {
        e.actor = "1000";
        e.actor_kind = ActorKind::kUid;
        e.action = actions::kReveal;
      }
      ASSERT_TRUE(log.Append(e).ok());
    }
  }

  std::vector<int64_t> QuerySeqs(AuditLog& log, const Filter& f) {
    auto r = log.Query(f);
    EXPECT_TRUE(r.ok()) << ::keycell::test::Describe(r.status());
    std::vector<int64_t> out;
    if (r.ok()) {
      for (const Record& rec : *r) out.push_back(rec.seq);
    }
    return out;
  }
};

using Seqs = std::vector<int64_t>;

TEST_F(AuditQueryTest, NewestFirstWithLimit) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  Fill(*log);
  Filter f;
  f.limit = 3;
  EXPECT_EQ(QuerySeqs(*log, f), (Seqs{12, 11, 10}));
  f.before_seq = 10;  // the next page
  EXPECT_EQ(QuerySeqs(*log, f), (Seqs{9, 8, 7}));
}

TEST_F(AuditQueryTest, FiltersCombineWithAnd) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  Fill(*log);
  Filter agent;
  agent.actor = "agent1";
  agent.actor_kind = ActorKind::kAgent;
  EXPECT_EQ(QuerySeqs(*log, agent), (Seqs{11, 5, 2}));  // seq 8 (i=7) is the owner's reveal
  Filter cred;
  cred.credential = "cred2";
  EXPECT_EQ(QuerySeqs(*log, cred), (Seqs{11, 7, 3}));
  Filter action;
  action.action = actions::kReveal;
  EXPECT_EQ(QuerySeqs(*log, action), (Seqs{8, 4}));
  Filter since;
  since.since = 109;
  EXPECT_EQ(QuerySeqs(*log, since), (Seqs{12, 11, 10}));
  Filter both;
  both.credential = "cred3";
  both.action = actions::kReveal;
  EXPECT_EQ(QuerySeqs(*log, both), (Seqs{8, 4}));
  both.since = 105;
  EXPECT_EQ(QuerySeqs(*log, both), (Seqs{8}));
  Filter kind;
  kind.actor_kind = ActorKind::kUid;
  EXPECT_EQ(QuerySeqs(*log, kind), (Seqs{8, 4}));
  Filter none;
  none.actor = "nobody";
  EXPECT_TRUE(QuerySeqs(*log, none).empty());
}

TEST_F(AuditQueryTest, LimitIsBounded) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  Filter f;
  f.limit = 0;
  EXPECT_EQ(log->Query(f).status().code(), Err::kInvalidArgument);
  f.limit = kMaxQueryLimit + 1;
  EXPECT_EQ(log->Query(f).status().code(), Err::kInvalidArgument);
}

// Every filter but actor_kind is served by an index: no plan step scans the table.
// (Without filters the newest-first walk is a rowid scan that stops after `limit` rows.)
TEST_F(AuditQueryTest, FiltersUseAnIndex) {
  { ASSERT_NE(OpenLog(), nullptr); }
  std::vector<Filter> filters(6);
  filters[0].actor = "a";
  filters[1].credential = "c";
  filters[2].action = "proxy";
  filters[3].since = 5;
  filters[4].actor = "a";
  filters[4].since = 5;
  filters[5].credential = "c";
  filters[5].action = "proxy";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  for (const Filter& f : filters) {
    const std::string sql = "EXPLAIN QUERY PLAN " + internal::QuerySql(f);
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sql;
    std::string plan;
    while (sqlite3_step(st) == SQLITE_ROW) {
      plan += reinterpret_cast<const char*>(sqlite3_column_text(st, 3));
      plan += "; ";
    }
    sqlite3_finalize(st);
    EXPECT_EQ(plan.find("SCAN"), std::string::npos) << sql << "\n" << plan;
  }
  sqlite3_close(db);
}

// since is turned into a seq bound; the answer stays right when ts went backwards.
TEST_F(AuditQueryTest, SinceIsRightWhenTheClockSteppedBack) {
  auto log = OpenLog();
  ASSERT_NE(log, nullptr);
  for (int64_t t : {100, 200, 150, 300, 120}) {
    now_ = t;
    ASSERT_TRUE(log->Append(Sample(0)).ok());
  }
  Filter f;
  f.since = 150;
  EXPECT_EQ(QuerySeqs(*log, f), (Seqs{4, 3, 2}));
}

}  // namespace
}  // namespace keycell::broker::audit::test

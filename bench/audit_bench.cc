// What auditing costs one request, side by side in one process:
//   sqlite      a bare INSERT of a row of the same shape, one transaction per row, WAL and
//               synchronous=FULL (the floor: a durable SQLite write)
//   append      AuditLog::Append: sanitize, read the head, SHA-256 chain, insert, commit
//   +checkpoint Append followed by the MaybeCheckpoint decision (nothing due: two primary-key
//               lookups), as keycelld's timer adds it
//   queue/16    AuditQueue (group commit) fed by 16 threads at once, as the proxy will:
//               wall time per record (not a latency: submitters do not wait for fsync)
//
//   audit_bench --dir DIR [--iterations 2000]
// DIR should be on the disk keycelld's data dir lives on (fsync dominates); run it on
// tmpfs too to see the CPU part alone. bench/audit_bench.sh runs both.

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <algorithm>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "broker/audit/audit_log.h"
#include "broker/audit/audit_queue.h"

namespace {

using namespace keycell;

double NowUs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

struct Stats {
  double p50, p99;
};

Stats Time(int iterations, const std::function<bool()>& fn) {
  std::vector<double> t;
  t.reserve(iterations);
  for (int i = 0; i < iterations; ++i) {
    const double start = NowUs();
    if (!fn()) {
      fprintf(stderr, "audit_bench: operation failed\n");
      exit(1);
    }
    t.push_back(NowUs() - start);
  }
  std::sort(t.begin(), t.end());
  return {t[t.size() / 2], t[std::min(t.size() - 1, t.size() * 99 / 100)]};
}

broker::audit::Entry ProxyEntry(int i) {
  broker::audit::Entry e;
  e.actor = "ci-bot";
  e.actor_kind = broker::audit::ActorKind::kAgent;
  e.action = broker::audit::actions::kProxy;
  e.credential = "openai/prod";
  e.version = 3;
  e.host = "api.openai.com";
  e.path = "/v1/chat/completions";
  e.result = "ok";
  e.status = 200;
  e.latency_us = 1000 + i % 97;
  return e;
}

bool Exec(sqlite3* db, const char* sql) { return sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK; }

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  int iterations = 2000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--dir") == 0) dir = argv[i + 1];
    else if (strcmp(argv[i], "--iterations") == 0) iterations = atoi(argv[i + 1]);
  }
  if (dir.empty() || iterations < 10) {
    fprintf(stderr, "usage: audit_bench --dir DIR [--iterations N>=10]\n");
    return 2;
  }

  sqlite3* raw = nullptr;
  const std::string raw_path = dir + "/baseline.db";
  if (sqlite3_open(raw_path.c_str(), &raw) != SQLITE_OK || !Exec(raw, "PRAGMA journal_mode=WAL") ||
      !Exec(raw, "PRAGMA synchronous=FULL") ||
      !Exec(raw, "CREATE TABLE IF NOT EXISTS t (seq INTEGER PRIMARY KEY, ts INT, actor TEXT, kind TEXT, action TEXT, "
                 "credential TEXT, version INT, host TEXT, path TEXT, result TEXT, status INT, latency INT, "
                 "detail TEXT, prev BLOB, hash BLOB)")) {
    fprintf(stderr, "audit_bench: cannot create %s\n", raw_path.c_str());
    return 1;
  }
  sqlite3_stmt* ins = nullptr;
  sqlite3_prepare_v2(raw, "INSERT INTO t VALUES (NULL, ?1, 'ci-bot', 'agent', 'proxy', 'openai/prod', 3, "
                          "'api.openai.com', '/v1/chat/completions', 'ok', 200, ?2, '', zeroblob(32), zeroblob(32))",
                     -1, &ins, nullptr);
  int n = 0;
  const Stats bare = Time(iterations, [&] {
    sqlite3_reset(ins);
    sqlite3_bind_int64(ins, 1, time(nullptr));
    sqlite3_bind_int64(ins, 2, ++n);
    return Exec(raw, "BEGIN IMMEDIATE") && sqlite3_step(ins) == SQLITE_DONE && Exec(raw, "COMMIT");
  });
  sqlite3_finalize(ins);
  sqlite3_close(raw);

  auto log = broker::audit::AuditLog::Open(broker::audit::AuditLog::PathIn(dir));
  if (!log.ok()) {
    fprintf(stderr, "audit_bench: cannot open the audit log: %s\n", log.status().where());
    return 1;
  }
  int i = 0;
  const Stats append = Time(iterations, [&] { return (*log)->Append(ProxyEntry(++i)).ok(); });
  // A MAC that is never needed: the decision alone (nothing due right after a checkpoint).
  auto mac = [](ByteView) -> Result<broker::audit::Hash> { return broker::audit::Hash{}; };
  if (!(*log)->Checkpoint(mac).ok()) return 1;
  const Stats with_check = Time(iterations, [&] {
    return (*log)->Append(ProxyEntry(++i)).ok() && (*log)->MaybeCheckpoint(mac).ok();
  });

  // Group commit: 16 submitters, iterations records in all; wall time per record.
  double queued_us = 0;
  {
    broker::audit::AuditQueue queue(**log);
    constexpr int kSubmitters = 16;
    const double start = NowUs();
    std::vector<std::thread> threads;
    for (int t = 0; t < kSubmitters; ++t)
      threads.emplace_back([&queue, iterations, t] {
        for (int k = t; k < iterations; k += kSubmitters) (void)queue.Submit(ProxyEntry(k));
      });
    for (auto& th : threads) th.join();
    queue.Flush();
    queued_us = (NowUs() - start) / iterations;
    printf("# queue: %llu records in %llu transactions\n", static_cast<unsigned long long>(queue.committed()),
           static_cast<unsigned long long>(queue.batches()));
  }

  printf("%-12s %10s %10s %8s\n", "variant", "p50 µs", "p99 µs", "×sqlite");
  printf("%-12s %10.1f %10.1f %8.2f\n", "sqlite", bare.p50, bare.p99, 1.0);
  printf("%-12s %10.1f %10.1f %8.2f\n", "append", append.p50, append.p99, append.p50 / bare.p50);
  printf("%-12s %10.1f %10.1f %8.2f\n", "+checkpoint", with_check.p50, with_check.p99, with_check.p50 / bare.p50);
  printf("%-12s %10.1f %10s %8.2f   (wall time per record, 16 submitters)\n", "queue/16", queued_us, "-",
         queued_us / bare.p50);
  return 0;
}

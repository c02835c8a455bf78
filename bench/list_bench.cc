// How long `list` takes with many credentials, three ways side by side:
//   sqlite   a bare SELECT of the same rows (the floor: SQLite alone)
//   store    Store::ListCredentials in-process (joins tags and projects)
//   daemon   the `list` op through a running keycelld over its control socket,
//            including JSON encoding and framing (what `keycell list --json` pays)
//
//   list_bench --data-dir DIR --runtime-dir DIR [--count 10000] [--iterations 20]
// DIR must hold an initialised vault (keycell init) whose keycelld is running; the
// benchmark seeds the store with --count credentials (fake sealed blobs: list never
// opens them) if it has fewer. bench/list_bench.sh does all of that.

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "broker/daemon/control_protocol.h"
#include "broker/daemon/control_server.h"
#include "broker/json/json.h"
#include "broker/store/store.h"

namespace {

using namespace keycell;

double NowUs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

struct Stats {
  double median, p90;
};

Stats Time(int iterations, const std::function<void()>& fn) {
  fn();  // warm-up
  std::vector<double> t;
  for (int i = 0; i < iterations; ++i) {
    const double start = NowUs();
    fn();
    t.push_back(NowUs() - start);
  }
  std::sort(t.begin(), t.end());
  return {t[t.size() / 2], t[t.size() * 9 / 10]};
}

bool Seed(broker::store::Store& store, int count) {
  auto existing = store.ListCredentials({});
  const int have = existing.ok() ? static_cast<int>(existing->size()) : 0;
  const std::vector<uint8_t> fake_blob(120, 0xab);
  for (int i = have; i < count; ++i) {
    broker::store::CredentialMeta meta;
    meta.name = "bench-credential-" + std::to_string(i);
    meta.provider = i % 3 == 0 ? "openai" : "stripe";
    meta.env = i % 2 == 0 ? "prod" : "dev";
    meta.tags = {"bench", i % 5 == 0 ? "team-a" : "team-b"};
    auto id = broker::store::NewRecordId();
    if (!id.ok()) return false;
    broker::store::VersionWrite v{1, fake_blob, "00112233445566778899aabbccddeeff", "", 1795000000};
    if (!store.AddCredential(meta, *id, v).ok()) return false;
  }
  return true;
}

int ConnectDaemon(const std::string& runtime_dir) {
  const std::string path = broker::daemon::ControlSocketPath(runtime_dir);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return -1;
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  std::string data_dir, runtime_dir;
  int count = 10000, iterations = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--data-dir") == 0) data_dir = argv[i + 1];
    else if (strcmp(argv[i], "--runtime-dir") == 0) runtime_dir = argv[i + 1];
    else if (strcmp(argv[i], "--count") == 0) count = std::clamp(atoi(argv[i + 1]), 1, 100000);
    else if (strcmp(argv[i], "--iterations") == 0) iterations = std::clamp(atoi(argv[i + 1]), 1, 1000);
  }
  if (data_dir.empty() || runtime_dir.empty()) {
    fprintf(stderr, "usage: list_bench --data-dir DIR --runtime-dir DIR [--count N] [--iterations N]\n");
    return 2;
  }
  const std::string db_path = data_dir + "/keycell.db";
  auto store = broker::store::Store::Open(db_path);
  if (!store.ok() || !Seed(**store, count)) {
    fprintf(stderr, "list_bench: cannot open or seed %s\n", db_path.c_str());
    return 1;
  }
  sqlite3* raw = nullptr;
  sqlite3_open_v2(db_path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  const Stats sqlite = Time(iterations, [&] {
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(raw, "SELECT name, provider, env, created_at FROM credentials ORDER BY name", -1, &st, nullptr);
    while (sqlite3_step(st) == SQLITE_ROW) {
    }
    sqlite3_finalize(st);
  });
  sqlite3_close(raw);
  size_t listed = 0;
  const Stats in_store = Time(iterations, [&] { listed = (*store)->ListCredentials({})->size(); });
  const int sock = ConnectDaemon(runtime_dir);
  if (sock < 0) {
    fprintf(stderr, "list_bench: keycelld is not running for %s\n", runtime_dir.c_str());
    return 1;
  }
  size_t bytes = 0;
  const Stats daemon = Time(iterations, [&] {
    broker::daemon::ControlError err;
    auto json = json::MakeObject();
    (void)broker::daemon::SendControlRequest(sock, "list", json.get(), -1, 60000);
    auto r = broker::daemon::RecvControlResponse(sock, 60000, &err);
    if (r.ok()) bytes = json::Print(r->get(), false)->size();
  });
  printf("credentials: %zu, iterations: %d, list response %zu bytes; times in milliseconds\n", listed,
         iterations, bytes);
  printf("| path   | median | p90 | ratio to sqlite (median) |\n|---|---:|---:|---:|\n");
  for (const auto& [name, s] : {std::pair{"sqlite", sqlite}, {"store", in_store}, {"daemon", daemon}})
    printf("| %s | %.1f | %.1f | %.1fx |\n", name, s.median / 1e3, s.p90 / 1e3, s.median / sqlite.median);
  return 0;
}

// What the process boundary costs. Each enclave operation is timed twice against the
// same kind of SoftHSM2 token (tests/support TempToken):
//   ipc     - broker::EnclaveClient -> the real keycell-enclave, under its sandbox
//   inproc  - the same enclave core called directly (Pkcs11Token in this process)
// and the median ratio shows the IPC + sandbox overhead. Not a ctest test.
//
//   seal_bench [--iterations N]      (default 2000, 10..100000)

#include <errno.h>
#include <fcntl.h>
#include <mbedtls/md.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "broker/enclave/enclave_client.h"
#include "enclave/env_line.h"
#include "enclave/pkcs11_token.h"
#include "enclave/sealed_record.h"
#include "tests/enclave/test_policies.h"
#include "tests/support/softhsm_fixture.h"

namespace keycell {
namespace {

using enclave::testing::MakePolicy;
using enclave::testing::MakeRef;

struct Stats {
  double median_us = 0, p99_us = 0;
};

// Runs `op` `warmup` times untimed, then `n` times timed; any failure ends the bench
// (a benchmark of an error path would be meaningless).
Stats Measure(int n, const std::function<Status()>& op) {
  const int warmup = std::max(10, n / 20);
  for (int i = 0; i < warmup; ++i) KC_CHECK(op().ok());
  std::vector<double> us(n);
  for (int i = 0; i < n; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const Status st = op();
    const auto t1 = std::chrono::steady_clock::now();
    if (!st.ok()) {
      fprintf(stderr, "seal_bench: operation failed: %s (%s)\n", st.where(), ErrName(st.code()));
      exit(1);
    }
    us[i] = std::chrono::duration<double, std::micro>(t1 - t0).count();
  }
  std::sort(us.begin(), us.end());
  return {us[n / 2], us[std::min<size_t>(n - 1, static_cast<size_t>(n * 0.99))]};
}

// A file the enclave may write to (regular files and pipes only); rewound and
// truncated between calls so it stays one line long.
UniqueFd EnvSink() {
  UniqueFd fd(open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  KC_CHECK(fd.valid());
  return fd;
}
void Rewind(int fd) {
  KC_CHECK(ftruncate(fd, 0) == 0);
  KC_CHECK(lseek(fd, 0, SEEK_SET) == 0);
}

struct Row {
  const char* name;
  Stats ipc, inproc;
};

const char kSecret[41] = "sk-bench-0123456789abcdefghijklmnopqrstu";  // 40 bytes
SecretView Secret() { return SecretView(reinterpret_cast<const uint8_t*>(kSecret), 40); }

std::vector<Row> RunIpc(int n, test::TempToken& token) {
  broker::EnclaveLaunch l;
  l.enclave_path = KEYCELL_ENCLAVE_PATH;
  l.module_path = test::TempToken::module_path();
  l.token_label = token.label();
  l.token_dirs = {token.dir() + "/tokens"};
  l.read_files = {token.conf_path()};
  l.env = {{"SOFTHSM2_CONF", token.conf_path()}};
  auto c = broker::EnclaveClient::Start(l);
  KC_CHECK(c.ok());
  broker::EnclaveClient& client = **c;
  KC_CHECK(client.Unlock(token.user_pin()).ok());

  const auto ref = MakeRef("bench-1", 1, "bench");
  auto policy = MakePolicy({"api.example.com"});
  policy.reveal = policy.env_export = true;
  auto sealed = client.Seal(ref, policy, Secret());
  KC_CHECK(sealed.ok());
  const std::vector<uint8_t>& blob = sealed->blob;
  const UniqueFd sink = EnvSink();
  const broker::EnvItem items[] = {{ref, "BENCH_KEY", blob}};

  std::vector<Row> rows(4);
  rows[0].ipc = Measure(n, [&] { return client.Seal(ref, policy, Secret()).status(); });
  rows[1].ipc = Measure(n, [&] { return client.Reveal(ref, blob, "bench", "").status(); });
  rows[2].ipc =
      Measure(n, [&] { return client.Hmac(ref, blob, AsBytes("GET /v1/models")).status(); });
  rows[3].ipc = Measure(n, [&] {
    Rewind(sink.get());
    auto w = client.WriteEnv(sink.get(), items);
    if (w.ok() && w->written != 1) return Status(Err::kInternal, "write_env: not written");
    return w.status();
  });
  KC_CHECK(client.restarts() == 0);  // a restarted enclave would have measured start-up
  return rows;
}

void RunInProcess(int n, test::TempToken& token, std::vector<Row>& rows) {
  auto t = enclave::Pkcs11Token::Open(test::TempToken::module_path(), token.label());
  KC_CHECK(t.ok());
  enclave::TokenBackend& tok = **t;
  KC_CHECK(tok.Login(token.user_pin()).ok());

  const auto ref = MakeRef("bench-1", 1, "bench");
  auto policy = MakePolicy({"api.example.com"});
  policy.reveal = policy.env_export = true;
  auto blob = enclave::SealRecord(tok, ref, policy, Secret());
  KC_CHECK(blob.ok());
  const UniqueFd sink = EnvSink();
  const ByteView data = AsBytes("GET /v1/models");

  rows[0].inproc =
      Measure(n, [&] { return enclave::SealRecord(tok, ref, policy, Secret()).status(); });
  rows[1].inproc = Measure(n, [&] { return enclave::UnsealRecord(tok, ref, *blob).status(); });
  rows[2].inproc = Measure(n, [&] {
    auto u = enclave::UnsealRecord(tok, ref, *blob);
    if (!u.ok()) return u.status();
    uint8_t mac[32];
    const int rc = mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), u->secret.data(),
                                   u->secret.size(), data.data(), data.size(), mac);
    return rc == 0 ? Status::Ok() : Status(Err::kInternal, "hmac", rc);
  });
  rows[3].inproc = Measure(n, [&] {
    Rewind(sink.get());
    auto u = enclave::UnsealRecord(tok, ref, *blob);
    if (!u.ok()) return u.status();
    auto line = enclave::FormatEnvLine("BENCH_KEY", u->secret);
    if (!line.ok()) return line.status();
    const ssize_t w = write(sink.get(), line->data(), line->size());
    return w == static_cast<ssize_t>(line->size()) ? Status::Ok()
                                                   : Status(Err::kUpstreamIo, "write", errno);
  });
}

}  // namespace
}  // namespace keycell

int main(int argc, char** argv) {
  using namespace keycell;
  int n = 2000;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
      n = atoi(argv[++i]);
    } else {
      fprintf(stderr, "usage: %s [--iterations N]\n", argv[0]);
      return 64;
    }
  }
  if (n < 10 || n > 100000) {
    fprintf(stderr, "seal_bench: --iterations must be 10..100000\n");
    return 64;
  }
  auto token = test::TempToken::Create();
  if (!token.ok()) {
    fprintf(stderr, "seal_bench: cannot create a SoftHSM2 token: %s\n", token.status().where());
    return 1;
  }
  // One after the other, never both at once: the enclave and this process each hold
  // a session on the same token directory.
  std::vector<Row> rows = RunIpc(n, **token);
  rows[0].name = "seal (40 B)";
  rows[1].name = "reveal";
  rows[2].name = "hmac";
  rows[3].name = "write_env (1 entry)";
  RunInProcess(n, **token, rows);

  printf("iterations: %d per operation (after warm-up); times in microseconds\n", n);
  printf("%-20s %12s %12s %14s %14s %14s\n", "operation", "ipc median", "ipc p99", "inproc median",
         "inproc p99", "ratio (median)");
  for (const Row& r : rows) {
    printf("%-20s %12.1f %12.1f %14.1f %14.1f %13.1fx\n", r.name, r.ipc.median_us, r.ipc.p99_us,
           r.inproc.median_us, r.inproc.p99_us, r.ipc.median_us / r.inproc.median_us);
  }
  return 0;
}

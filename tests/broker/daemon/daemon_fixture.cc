#include "tests/broker/daemon/daemon_fixture.h"

#include <fcntl.h>
#include <unistd.h>

#include <utility>

#include "broker/json/json.h"
#include "tests/support/enclave_launch.h"

namespace keycell::broker::daemon {

UniqueFd PipeWith(std::string_view value) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return UniqueFd();
  (void)!write(p[1], value.data(), value.size());
  close(p[1]);
  return UniqueFd(p[0]);
}

void DaemonTest::SetUp() {
  auto t = test::TempToken::Create();
  ASSERT_TRUE(t.ok()) << t.status().where();
  token_ = std::move(*t);
  data_ = token_->dir() + "/data";
  EnclaveLaunch launch = test::LaunchFor(*token_, KEYCELL_ENCLAVE_PATH);
  launch.extra_ca_file = ExtraCaFile();
  auto c = EnclaveClient::Start(launch);
  ASSERT_TRUE(c.ok()) << c.status().where();
  enclave_ = std::move(*c);
  auto s = store::Store::Open(data_ + "/keycell.db");
  ASSERT_TRUE(s.ok()) << s.status().where();
  store_ = std::move(*s);
  auto ids = identity::IdentityStore::Open(identity::IdentityDbPath(data_));
  ASSERT_TRUE(ids.ok()) << ids.status().where();
  identities_ = std::move(*ids);
  auto log = audit::AuditLog::Open(audit::AuditLog::PathIn(data_));
  ASSERT_TRUE(log.ok()) << log.status().where();
  audit_ = std::move(*log);
  unlock_limiter_ = std::make_unique<identity::UnlockLimiter>(identity::SystemClock(), 5);
  auto hooks = webhooks::WebhookStore::Open(webhooks::WebhookStore::PathIn(data_));
  ASSERT_TRUE(hooks.ok()) << hooks.status().where();
  hook_store_ = std::move(*hooks);
  // Deliveries are signed by the enclave as keycelld's are; short retry backoffs keep the
  // webhook tests' retries quick (tests that register no webhook deliver nothing).
  webhooks::DeliveryWorker::Options delivery;
  delivery.retry_backoff_ms = {10, 20, 40};
  EnclaveClient* enclave = enclave_.get();
  auto worker = webhooks::DeliveryWorker::Start(
      hook_store_.get(),
      [enclave](const webhooks::Webhook& h, ByteView body) {
        return enclave->Hmac(RefOf(h.secret_ref.record_id, h.secret_ref.version, h.secret_ref.name),
                             h.sealed_secret, body);
      },
      delivery);
  ASSERT_TRUE(worker.ok()) << worker.status().where();
  worker_ = std::move(*worker);
  dispatcher_ = std::make_unique<webhooks::Dispatcher>(hook_store_.get(), worker_.get());
  vault_ = std::make_unique<Vault>(VaultDeps{*store_, *enclave_, *identities_, *audit_,
                                             *unlock_limiter_, *hook_store_, *dispatcher_, data_});
  owner_ = identity::OwnerPrincipal(getuid());
  if (StartUnlocked()) {
    ASSERT_TRUE(enclave_->Unlock(token_->user_pin()).ok());
  }
}

OpResult DaemonTest::Run(const identity::Principal& who, std::string_view op,
                         const std::string& args_json, UniqueFd fd) {
  auto args = json::ParseJson(args_json);
  EXPECT_TRUE(args.ok()) << args_json;
  return vault_->Dispatch(who, op, args->get(), std::move(fd));
}

void DaemonTest::AddCredential(const std::string& name, std::string_view value) {
  OpResult r = Run(
      owner_, "add",
      R"({"name": ")" + name +
          R"(", "policy": {"hosts": ["api.example.com"], "inject": "bearer", "env_export": true}})",
      PipeWith(value));
  ASSERT_TRUE(r.ok) << r.error.message;
}

std::vector<audit::Record> DaemonTest::Records(const std::string& action) {
  audit::Filter f;
  f.action = action;
  auto r = audit_->Query(f);
  EXPECT_TRUE(r.ok());
  return r.ok() ? std::move(*r) : std::vector<audit::Record>{};
}

}  // namespace keycell::broker::daemon

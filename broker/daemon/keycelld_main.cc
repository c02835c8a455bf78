// keycelld: the broker daemon. Holds the store (metadata + sealed records), supervises
// keycell-enclave, and serves the CLI on a Unix socket. Like ssh-agent: unlocked once
// by a human, used by many agents, locked again when idle.

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "broker/config/config.h"
#include "broker/config/private_dir.h"
#include "broker/daemon/control_server.h"
#include "broker/daemon/enclave_launch.h"
#include "broker/daemon/log.h"
#include "broker/daemon/mcp_http.h"
#include "broker/daemon/mcp_stream.h"
#include "broker/daemon/mcp_tools.h"
#include "broker/daemon/proxy_service.h"
#include "broker/daemon/rest_api.h"
#include "broker/daemon/vault.h"
#include "broker/http/server.h"
#include "broker/proxy/routes.h"
#include "broker/proxy/upstream_connect.h"

namespace keycell::broker::daemon {
namespace {

constexpr char kHelp[] =
    "usage: keycelld [--help]\n"
    "\n"
    "The keycell broker daemon. Runs in the foreground, logs one line per event to\n"
    "stderr, serves the keycell CLI on $runtime_dir/keycelld.sock (0600, same uid only).\n"
    "Usually started by the keycell CLI on first use; `keycell daemon` runs it in the\n"
    "foreground. Configuration: docs/configuration.md (KEYCELL_* environment variables\n"
    "override the config file). Signals: SIGTERM/SIGINT stop (the vault is locked\n"
    "first), SIGHUP reloads log.level and idle_lock.\n";

// The route mounts of proxy.routes_file ({"routes": [...]}), none when it is unset.
// *why names the file and the rule broken.
Result<proxy::RouteConfig> LoadRoutes(const std::string& path, std::string* why) {
  proxy::RouteConfig config;
  if (path.empty()) return config;
  constexpr size_t kMaxRoutesFileBytes = 256 * 1024;
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    *why = path + ": " + strerror(errno);
    return Status(Err::kInvalidArgument, "proxy.routes_file unreadable");
  }
  std::string text(kMaxRoutesFileBytes + 1, '\0');
  size_t got = 0;
  for (ssize_t n; got < text.size() && (n = read(fd.get(), text.data() + got, text.size() - got)) > 0;)
    got += static_cast<size_t>(n);
  if (got > kMaxRoutesFileBytes) {
    *why = path + ": larger than 256 KiB";
    return Status(Err::kTooLarge, "proxy.routes_file too large");
  }
  text.resize(got);
  auto doc = json::ParseJson(text);
  if (!doc.ok()) {
    *why = path + ": not valid JSON";
    return doc.status();
  }
  auto routes = proxy::ParseRoutes(doc->get());
  if (!routes.ok()) {
    *why = path + ": " + routes.status().where() +
           (routes.status().detail() >= 0 ? " (entry " + std::to_string(routes.status().detail()) + ")" : "");
    return routes.status();
  }
  config.routes = std::move(*routes);
  return config;
}

// One daemon per data dir: an flock held for the daemon's life.
Result<UniqueFd> LockDataDir(const std::string& data_dir, std::string* holder) {
  const std::string path = data_dir + "/keycelld.lock";
  UniqueFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return Status(Err::kUpstreamIo, "open lock file", errno);
  if (flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    (void)!pread(fd.get(), buf, sizeof(buf) - 1, 0);
    *holder = buf;
    return Status(Err::kUnavailable, "data dir locked");
  }
  const std::string pid = std::to_string(getpid());
  (void)!ftruncate(fd.get(), 0);
  (void)!pwrite(fd.get(), pid.data(), pid.size(), 0);
  return fd;
}

// Webhook receivers are set by an admin and may live on the LAN or this machine, but a
// webhook must never reach the cloud metadata endpoint (it hands out the machine's
// credentials) or an address nothing should connect to.
bool WebhookAddressAllowed(const sockaddr* sa) {
  switch (proxy::ClassifyAddress(sa)) {
    case proxy::AddressClass::kMetadata:
    case proxy::AddressClass::kUnspecified:
    case proxy::AddressClass::kMulticast:
    case proxy::AddressClass::kBroadcast:
    case proxy::AddressClass::kUnsupported:
      return false;
    default:
      return true;
  }
}

int Fatal(const char* what, const std::string& detail) {
  LogEvent(LogLevel::kError, "startup_failed", {{"step", what}, {"detail", detail}});
  fprintf(stderr, "keycelld: %s: %s\n", what, detail.c_str());
  return 1;
}

// Signals are handled on one thread with sigwait, so handling can take locks.
void SignalLoop(ControlServer& server, std::atomic<int64_t>& idle_lock, std::atomic<bool>& stopping) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig == SIGHUP) {
      auto cfg = LoadConfig(ProcessEnvironment());
      if (cfg.ok()) {
        idle_lock = cfg->idle_lock_seconds;
        SetLogLevel(ParseLogLevel(cfg->log_level));
        LogEvent(LogLevel::kInfo, "config_reloaded", {{"idle_lock", std::to_string(cfg->idle_lock_seconds)}});
      } else {
        LogEvent(LogLevel::kWarn, "config_reload_failed", {{"detail", cfg.status().where()}});
      }
      continue;
    }
    LogEvent(LogLevel::kInfo, "stopping", {{"signal", sig == SIGTERM ? "TERM" : "INT"}});
    stopping = true;
    server.Stop();
    return;
  }
}

// Wakes once a second (or at once when stopping) to check the idle time.
struct Wakeup {
  std::mutex mu;
  std::condition_variable cv;
};

// The daemon's clock: idle auto-lock, the audit chain's periodic checkpoint (sealed
// while the vault is unlocked; CheckpointDue decides when), and the expiry webhooks.
void TimerLoop(Vault& vault, std::atomic<int64_t>& idle_lock, std::atomic<bool>& stopping, Wakeup& wake) {
  constexpr int64_t kExpiryCheckTicks = 60;  // expiry is also checked at once after a change
  int64_t ticks = 0;
  while (!stopping.load()) {
    {
      std::unique_lock<std::mutex> lock(wake.mu);
      wake.cv.wait_for(lock, std::chrono::seconds(1), [&] { return stopping.load(); });
    }
    if (stopping.load()) return;
    (void)vault.CheckpointAudit();
    (void)vault.FireDueExpiry(/*force=*/++ticks % kExpiryCheckTicks == 0);
    const int64_t limit = idle_lock.load();
    if (limit > 0 && vault.enclave().unlocked() && vault.IdleSeconds() >= limit) {
      (void)vault.CheckpointAudit(/*now=*/true);
      const Status st = vault.enclave().Lock();
      LogEvent(LogLevel::kInfo, "auto_lock", {{"idle_seconds", std::to_string(limit)}, {"result", st.ok() ? "ok" : st.where()}});
    }
  }
}

int Run() {
  std::string why;
  auto cfg = LoadConfig(ProcessEnvironment(), &why);
  if (!cfg.ok()) return Fatal("config", why.empty() ? cfg.status().where() : why);
  SetLogLevel(ParseLogLevel(cfg->log_level));
  for (const std::string& w : cfg->warnings) LogEvent(LogLevel::kWarn, "config_warning", {{"detail", w}});
  if (Status st = EnsurePrivateDir(cfg->data_dir, &why); !st.ok()) return Fatal("data dir", why);
  if (Status st = EnsurePrivateDir(cfg->runtime_dir, &why); !st.ok()) return Fatal("runtime dir", why);
  std::string holder;
  auto lock = LockDataDir(cfg->data_dir, &holder);
  if (!lock.ok()) {
    if (lock.status().code() == Err::kUnavailable)
      return Fatal("already running", "another keycelld (pid " + holder + ") serves " + cfg->data_dir);
    return Fatal("lock file", strerror(lock.status().detail()));
  }
  auto routes = LoadRoutes(cfg->proxy_routes_file, &why);
  if (!routes.ok()) return Fatal("proxy routes", why);
  auto store = store::Store::Open(cfg->data_dir + "/keycell.db");
  if (!store.ok()) return Fatal("store", store.status().where());
  if (access(cfg->enclave_path.c_str(), X_OK) != 0)
    return Fatal("enclave", "cannot execute " + cfg->enclave_path + " (check enclave.path)");
  auto enclave = EnclaveClient::Start(LaunchFor(*cfg));
  if (!enclave.ok())
    return Fatal("enclave", std::string(enclave.status().where()) +
                                ": the token could not be opened (run keycell init, or check pkcs11.module "
                                "and pkcs11.token_label; the enclave's own message is above)");
  auto identities = identity::IdentityStore::Open(identity::IdentityDbPath(cfg->data_dir));
  if (!identities.ok()) return Fatal("identity store", identities.status().where());
  auto audit_log = audit::AuditLog::Open(audit::AuditLog::PathIn(cfg->data_dir));
  if (!audit_log.ok()) return Fatal("audit log", audit_log.status().where());
  auto hook_store = webhooks::WebhookStore::Open(webhooks::WebhookStore::PathIn(cfg->data_dir));
  if (!hook_store.ok()) return Fatal("webhook store", hook_store.status().where());
  // Webhook signatures are computed by the enclave over the webhook's sealed secret; a
  // locked vault makes the attempt fail, and the worker retries.
  EnclaveClient& enclave_ref = **enclave;
  webhooks::DeliveryWorker::Options delivery;
  delivery.http.extra_ca_file = cfg->tls_extra_ca_file;
  delivery.http.address_allowed = WebhookAddressAllowed;
  auto worker = webhooks::DeliveryWorker::Start(
      hook_store->get(),
      [&enclave_ref](const webhooks::Webhook& h, ByteView body) {
        return enclave_ref.Hmac(RefOf(h.secret_ref.record_id, h.secret_ref.version, h.secret_ref.name),
                                h.sealed_secret, body);
      },
      delivery);
  if (!worker.ok()) return Fatal("webhook delivery", worker.status().where());
  webhooks::Dispatcher hooks(hook_store->get(), worker->get());
  auto server = ControlServer::Listen(ControlSocketPath(cfg->runtime_dir));
  if (!server.ok()) return Fatal("control socket", strerror(server.status().detail()));

  identity::UnlockLimiter unlock_limiter(identity::SystemClock(),
                                         static_cast<uint32_t>(cfg->unlock_max_attempts_per_minute));
  Vault vault(VaultDeps{**store, **enclave, **identities, **audit_log, unlock_limiter, **hook_store, hooks,
                        cfg->data_dir});
  identity::RateLimiter rate_limiter(
      identity::SystemClock(),
      identity::RateLimit{static_cast<uint32_t>(cfg->ratelimit_requests_per_minute), 0});
  RestApi rest(vault, **identities, rate_limiter, cfg->ratelimit_requests_per_minute);
  ProxyChannels channels(**enclave);
  ProxyService proxy(vault, channels, hooks, std::move(*routes), ProxySettings{});
  vault.SetProxy(&proxy);  // the `proxy` control op (keycell proxy)
  http::Router router;
  if (Status st = rest.Register(router); !st.ok()) return Fatal("http routes", st.where());
  if (Status st = proxy.Register(router, rest); !st.ok()) return Fatal("http routes", st.where());
  // MCP over Streamable HTTP (/mcp) and legacy SSE (/sse, /messages): one tool registry
  // per session, bound to the principal that opened it (docs/mcp.md).
  McpHttpOptions mcp_options;
  mcp_options.server.version = KEYCELL_VERSION;
  mcp_options.server.instructions =
      "keycell keeps API keys sealed; use proxy_request to call an API with a credential "
      "you never see. Never ask the user to paste a key.";
  McpToolOptions tool_options;
  tool_options.tool_sets = cfg->mcp_tool_sets;
  const McpRegistryFactory mcp_tools = [&vault, tool_options](const identity::Principal& who) {
    return BuildToolRegistry(vault, who, tool_options);
  };
  McpHttp mcp(mcp_tools, mcp_options);
  if (Status st = mcp.Register(router, rest); !st.ok()) return Fatal("http routes", st.where());
  // ... and over the control socket for `keycell mcp` (stdio): the `mcp` op.
  McpStreamOptions stream_options;
  stream_options.server = mcp_options.server;
  McpStream mcp_stream(vault, mcp_tools, stream_options);
  (*server)->SetStreamHandler("mcp", [&mcp_stream](int conn, const identity::Principal& owner, const cJSON* args) {
    mcp_stream.Serve(conn, owner, args);
  });
  http::ServerOptions http_options;
  http_options.access_log = [](const http::AccessLogEntry& e) {
    LogEvent(LogLevel::kDebug, "http", {{"method", e.method}, {"path", e.path}, {"status", std::to_string(e.status)}});
  };
  http::Server http_server(std::move(router), http_options);
  if (Status st = http_server.Listen(cfg->http_host, cfg->http_port); !st.ok())
    return Fatal("http listener", cfg->http_listen + ": " + (st.detail() != 0 ? strerror(st.detail()) : st.where()) +
                                      " (set http.listen / KEYCELL_HTTP_LISTEN to another address; port 0 picks a free one)");
  const std::string http_address = cfg->http_host + ":" + std::to_string(http_server.port());
  vault.SetHttpAddress(http_address);

  std::atomic<int64_t> idle_lock{cfg->idle_lock_seconds};
  std::atomic<bool> stopping{false};
  std::thread signals(SignalLoop, std::ref(**server), std::ref(idle_lock), std::ref(stopping));
  Wakeup wake;
  std::thread idle(TimerLoop, std::ref(vault), std::ref(idle_lock), std::ref(stopping), std::ref(wake));
  LogEvent(LogLevel::kInfo, "started", {{"pid", std::to_string(getpid())}, {"data_dir", cfg->data_dir},
                                        {"socket", ControlSocketPath(cfg->runtime_dir)}, {"http", http_address}});
  (*server)->Serve(vault);
  if (!stopping.exchange(true)) kill(getpid(), SIGTERM);  // wake the signal thread to end it
  signals.join();
  {
    std::lock_guard<std::mutex> guard(wake.mu);
    wake.cv.notify_all();
  }
  idle.join();
  (*server)->WaitIdle(5000);
  http_server.Stop(std::chrono::seconds(2));
  (*worker)->Stop();  // pending retries are logged as abandoned
  (void)vault.CheckpointAudit(/*now=*/true);
  const Status locked = (*enclave)->Lock();  // log out of the token before leaving
  LogEvent(LogLevel::kInfo, "stopped", {{"vault", locked.ok() ? "locked" : locked.where()}});
  if ((*server)->active() > 0) _exit(0);  // a stuck client must not keep us alive
  return 0;
}

}  // namespace
}  // namespace keycell::broker::daemon

int main(int argc, char** argv) {
  if (argc > 1) {
    const bool help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;
    fputs(keycell::broker::daemon::kHelp, help ? stdout : stderr);
    return help ? 0 : 2;
  }
  // Block the signals before any thread starts, so only SignalLoop receives them.
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return keycell::broker::daemon::Run();
}

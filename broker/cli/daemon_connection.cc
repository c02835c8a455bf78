#include "broker/cli/daemon_connection.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker/daemon/control_server.h"

namespace keycell::cli {
namespace {

constexpr int kStartWaitMs = 10 * 1000;

Result<UniqueFd> Connect(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path))
    return Status(Err::kInvalidArgument, "socket path too long");
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Status(Err::kUpstreamIo, "socket", errno);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    return Status(Err::kUnavailable, "connect", errno);
  return fd;
}

// In the daemon-to-be, after the second fork: a clean slate, then exec. Reports its pid,
// then (only if exec fails) errno, through `report` (CLOEXEC: exec closes it).
[[noreturn]] void ExecDaemon(const std::string& exe, const std::string& log, int report) {
  const int32_t pid = getpid();
  (void)!write(report, &pid, sizeof(pid));
  const int in = open("/dev/null", O_RDONLY);
  const int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (in < 0 || out < 0) _exit(127);
  dup2(in, 0);
  dup2(out, 1);
  dup2(out, 2);
  // The daemon outlives us: it must not keep our caller's descriptors (a --pin-fd
  // pipe, the pipes a script reads our output from, which would never see EOF).
  // Marked close-on-exec rather than closed: `report` must survive a failed exec.
  if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0)  // kernels before 5.11
    for (int fd = 3; fd < 4096; ++fd) (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
  // keycelld waits for these with sigwait; an inherited SIG_IGN (a shell's background
  // job ignores SIGINT) would discard them before they are ever pending.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGPIPE}) signal(sig, SIG_DFL);
  execl(exe.c_str(), exe.c_str(), static_cast<char*>(nullptr));
  const int32_t err = errno;
  (void)!write(report, &err, sizeof(err));
  _exit(127);
}

// Double fork + setsid: the daemon outlives this command and has no terminal.
// Returns its pid. Errors: kUnavailable (fork failed, or exec failed: detail errno).
Result<pid_t> SpawnDaemon(const broker::Config& config) {
  const std::string exe = KeycelldPath();
  const std::string log = config.data_dir + "/keycelld.log";
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) return Status(Err::kUnavailable, "pipe", errno);
  UniqueFd rd(report[0]), wr(report[1]);
  const pid_t child = fork();
  if (child < 0) return Status(Err::kUnavailable, "fork", errno);
  if (child == 0) {
    setsid();
    if (fork() != 0) _exit(0);
    ExecDaemon(exe, log, wr.get());
  }
  wr.reset();
  int status = 0;
  waitpid(child, &status, 0);
  int32_t pid = 0, err = 0;
  if (read(rd.get(), &pid, sizeof(pid)) != sizeof(pid))
    return Status(Err::kUnavailable, "fork", ECHILD);
  if (read(rd.get(), &err, sizeof(err)) == sizeof(err))
    return Status(Err::kUnavailable, "exec keycelld", err);
  return static_cast<pid_t>(pid);
}

// Running, as opposed to gone or a zombie nobody reaped yet.
bool Alive(pid_t pid) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/stat", static_cast<int>(pid));
  UniqueFd fd(open(path, O_RDONLY | O_CLOEXEC));
  char buf[512] = {};
  if (!fd || read(fd.get(), buf, sizeof(buf) - 1) <= 0) return false;
  const char* paren = strrchr(buf, ')');  // the state follows the (comm) field
  return paren != nullptr && paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X';
}

// Another keycelld (started by a concurrent command) holds the data dir: ours exited
// because of it, and the other one is about to listen.
bool OtherDaemonAlive(const broker::Config& config, pid_t ours) {
  char buf[32] = {};
  UniqueFd fd(
      open((config.data_dir + "/keycelld.lock").c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return false;
  if (read(fd.get(), buf, sizeof(buf) - 1) > 0) {
    const pid_t holder = static_cast<pid_t>(atoi(buf));
    if (holder > 0 && holder != ours && Alive(holder)) return true;
  }
  // The winner takes the flock before it writes its pid: between the two, the file is
  // empty or names a dead daemon. The lock itself says whether someone holds it (a
  // shared probe, released at once; flock and keycelld's LOCK_EX exclude each other).
  if (flock(fd.get(), LOCK_SH | LOCK_NB) != 0) return errno == EWOULDBLOCK;
  flock(fd.get(), LOCK_UN);
  return false;
}

// The daemon's last words (keycelld prints "keycelld: what: detail" when it gives up).
std::string LastLogLine(const std::string& log) {
  UniqueFd fd(open(log.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return "";
  const off_t size = lseek(fd.get(), 0, SEEK_END);
  char buf[2048];
  const off_t from =
      size > static_cast<off_t>(sizeof(buf)) ? size - static_cast<off_t>(sizeof(buf)) : 0;
  const ssize_t n = pread(fd.get(), buf, sizeof(buf), from);
  if (n <= 0) return "";
  std::string text(buf, static_cast<size_t>(n));
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text.substr(text.find_last_of('\n') + 1);
}

}  // namespace

std::string KeycelldPath() {
  if (const char* p = getenv("KEYCELL_KEYCELLD_PATH"); p != nullptr && *p != '\0') return p;
  char self[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return "keycelld";
  std::string dir(self, static_cast<size_t>(n));
  dir.erase(dir.find_last_of('/') + 1);
  return dir + "keycelld";
}

Result<DaemonConnection> DaemonConnection::Open(const broker::Config& config, bool autostart,
                                                std::string* why) {
  const std::string path = broker::daemon::ControlSocketPath(config.runtime_dir);
  if (auto fd = Connect(path); fd.ok()) return DaemonConnection(std::move(*fd));
  if (!autostart) {
    *why = "keycelld is not running (start it with: keycell daemon)";
    return Status(Err::kUnavailable, "daemon not running");
  }
  if (access((config.data_dir + "/keycell.db").c_str(), F_OK) != 0 &&
      access((config.data_dir + "/softhsm/softhsm2.conf").c_str(), F_OK) != 0 &&
      config.pkcs11_module == KEYCELL_PKCS11_MODULE) {
    *why = "no vault in " + config.data_dir + " (run: keycell init)";
    return Status(Err::kUnknownKey, "not initialised");
  }
  const std::string log = config.data_dir + "/keycelld.log";
  auto pid = SpawnDaemon(config);
  if (!pid.ok()) {
    *why = "cannot start " + KeycelldPath() + ": " + strerror(pid.status().detail());
    return pid.status();
  }
  for (int waited = 0; waited < kStartWaitMs; waited += 20) {
    if (auto fd = Connect(path); fd.ok()) return DaemonConnection(std::move(*fd));
    if (!Alive(*pid) && !OtherDaemonAlive(config, *pid)) {
      if (auto fd = Connect(path); fd.ok()) return DaemonConnection(std::move(*fd));
      *why = "keycelld did not start: " + LastLogLine(log) + " (log: " + log + ")";
      return Status(Err::kUnavailable, "daemon exited");
    }
    usleep(20 * 1000);
  }
  *why = "keycelld did not start within 10 s; see " + log;
  return Status(Err::kUnavailable, "daemon did not start");
}

Result<json::Json> DaemonConnection::Call(std::string_view op, const cJSON* args, int fd,
                                          broker::daemon::ControlError* error, int timeout_ms) {
  KC_RETURN_IF_ERROR(Send(op, args, fd, timeout_ms));
  return Receive(error, timeout_ms);
}

Status DaemonConnection::Send(std::string_view op, const cJSON* args, int fd, int timeout_ms) {
  return broker::daemon::SendControlRequest(sock_.get(), op, args, fd, timeout_ms);
}

Result<json::Json> DaemonConnection::Receive(broker::daemon::ControlError* error, int timeout_ms) {
  return broker::daemon::RecvControlResponse(sock_.get(), timeout_ms, error);
}

}  // namespace keycell::cli

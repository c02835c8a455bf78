#include "tests/broker/cli/cli_harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <mbedtls/md.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace keycell::test {
namespace {

int64_t NowMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

std::vector<char*> CStrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Pipes for one child: [0] stdin, [1] stdout, [2] stderr, [3] fd 3 (optional).
struct ChildPipes {
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, fd3[2] = {-1, -1};
};

// After fork: only async-signal-safe calls (the test process has threads).
[[noreturn]] void ExecChild(const ChildPipes& p, const std::string& cwd, char** argv, char** envp,
                            bool path_lookup) {
  dup2(p.in[0], 0);
  dup2(p.out[1], 1);
  dup2(p.err[1] >= 0 ? p.err[1] : p.out[1], 2);
  if (p.fd3[0] >= 0) dup2(p.fd3[0], 3);
  close_range(p.fd3[0] >= 0 ? 4 : 3, ~0U, 0);
  if (chdir(cwd.c_str()) != 0) _exit(125);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  signal(SIGPIPE, SIG_DFL);
  if (path_lookup)
    execvpe(argv[0], argv, envp);
  else
    execve(argv[0], argv, envp);
  _exit(126);
}

void MustPipe(int fds[2]) {
  if (pipe2(fds, O_CLOEXEC) != 0) abort();  // out of fds: nothing sensible to test
}

void WriteAllFd(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t w = write(fd, data.data() + off, data.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    off += static_cast<size_t>(w);
  }
}

// Feeds stdin and collects stdout/stderr until both close, or the deadline.
void Pump(int in_fd, const std::string& input, int out_fd, int err_fd, int64_t deadline,
          ProcResult* r) {
  size_t sent = 0;
  if (input.empty()) {
    close(in_fd);
    in_fd = -1;
  }
  while (out_fd >= 0 || err_fd >= 0) {
    pollfd fds[3] = {{in_fd, POLLOUT, 0}, {out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
    const int64_t left = deadline - NowMs();
    if (left <= 0 || poll(fds, 3, static_cast<int>(left)) == 0) break;
    if (in_fd >= 0 && fds[0].revents != 0) {
      const ssize_t w = write(in_fd, input.data() + sent, input.size() - sent);
      if (w > 0) sent += static_cast<size_t>(w);
      if (w <= 0 || sent == input.size()) {
        close(in_fd);
        in_fd = -1;
      }
    }
    for (int i = 1; i < 3; ++i) {
      if (fds[i].revents == 0) continue;
      char buf[65536];
      const ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) (i == 1 ? r->out : r->err).append(buf, static_cast<size_t>(n));
      if (n == 0 || (n < 0 && errno != EINTR)) {
        close(fds[i].fd);
        (i == 1 ? out_fd : err_fd) = -1;
      }
    }
  }
  for (int fd : {in_fd, out_fd, err_fd})
    if (fd >= 0) close(fd);
}

// Ends the daemons the sandbox started: they are our children (subreaper), as are
// enclaves orphaned by a kill -9.
void ReapStrayChildren() {
  for (int i = 0; i < 50; ++i) {
    int status = 0;
    const pid_t p = waitpid(-1, &status, WNOHANG);
    if (p <= 0) break;
  }
}

struct SubreaperOnce {
  SubreaperOnce() {
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    signal(SIGPIPE, SIG_IGN);  // a child that stops reading its stdin must not kill the test
  }
};

}  // namespace

CliSandbox::CliSandbox() {
  static SubreaperOnce once;
  char tmpl[] = "/tmp/kc-cli-XXXXXX";
  root_ = mkdtemp(tmpl);
  data_dir_ = root_ + "/data";  // created 0700 by init
  runtime_dir_ = root_ + "/run";
  config_dir_ = root_ + "/config";
  home_ = root_ + "/home";
  for (const auto& d : {runtime_dir_, config_dir_, home_}) mkdir(d.c_str(), 0700);
}

CliSandbox::~CliSandbox() {
  StopDaemon();
  ReapStrayChildren();
  std::error_code ec;
  std::filesystem::remove_all(root_, ec);
}

std::vector<std::string> CliSandbox::Environment(
    const std::map<std::string, std::string>& extra) const {
  std::map<std::string, std::string> env = {
      {"PATH", "/usr/local/bin:/usr/bin:/bin"}, {"HOME", home_},
      {"XDG_RUNTIME_DIR", runtime_dir_},        {"XDG_CONFIG_HOME", config_dir_},
      {"KEYCELL_DATA_DIR", data_dir_},          {"LANG", "C.UTF-8"},
      {"KEYCELL_LOG_LEVEL", "debug"},  // the most verbose log must still hold no secret
      {"KEYCELL_HTTP_LISTEN", "127.0.0.1:0"},  // tests run in parallel: a free port each
  };
  for (const auto& [k, v] : extra) env[k] = v;
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

pid_t CliSandbox::Start(const std::vector<std::string>& args, const RunOptions& opts, int* out_fd,
                        int* in_fd) const {
  std::vector<std::string> argv = {KEYCELL_CLI_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::string> envs = Environment(opts.env);
  auto cargv = CStrings(argv);
  auto cenv = CStrings(envs);
  ChildPipes p;
  MustPipe(p.in);
  MustPipe(p.out);
  if (opts.fd3) {
    MustPipe(p.fd3);
    WriteAllFd(p.fd3[1], *opts.fd3);
    close(p.fd3[1]);
  }
  if (out_fd == nullptr) {
    close(p.out[0]);
    close(p.out[1]);
    p.out[1] = open("/dev/null", O_WRONLY | O_CLOEXEC);
  }
  const std::string cwd = opts.cwd.empty() ? root_ : opts.cwd;
  const pid_t pid = fork();
  if (pid == 0) ExecChild(p, cwd, cargv.data(), cenv.data(), false);
  close(p.in[0]);
  WriteAllFd(p.in[1], opts.stdin_data);
  if (in_fd != nullptr)
    *in_fd = p.in[1];
  else
    close(p.in[1]);
  close(p.out[1]);
  if (p.fd3[0] >= 0) close(p.fd3[0]);
  if (out_fd != nullptr) *out_fd = p.out[0];
  return pid;
}

int CliSandbox::Wait(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

ProcResult CliSandbox::Run(const std::vector<std::string>& argv_in, const RunOptions& opts) const {
  std::vector<std::string> argv = argv_in;
  std::vector<std::string> envs = Environment(opts.env);
  auto cargv = CStrings(argv);
  auto cenv = CStrings(envs);
  ChildPipes p;
  MustPipe(p.in);
  MustPipe(p.out);
  MustPipe(p.err);
  if (opts.fd3) {
    MustPipe(p.fd3);
    WriteAllFd(p.fd3[1], *opts.fd3);
    close(p.fd3[1]);
  }
  const std::string cwd = opts.cwd.empty() ? root_ : opts.cwd;
  const int64_t deadline = NowMs() + opts.timeout_ms;
  const pid_t pid = fork();
  if (pid == 0)
    ExecChild(p, cwd, cargv.data(), cenv.data(), argv[0].find('/') == std::string::npos);
  for (int fd : {p.in[0], p.out[1], p.err[1], p.fd3[0]})
    if (fd >= 0) close(fd);
  ProcResult r;
  Pump(p.in[1], opts.stdin_data, p.out[0], p.err[0], deadline, &r);
  if (NowMs() >= deadline) kill(pid, SIGKILL);
  const int status = Wait(pid);
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.term_signal = WTERMSIG(status);
  return r;
}

ProcResult CliSandbox::Keycell(const std::vector<std::string>& args, const RunOptions& opts) const {
  std::vector<std::string> argv = {KEYCELL_CLI_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  return Run(argv, opts);
}

ProcResult CliSandbox::Init() const {
  RunOptions o;
  o.fd3 = std::string(kPin) + "\n";
  return Keycell({"init", "--pin-fd", "3"}, o);
}

ProcResult CliSandbox::Unlock() const {
  RunOptions o;
  o.fd3 = std::string(kPin) + "\n";
  return Keycell({"unlock", "--pin-fd", "3"}, o);
}

ProcResult CliSandbox::Add(const std::string& name, const std::string& value,
                           std::vector<std::string> flags) const {
  std::vector<std::string> args = {"add", name};
  args.insert(args.end(), flags.begin(), flags.end());
  RunOptions o;
  o.stdin_data = value;
  return Keycell(args, o);
}

ProcResult CliSandbox::Reveal(const std::string& name) const {
  return Keycell({"get", name, "--reveal", "--purpose", "test"});
}

pid_t CliSandbox::DaemonPid() const {
  const pid_t pid = static_cast<pid_t>(atoi(ReadFile(data_dir_ + "/keycelld.lock").c_str()));
  return pid > 0 && ProcessAlive(pid) ? pid : 0;
}

void CliSandbox::StopDaemon() const {
  const pid_t pid = DaemonPid();
  if (pid == 0) return;
  kill(pid, SIGTERM);
  for (int i = 0; i < 500; ++i) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);  // ours thanks to the subreaper bit
    if (r == pid || (r < 0 && errno == ECHILD && !ProcessAlive(pid))) return;
    usleep(20 * 1000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool ProcessAlive(pid_t pid) {
  const std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  const size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z' &&
         stat[paren + 2] != 'X';
}

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[32];
  mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
             reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  std::string hex;
  for (unsigned char c : digest) {
    hex += "0123456789abcdef"[c >> 4];
    hex += "0123456789abcdef"[c & 15];
  }
  return hex;
}

std::string RandomToken(const std::string& prefix, size_t hex_chars) {
  std::string out = prefix;
  for (size_t i = 0; i < hex_chars; ++i) {
    uint8_t b = 0;
    (void)!getrandom(&b, 1, 0);
    out += "0123456789abcdef"[b & 15];
  }
  return out;
}

PtyKeycell::PtyKeycell(const CliSandbox& box, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {KEYCELL_CLI_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::string> envs = box.Environment({});
  auto cargv = CStrings(argv);
  auto cenv = CStrings(envs);
  const std::string cwd = box.root();
  pid_ = forkpty(&master_, nullptr, nullptr, nullptr);  // setsid + the pty as controlling tty
  if (pid_ == 0) {
    if (chdir(cwd.c_str()) != 0) _exit(125);
    execve(cargv[0], cargv.data(), cenv.data());
    _exit(126);
  }
}

PtyKeycell::~PtyKeycell() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    CliSandbox::Wait(pid_);
  }
  if (master_ >= 0) close(master_);
}

bool PtyKeycell::ReadSome(int timeout_ms) {
  pollfd p{master_, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) != 1) return false;
  char buf[512];
  const ssize_t n = read(master_, buf, sizeof(buf));
  if (n <= 0) return false;  // EIO once the child has gone
  seen_.append(buf, static_cast<size_t>(n));
  return true;
}

bool PtyKeycell::WaitFor(const std::string& text) {
  const int64_t deadline = NowMs() + 10000;
  while (seen_.find(text) == std::string::npos) {
    if (NowMs() >= deadline || !ReadSome(static_cast<int>(deadline - NowMs()))) return false;
  }
  return true;
}

bool PtyKeycell::EchoOn() const {
  termios t{};
  tcgetattr(master_, &t);  // on a pty master: the slave's settings
  return (t.c_lflag & ECHO) != 0;
}

void PtyKeycell::Type(const std::string& line) { WriteAllFd(master_, line); }

int PtyKeycell::Finish() {
  while (ReadSome(10000)) {
  }
  const int status = CliSandbox::Wait(pid_);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

CmdlineScanner::CmdlineScanner(std::vector<std::string> needles)
    : needles_(std::move(needles)), thread_([this] { Loop(); }) {}

CmdlineScanner::~CmdlineScanner() { (void)Stop(); }

std::vector<std::string> CmdlineScanner::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  return found_;
}

void CmdlineScanner::Loop() {
  while (!stop_.load()) {
    DIR* d = opendir("/proc");
    if (d == nullptr) return;
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      const std::string cmdline = ReadFile(std::string("/proc/") + e->d_name + "/cmdline");
      for (const auto& n : needles_)
        if (cmdline.find(n) != std::string::npos)
          found_.push_back(std::string(e->d_name) + ": " + n);
    }
    closedir(d);
    ++scans_;
  }
}

}  // namespace keycell::test

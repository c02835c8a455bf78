#pragma once
// Drives the real `keycell` binary (and through it keycelld, keycell-enclave and
// SoftHSM2) in a throw-away home: every CliSandbox has its own data, runtime, config and
// home directories, passed to the processes it starts through KEYCELL_DATA_DIR,
// XDG_RUNTIME_DIR, XDG_CONFIG_HOME and HOME. Daemons it starts are stopped (SIGTERM via
// the pid in <data_dir>/keycelld.lock) and reaped when the sandbox goes: the test process
// is a child subreaper, so the double-forked keycelld is its child.

#include <sys/types.h>

#include <atomic>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace keycell::test {

struct ProcResult {
  int exit_code = -1;  // -1 when killed by a signal
  int term_signal = 0;
  std::string out, err;
};

struct RunOptions {
  std::string stdin_data;                  // written to stdin, which is then closed
  std::optional<std::string> fd3;          // if set: a pipe on fd 3 holding this (e.g. "PIN\n")
  std::string cwd;                         // default: the sandbox root
  std::map<std::string, std::string> env;  // added to / overriding the sandbox's
  int timeout_ms = 60 * 1000;
};

class CliSandbox {
 public:
  static constexpr const char* kPin = "test-pin-1234";

  CliSandbox();
  ~CliSandbox();
  CliSandbox(const CliSandbox&) = delete;
  CliSandbox& operator=(const CliSandbox&) = delete;

  // Runs `keycell ARGS...` to completion and captures its output.
  ProcResult Keycell(const std::vector<std::string>& args, const RunOptions& opts = {}) const;
  // Runs any program the same way (argv[0] looked up in PATH).
  ProcResult Run(const std::vector<std::string>& argv, const RunOptions& opts = {}) const;
  // Starts `keycell ARGS...` without waiting; stdout/stderr go to /dev/null unless
  // `out_fd` is given (then it is the read end of a pipe holding both). `fd3` as above.
  // stdin gets opts.stdin_data and is closed, unless `in_fd` is given: then it
  // receives the write end, still open.
  pid_t Start(const std::vector<std::string>& args, const RunOptions& opts = {},
              int* out_fd = nullptr, int* in_fd = nullptr) const;
  // Waits for a Start()ed process; returns the raw wait status.
  static int Wait(pid_t pid);

  // init --pin-fd 3 and unlock --pin-fd 3; ASSERT-style failures are reported by the
  // returned result (exit code 0 expected).
  ProcResult Init() const;
  ProcResult Unlock() const;
  // `keycell add NAME FLAGS...` with `value` on stdin.
  ProcResult Add(const std::string& name, const std::string& value,
                 std::vector<std::string> flags = {}) const;
  // get NAME --reveal --purpose test; stdout is the value.
  ProcResult Reveal(const std::string& name) const;

  // The pid in keycelld.lock if that process is alive (not a zombie), else 0.
  pid_t DaemonPid() const;
  // SIGTERM to the daemon, waits (reaping it) up to 10 s, then SIGKILL.
  void StopDaemon() const;

  const std::string& root() const { return root_; }
  const std::string& data_dir() const { return data_dir_; }
  std::string db_path() const { return data_dir_ + "/keycell.db"; }
  std::vector<std::string> Environment(const std::map<std::string, std::string>& extra) const;

 private:
  std::string root_, data_dir_, runtime_dir_, config_dir_, home_;
};

// `keycell ARGS...` on a pseudo-terminal (its controlling terminal, stdin, stdout and
// stderr), for the no-echo prompts and confirmations.
class PtyKeycell {
 public:
  PtyKeycell(const CliSandbox& box, const std::vector<std::string>& args);
  ~PtyKeycell();
  // Reads until `text` has appeared (true) or 10 s passed (false).
  bool WaitFor(const std::string& text);
  // Whether the terminal echoes input right now.
  bool EchoOn() const;
  void Type(const std::string& line);
  // Reads the rest of the output and waits; returns the exit code (-1 on a signal).
  int Finish();
  const std::string& seen() const { return seen_; }

 private:
  bool ReadSome(int timeout_ms);
  pid_t pid_ = -1;
  int master_ = -1;
  std::string seen_;
};

// The whole content of a file ("" if unreadable).
std::string ReadFile(const std::string& path);
// Lower-case hex SHA-256 of `data`, as sha256sum prints it.
std::string Sha256Hex(const std::string& data);
// Whether a process is alive and not a zombie.
bool ProcessAlive(pid_t pid);
// A random printable string starting with `prefix` (canaries, values).
std::string RandomToken(const std::string& prefix, size_t hex_chars = 32);

// Scans /proc/*/cmdline of every process, over and over on a thread, for `needles`;
// Stop() returns what it found ("pid: needle"), empty when nothing leaked.
class CmdlineScanner {
 public:
  explicit CmdlineScanner(std::vector<std::string> needles);
  ~CmdlineScanner();
  std::vector<std::string> Stop();
  size_t scans() const { return scans_.load(); }

 private:
  void Loop();
  std::vector<std::string> needles_;
  std::vector<std::string> found_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> scans_{0};
  std::thread thread_;
};

}  // namespace keycell::test

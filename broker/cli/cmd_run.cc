// keycell run: a command with credentials in its environment. The plaintext goes
// enclave → a pipe of ours → the child's environment block; keycelld only passes the
// pipe along. Values live in SecureBuffers until execve copies them into the child.

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>

#include "broker/cli/commands.h"
#include "broker/cli/output.h"
#include "broker/cli/secret_io.h"
#include "broker/cli/session.h"
#include "broker/envfile/dotenv_parser.h"
#include "common/ipc/message.h"

extern char** environ;

namespace keycell::cli {
namespace {

constexpr char kRunDetails[] =
    "Runs CMD with credentials in its environment: those named by --keys, those assigned\n"
    "to --project PATH, or by default those assigned to the current directory. Each\n"
    "credential becomes a variable named after it (upper case, other characters as _:\n"
    "openai-prod -> OPENAI_PROD), added to (or replacing) this shell's environment.\n"
    "Only credentials sealed with --env-export are set; the others are named on stderr.\n"
    "The values travel from the enclave through a pipe into CMD's environment; they\n"
    "never pass through keycelld, argv or a file. CMD's exit code is keycell's; if CMD\n"
    "is killed by a signal, keycell ends by the same signal. SIGINT, SIGTERM and SIGHUP\n"
    "sent to keycell are passed on to CMD. Put -- before CMD.\n"
    "\n"
    "Examples:\n"
    "  keycell run -- python app.py\n"
    "  keycell run --keys openai-prod -- sh -c 'curl -H \"Authorization: Bearer $OPENAI_PROD\" "
    "...'\n"
    "  keycell run --project ~/src/chatbot -- npm start\n";

// Records are NAME\0value\0, at most one per attachment the enclave accepts.
constexpr size_t kMaxRunOutput =
    ipc::kMaxAttachments * (broker::envfile::kMaxEnvNameBytes + 1 + kMaxValueBytes + 1);

struct RunOptions {
  std::vector<std::string> keys;
  std::string project;
  std::vector<std::string> command;
};

// The child's environment: ours minus the names we set, plus NAME=value strings that
// live in one SecureBuffer. envp points into environ and into that buffer.
struct ChildEnv {
  SecureBuffer block;
  std::vector<char*> envp;
};

Result<ChildEnv> BuildEnv(const std::vector<broker::envfile::EnvEntry>& entries) {
  size_t total = 0;
  std::set<std::string, std::less<>> names;
  for (const auto& e : entries) {
    total += e.name.size() + 1 + e.value.size() + 1;
    names.insert(e.name);
  }
  ChildEnv env;
  KC_ASSIGN_OR_RETURN(env.block, SecureBuffer::Allocate(total));
  for (char** p = environ; p != nullptr && *p != nullptr; ++p) {
    const std::string_view kv(*p);
    if (!names.contains(kv.substr(0, kv.find('=')))) env.envp.push_back(*p);
  }
  uint8_t* at = env.block.data();
  for (const auto& e : entries) {
    env.envp.push_back(reinterpret_cast<char*>(at));
    memcpy(at, e.name.data(), e.name.size());
    at += e.name.size();
    *at++ = '=';
    if (!e.value.empty()) memcpy(at, e.value.data(), e.value.size());
    at += e.value.size();
    *at++ = '\0';
  }
  env.envp.push_back(nullptr);
  return env;
}

// The running child, for the forwarding handler. pid_t fits sig_atomic_t on Linux.
volatile sig_atomic_t g_child = 0;
constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP};

void Forward(int sig, siginfo_t* info, void*) {
  // A signal from the terminal (Ctrl-C, hangup) already reached the child, which is in
  // our process group; forwarding it would deliver it twice.
  if (info != nullptr && info->si_code == SI_KERNEL) return;
  if (g_child > 0) kill(static_cast<pid_t>(g_child), sig);
}

void SetForwarding(bool on) {
  struct sigaction sa {};
  sigemptyset(&sa.sa_mask);
  if (on) {
    sa.sa_sigaction = Forward;
    sa.sa_flags = SA_SIGINFO;  // no SA_RESTART: waitpid returns EINTR and loops
  } else {
    sa.sa_handler = SIG_DFL;
  }
  for (int sig : kForwarded) sigaction(sig, &sa, nullptr);
}

// Exit like the child: its code, or death by the same signal.
int PassThrough(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (!WIFSIGNALED(status)) return kExitFailure;
  const int sig = WTERMSIG(status);
  const rlimit no_core{0, 0};
  setrlimit(RLIMIT_CORE, &no_core);  // the child's crash is the story, not ours
  fflush(stdout);
  signal(sig, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  sigprocmask(SIG_UNBLOCK, &set, nullptr);
  raise(sig);
  return 128 + sig;  // signals whose default is to be ignored (SIGCHLD, SIGWINCH...)
}

// posix_spawn rather than fork: SecureBuffer pages are MADV_WIPEONFORK, so a forked
// child would see its environment block zeroed. glibc's posix_spawn runs the child in
// our address space (CLONE_VM | CLONE_VFORK) until execve copies envp into the new
// image; no second copy of the values ever exists outside the CMD process.
Status Spawn(const std::vector<std::string>& command, ChildEnv& env, const sigset_t& child_mask,
             pid_t* pid) {
  std::vector<char*> argv;
  for (const auto& a : command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawnattr_t attr;
  if (posix_spawnattr_init(&attr) != 0) return Status(Err::kNoMem, "posix_spawnattr_init");
  // Caught signals revert to their default at exec anyway; SIGPIPE is the one we
  // ignore, and CMD gets it back as keycell received it.
  sigset_t defaults;
  sigemptyset(&defaults);
  if (InheritedSigpipeIsDefault()) sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &child_mask);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  const int err = posix_spawnp(pid, argv[0], nullptr, &attr, argv.data(), env.envp.data());
  posix_spawnattr_destroy(&attr);
  return err == 0 ? Status::Ok() : Status(Err::kUpstreamIo, "posix_spawnp", err);
}

int Launch(const std::vector<std::string>& command, ChildEnv& env) {
  // Blocked until g_child is set, so a signal in between is forwarded, not lost.
  sigset_t forwarded, old_mask;
  sigemptyset(&forwarded);
  for (int sig : kForwarded) sigaddset(&forwarded, sig);
  sigprocmask(SIG_BLOCK, &forwarded, &old_mask);
  SetForwarding(true);
  fflush(nullptr);
  pid_t pid = -1;
  const Status spawned = Spawn(command, env, old_mask, &pid);
  env.block.clear();  // CMD has its copy (exec'd or not); ours goes now
  if (!spawned.ok()) {
    SetForwarding(false);
    sigprocmask(SIG_SETMASK, &old_mask, nullptr);
    const int err = spawned.detail();
    // 127 / 126 as a shell reports a missing / unrunnable command.
    return Fail(err == ENOENT ? 127 : 126, "cannot run " + command[0] + ": " + strerror(err));
  }
  g_child = pid;
  sigprocmask(SIG_SETMASK, &old_mask, nullptr);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return Fail(kExitFailure, std::string("waitpid: ") + strerror(errno));
  }
  g_child = 0;
  SetForwarding(false);
  return PassThrough(status);
}

Result<json::Json> RunArgs(const RunOptions& o, int* exit_code) {
  json::Json args = json::MakeObject();
  if (!o.keys.empty()) {
    json::Json arr = json::MakeArray();
    for (const auto& k : o.keys)
      if (auto s = json::MakeString(k); s.ok()) (void)json::Append(arr.get(), std::move(*s));
    (void)json::Set(args.get(), "keys", std::move(arr));
    return args;
  }
  char resolved[PATH_MAX];
  const std::string project = o.project.empty() ? "." : o.project;
  if (realpath(project.c_str(), resolved) == nullptr) {
    *exit_code = Fail(kExitInvalid, project + ": " + strerror(errno));
    return Status(Err::kInvalidArgument, "project");
  }
  (void)json::SetString(args.get(), "project", resolved);
  return args;
}

int RunRun(const RunOptions& o) {
  int rc = kExitOk;
  auto args = RunArgs(o, &rc);
  if (!args.ok()) return rc;
  auto session = Session::Open(true, &rc);
  if (!session) return rc;
  SecureBuffer records;
  json::Json result;
  if ((rc = session->CallWithOutput("run", args->get(), kMaxRunOutput, &records, &result)) !=
      kExitOk)
    return rc;
  session.reset();  // nothing more to ask; CMD must not inherit the connection (CLOEXEC anyway)
  auto entries = broker::envfile::ParseNulRecords(records.view().bytes());
  records.clear();
  if (!entries.ok())
    return Fail(kExitFailure, "unreadable environment from the enclave: " +
                                  broker::envfile::DescribeEnvfileError(entries.status()));
  if (auto skipped = StringsOf(json::GetArray(result.get(), "skipped")); !skipped.empty())
    fprintf(stderr, "keycell: not set (refused by their sealed policy): %s\n",
            JoinOrDash(skipped, ", ").c_str());
  auto env = BuildEnv(*entries);
  entries->clear();
  if (!env.ok()) return Fail(kExitFailure, "out of locked memory for the environment");
  return Launch(o.command, *env);
}

}  // namespace

void RegisterRunCommand(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* c =
      AddCommand(app, "run", "Run a command with credentials in its environment", kRunDetails);
  CLI::Option* keys = c->add_option("--keys", o->keys, "These credentials (comma-separated)")
                          ->delimiter(',')
                          ->allow_extra_args(false)
                          ->type_name("A,B");
  c->add_option("--project", o->project,
                "The credentials assigned to this directory (default: the current one)")
      ->type_name("PATH")
      ->excludes(keys);
  c->add_option("command", o->command, "The command and its arguments, after --")
      ->required()
      ->type_name("CMD ARGS...");
  c->callback([o, &exit_code] { exit_code = RunRun(*o); });
}

}  // namespace keycell::cli

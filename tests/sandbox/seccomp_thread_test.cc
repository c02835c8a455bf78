// Channel threads under the real filters. The enclave starts one pthread per proxy
// channel only after both stages are loaded, so every child here applies kLocked, then
// kServing, and only then creates threads (the first pthread_create of the process
// happens under the filters, as in the enclave). Then: process creation is still
// killed, and clone3 answers ENOSYS so glibc falls back to the checked clone.
#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ostream>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/ipc/framing.h"
#include "sandbox/hardening.h"
#include "sandbox/seccomp_policy.h"
#include "tests/sandbox/sandbox_test_util.h"

namespace keycell::sandbox {
namespace {

using testing::ApplyOrExit;
using testing::KilledBySeccomp;
using testing::MakeControlFd;

constexpr size_t kChannelThreadStack = size_t{512} << 10;  // as the enclave's channel threads
constexpr int kChannels = 2;
constexpr int kTimeoutMs = 5000;

bool PayloadIs(const ipc::Frame& frame, std::string_view want) {
  return frame.payload.size() == want.size() &&
         memcmp(frame.payload.data(), want.data(), want.size()) == 0;
}

// The broker's side of one proxy channel.
struct BrokerChannel {
  int end = -1;        // its end of the channel socketpair
  int pipe_read = -1;  // read end of the pipe whose write end travels with the request
};

// Broker side, before lockdown: a channel socketpair whose enclave end goes to the
// "enclave" over the control socket (SCM_RIGHTS), and a first request on the channel
// that itself carries an fd (a pipe's write end). Only the copies in flight remain, so
// the fd numbers the enclave receives are not known in advance.
int HandOverChannel(int control_broker_end, BrokerChannel* out) {
  int channel[2];
  int pipe_fds[2];
  KC_CHILD_EXPECT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, channel) == 0);
  KC_CHILD_EXPECT(pipe2(pipe_fds, O_CLOEXEC) == 0);
  const ByteView hello[] = {AsBytes("channel")};
  KC_CHILD_EXPECT(ipc::SendFrame(control_broker_end, hello, channel[0], kTimeoutMs).ok());
  const ByteView ping[] = {AsBytes("ping")};
  KC_CHILD_EXPECT(ipc::SendFrame(channel[1], ping, pipe_fds[1], kTimeoutMs).ok());
  KC_CHILD_EXPECT(close(channel[0]) == 0 && close(pipe_fds[1]) == 0);
  *out = {channel[1], pipe_fds[0]};
  return 0;
}

struct ChannelThread {
  int fd = -1;      // the enclave's end of the channel, received by SCM_RIGHTS
  int result = -1;  // 0 when every step worked
};

// What a channel thread does: a framed request carrying an fd, a framed reply passing
// that fd back with SCM_RIGHTS, then run until the channel closes.
int ServeChannel(int fd) {
  auto ping = ipc::RecvFrame(fd, kTimeoutMs);
  KC_CHILD_EXPECT(ping.ok() && PayloadIs(*ping, "ping") && ping->fd.valid());
  const ByteView pong[] = {AsBytes("pong")};
  KC_CHILD_EXPECT(ipc::SendFrame(fd, pong, ping->fd.get(), kTimeoutMs).ok());
  auto eof = ipc::RecvFrame(fd, kTimeoutMs);
  KC_CHILD_EXPECT(!eof.ok() && eof.status().code() == Err::kUnavailable);
  KC_CHILD_EXPECT(close(fd) == 0);
  return 0;
}

void* ChannelThreadMain(void* arg) {
  auto* t = static_cast<ChannelThread*>(arg);
  t->result = ServeChannel(t->fd);
  return nullptr;
}

// Under both filters: receive each channel fd on the control socket, start one thread
// per channel with an explicit 512 KiB stack, play the broker on the other end (the fd
// the thread passes back must work), close the channel and join.
int RunChannels(int control_fd, const BrokerChannel broker[kChannels]) {
  ChannelThread threads[kChannels];
  pthread_t ids[kChannels];
  pthread_attr_t attr;
  KC_CHILD_EXPECT(pthread_attr_init(&attr) == 0);
  KC_CHILD_EXPECT(pthread_attr_setstacksize(&attr, kChannelThreadStack) == 0);
  for (int i = 0; i < kChannels; ++i) {
    auto handed = ipc::RecvFrame(control_fd, kTimeoutMs);
    KC_CHILD_EXPECT(handed.ok() && PayloadIs(*handed, "channel") && handed->fd.valid());
    threads[i].fd = handed->fd.release();
    KC_CHILD_EXPECT(threads[i].fd != control_fd);
    errno = pthread_create(&ids[i], &attr, ChannelThreadMain, &threads[i]);
    KC_CHILD_EXPECT(errno == 0);
  }
  KC_CHILD_EXPECT(pthread_attr_destroy(&attr) == 0);
  for (int i = 0; i < kChannels; ++i) {
    auto pong = ipc::RecvFrame(broker[i].end, kTimeoutMs);
    KC_CHILD_EXPECT(pong.ok() && PayloadIs(*pong, "pong") && pong->fd.valid());
    KC_CHILD_EXPECT(write(pong->fd.get(), "x", 1) == 1);  // the fd that went round trip
    char c = 0;
    KC_CHILD_EXPECT(read(broker[i].pipe_read, &c, 1) == 1 && c == 'x');
    KC_CHILD_EXPECT(close(broker[i].end) == 0);  // the channel closes: the thread ends
  }
  for (int i = 0; i < kChannels; ++i) {
    errno = pthread_join(ids[i], nullptr);
    KC_CHILD_EXPECT(errno == 0);
    KC_CHILD_EXPECT(threads[i].result == 0);
  }
  return 0;
}

class SeccompThreadTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(SeccompThreadTest, ChannelThreadsServeFramesUnderBothStages) {
  EXPECT_EXIT(
      {
        int control[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, control) != 0)
          _exit(testing::kSetupFailedExit);
        BrokerChannel broker[kChannels];
        for (BrokerChannel& channel : broker) {
          if (HandOverChannel(control[1], &channel) != 0) _exit(testing::kSetupFailedExit);
        }
        ApplyOrExit(Stage::kLocked, control[0]);
        ApplyOrExit(Stage::kServing, control[0]);
        _exit(RunChannels(control[0], broker));
      },
      ::testing::ExitedWithCode(0), "");
}

// KC_CHECK in a channel thread: abort() raises SIGABRT with tgkill(pid, tid), which
// the filter admits for the process's own pid from any of its threads.
void* FailCheck(void* arg) {
  KC_CHECK(arg == nullptr);
  return nullptr;
}

TEST_F(SeccompThreadTest, AbortInChannelThreadStillRaisesSigabrt) {
  EXPECT_EXIT(
      {
        const int control_fd = MakeControlFd();
        ApplyOrExit(Stage::kLocked, control_fd);
        ApplyOrExit(Stage::kServing, control_fd);
        pthread_t id;
        int arg = 0;
        if (pthread_create(&id, nullptr, FailCheck, &arg) != 0) _exit(testing::kSetupFailedExit);
        (void)pthread_join(id, nullptr);
        _exit(0);
      },
      ::testing::KilledBySignal(SIGABRT), "invariant violated");
}

// Channel threads allocate (TLS records, frames). With UseSingleMallocArena() that
// stays inside the filters even when a thread frees enough to trim (>= 128 KiB) and
// when more than 8 threads allocate at once. Without it glibc 2.36 opens
// /proc/sys/vm/overcommit_memory or /sys/devices/system/cpu/online from malloc and
// the serving filter kills the process (measured; see hardening.h).
constexpr int kMallocThreads = 12;
constexpr size_t kTrimmableChunk = size_t{100} << 10;  // below the 128 KiB mmap threshold
pthread_barrier_t g_all_threads_allocated;

void* AllocateAndTrim(void*) {
  void* chunks[4];
  for (void*& chunk : chunks) {
    chunk = std::malloc(kTrimmableChunk);
    if (chunk != nullptr) memset(chunk, 0x5a, kTrimmableChunk);
  }
  (void)pthread_barrier_wait(&g_all_threads_allocated);  // all arenas wanted at once
  bool ok = true;
  for (void* chunk : chunks) {
    ok = ok && chunk != nullptr;
    std::free(chunk);  // leaves 400 KiB on top of the heap: malloc trims
  }
  return ok ? nullptr : &g_all_threads_allocated;
}

int RunAllocatingThreads() {
  KC_CHILD_EXPECT(pthread_barrier_init(&g_all_threads_allocated, nullptr, kMallocThreads) == 0);
  pthread_attr_t attr;
  KC_CHILD_EXPECT(pthread_attr_init(&attr) == 0);
  KC_CHILD_EXPECT(pthread_attr_setstacksize(&attr, kChannelThreadStack) == 0);
  pthread_t ids[kMallocThreads];
  for (pthread_t& id : ids) {
    errno = pthread_create(&id, &attr, AllocateAndTrim, nullptr);
    KC_CHILD_EXPECT(errno == 0);
  }
  for (pthread_t id : ids) {
    void* failed = nullptr;
    errno = pthread_join(id, &failed);
    KC_CHILD_EXPECT(errno == 0 && failed == nullptr);
  }
  return 0;
}

TEST_F(SeccompThreadTest, ThreadMallocStaysInsideFiltersWithSingleArena) {
  EXPECT_EXIT(
      {
        if (!UseSingleMallocArena().ok()) _exit(testing::kSetupFailedExit);
        const int control_fd = MakeControlFd();
        ApplyOrExit(Stage::kLocked, control_fd);
        ApplyOrExit(Stage::kServing, control_fd);
        _exit(RunAllocatingThreads());
      },
      ::testing::ExitedWithCode(0), "");
}

// Process creation stays forbidden: fork() (clone with SIGCHLD), posix_spawn's
// clone(CLONE_VM | CLONE_VFORK | SIGCHLD), and the thread flags plus one more bit.
// If one of them were let through, the new child would _exit(0) and so would the
// parent: the test then fails on the exit status.
struct CloneCase {
  const char* name;
  uint64_t flags;  // 0: call fork() itself
};
constexpr CloneCase kProcessClones[] = {
    {"fork", 0},
    {"posix_spawn_flags", CLONE_VM | CLONE_VFORK | SIGCHLD},
    {"thread_flags_plus_vfork", kPthreadCloneFlags | CLONE_VFORK},
    {"thread_flags_with_exit_signal", kPthreadCloneFlags | SIGCHLD},
};

void PrintTo(const CloneCase& c, std::ostream* os) { *os << c.name; }

class SeccompProcessCloneTest : public ::testing::TestWithParam<CloneCase> {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_P(SeccompProcessCloneTest, KilledUnderBothStages) {
  const CloneCase& c = GetParam();
  EXPECT_EXIT(
      {
        const int control_fd = MakeControlFd();
        ApplyOrExit(Stage::kLocked, control_fd);
        ApplyOrExit(Stage::kServing, control_fd);
        const long rc = c.flags == 0 ? fork() : syscall(SYS_clone, c.flags, 0, 0, 0, 0);
        (void)rc;
        _exit(0);
      },
      KilledBySeccomp(), SeccompDebugEnabled() ? "syscall 56 \\(clone\\)" : "");
}

std::string CloneCaseName(const ::testing::TestParamInfo<CloneCase>& info) {
  return info.param.name;
}

INSTANTIATE_TEST_SUITE_P(Seccomp, SeccompProcessCloneTest, ::testing::ValuesIn(kProcessClones),
                         CloneCaseName);

// clone3 is not executed but answered ENOSYS, in each stage alone and stacked. The
// arguments describe a plain fork, so a filter that let clone3 through would make the
// test fail by exit status rather than pass.
int Clone3ReturnsEnosys() {
  clone_args args{};
  args.exit_signal = SIGCHLD;
  errno = 0;
  const long rc = syscall(SYS_clone3, &args, sizeof(args));
  if (rc == 0) _exit(3);  // a new process: the filter let clone3 through
  KC_CHILD_EXPECT(rc == -1 && errno == ENOSYS);
  return 0;
}

TEST_F(SeccompThreadTest, Clone3ReturnsEnosysInLockedStage) {
  EXPECT_EXIT(
      {
        ApplyOrExit(Stage::kLocked, MakeControlFd());
        _exit(Clone3ReturnsEnosys());
      },
      ::testing::ExitedWithCode(0), "");
}

TEST_F(SeccompThreadTest, Clone3ReturnsEnosysInServingStage) {
  EXPECT_EXIT(
      {
        ApplyOrExit(Stage::kServing, MakeControlFd());
        _exit(Clone3ReturnsEnosys());
      },
      ::testing::ExitedWithCode(0), "");
}

TEST_F(SeccompThreadTest, Clone3ReturnsEnosysUnderBothStages) {
  EXPECT_EXIT(
      {
        const int control_fd = MakeControlFd();
        ApplyOrExit(Stage::kLocked, control_fd);
        ApplyOrExit(Stage::kServing, control_fd);
        _exit(Clone3ReturnsEnosys());
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace keycell::sandbox

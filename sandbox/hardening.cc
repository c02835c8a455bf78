#include "sandbox/hardening.h"

#include <dirent.h>
#include <errno.h>
#include <linux/capability.h>
#include <malloc.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <vector>

namespace keycell::sandbox {
namespace {

bool HasCapIpcLock() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  return (data[CAP_TO_INDEX(CAP_IPC_LOCK)].effective & CAP_TO_MASK(CAP_IPC_LOCK)) != 0;
}

// Fallback for kernels without close_range (< 5.9): list first, close afterwards,
// because closing while iterating would also close the directory's own fd.
Status CloseByProcWalk(const std::vector<int>& keep_sorted) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return Status(Err::kInternal, "CloseStrayFds: opendir /proc/self/fd", errno);
  std::vector<int> open_fds;
  while (const dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long fd = strtol(entry->d_name, &end, 10);
    if (*end != '\0' || end == entry->d_name || fd == dirfd(dir)) continue;
    open_fds.push_back(static_cast<int>(fd));
  }
  closedir(dir);
  for (int fd : open_fds) {
    if (!std::binary_search(keep_sorted.begin(), keep_sorted.end(), fd)) close(fd);
  }
  return Status::Ok();
}

// Closes [first, last]; false (errno = ENOSYS) if the kernel has no close_range.
bool CloseRange(unsigned first, unsigned last) {
  return syscall(SYS_close_range, first, last, 0) == 0;
}

}  // namespace

Status HardenProcess() {
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return Status(Err::kInternal, "PR_SET_DUMPABLE", errno);
  }
  const rlimit no_core{0, 0};
  if (setrlimit(RLIMIT_CORE, &no_core) != 0) return Status(Err::kInternal, "RLIMIT_CORE", errno);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return Status(Err::kInternal, "PR_SET_NO_NEW_PRIVS", errno);
  }
  return Status::Ok();
}

Status LimitOpenFiles(rlim_t max) {
  rlimit current{};
  if (getrlimit(RLIMIT_NOFILE, &current) != 0)
    return Status(Err::kInternal, "getrlimit NOFILE", errno);
  const rlim_t limit = std::min(max, current.rlim_max);
  const rlimit wanted{limit, limit};
  if (setrlimit(RLIMIT_NOFILE, &wanted) != 0)
    return Status(Err::kInternal, "setrlimit NOFILE", errno);
  return Status::Ok();
}

Status CloseStrayFds(std::span<const int> keep) {
  std::vector<int> keep_sorted = {0, 1, 2};
  for (int fd : keep) {
    if (fd < 0) return Status(Err::kInvalidArgument, "CloseStrayFds: negative fd", fd);
    keep_sorted.push_back(fd);
  }
  std::sort(keep_sorted.begin(), keep_sorted.end());
  keep_sorted.erase(std::unique(keep_sorted.begin(), keep_sorted.end()), keep_sorted.end());
  // Close the gaps between kept fds, then everything above the last one.
  unsigned next = 0;
  for (int fd : keep_sorted) {
    const unsigned kept = static_cast<unsigned>(fd);
    if (kept > next && !CloseRange(next, kept - 1)) {
      if (errno == ENOSYS) return CloseByProcWalk(keep_sorted);
      return Status(Err::kInternal, "close_range", errno);
    }
    next = kept + 1;
  }
  if (!CloseRange(next, UINT_MAX)) {
    if (errno == ENOSYS) return CloseByProcWalk(keep_sorted);
    return Status(Err::kInternal, "close_range", errno);
  }
  return Status::Ok();
}

bool ShouldLockAllMemory(rlim_t memlock_soft_limit, bool has_cap_ipc_lock) {
  return has_cap_ipc_lock || memlock_soft_limit == RLIM_INFINITY ||
         memlock_soft_limit >= kMinMemlockForLockAllBytes;
}

bool TryLockAllMemory() {
#if defined(__SANITIZE_ADDRESS__)
  // ASan reserves terabytes of shadow memory: locking "all" of it cannot work. Sanitizer
  // builds rely on SecureBuffer's per-buffer mlock, as unprivileged processes do.
  return false;
#endif
  rlimit memlock{};
  if (getrlimit(RLIMIT_MEMLOCK, &memlock) != 0) return false;
  if (!ShouldLockAllMemory(memlock.rlim_cur, HasCapIpcLock())) return false;
  return mlockall(MCL_CURRENT | MCL_FUTURE) == 0;
}

Status UseSingleMallocArena() {
#if defined(__SANITIZE_ADDRESS__)
  return Status::Ok();  // ASan's allocator: glibc's arenas are not in use
#else
  if (mallopt(M_ARENA_MAX, 1) != 1) return Status(Err::kInternal, "mallopt M_ARENA_MAX");
  return Status::Ok();
#endif
}

}  // namespace keycell::sandbox

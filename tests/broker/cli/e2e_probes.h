#pragma once
// Probes for the end-to-end tests that look at the running daemons from outside: peak
// memory from /proc, a search of a live process's memory and of a directory tree for
// secrets, a running SHA-256 for bodies never held whole, and a raw-response classifier.
// Tests only. Nothing here blocks for long: every read is of local files or /proc.

#include <mbedtls/sha256.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace keycell::test {

// The value of `key` (e.g. "VmHWM", "VmRSS") in /proc/<pid>/status, in KiB; -1 when the
// file or the key cannot be read.
int64_t ProcStatusKb(pid_t pid, const std::string& key);

// A running SHA-256 (mbedTLS), for bodies that are streamed through the test.
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  void Update(std::string_view data);
  // Lower-case hex of the digest; call once, after the last Update.
  std::string Hex();

 private:
  mbedtls_sha256_context ctx_;
};

struct MemoryScan {
  uint64_t bytes = 0;             // bytes read
  int regions = 0;                // readable mappings visited
  int unreadable = 0;             // mappings whose read failed part way (counted, skipped)
  std::string error;              // set when /proc/<pid>/maps or /proc/<pid>/mem cannot be opened
  std::vector<std::string> hits;  // "<needle prefix>... in <maps line>"
};

// Reads every readable mapping of `pid` (except [vvar] and [vsyscall]) through
// /proc/<pid>/mem, in 1 MiB windows that overlap by the longest needle, and searches
// each window for every needle. Needs ptrace read access to `pid` (same uid, dumpable,
// or our descendant under Yama scope 1). The test's own memory is never read.
MemoryScan ScanProcessMemory(pid_t pid, const std::vector<std::string>& needles);

// Every regular file under `root` (recursively) searched for every needle; returns
// "path: needle" per hit, and counts the files read in *files.
std::vector<std::string> ScanFiles(const std::string& root, const std::vector<std::string>& needles,
                                   int* files);

// What a response read whole (until the server closed the connection) says: its status
// when complete; minus its status when the body is cut short (chunked without the last
// chunk, or fewer bytes than Content-Length); 0 when there is no response head at all.
int ClassifyResponse(const std::string& raw);

}  // namespace keycell::test

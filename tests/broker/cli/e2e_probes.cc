#include "tests/broker/cli/e2e_probes.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "tests/broker/cli/cli_harness.h"

namespace keycell::test {

int64_t ProcStatusKb(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + ":", 0) == 0) return std::atoll(line.c_str() + key.size() + 1);
  return -1;
}

Sha256Stream::Sha256Stream() {
  mbedtls_sha256_init(&ctx_);
  (void)mbedtls_sha256_starts_ret(&ctx_, 0);
}

Sha256Stream::~Sha256Stream() { mbedtls_sha256_free(&ctx_); }

void Sha256Stream::Update(std::string_view data) {
  (void)mbedtls_sha256_update_ret(&ctx_, reinterpret_cast<const unsigned char*>(data.data()),
                                  data.size());
}

std::string Sha256Stream::Hex() {
  unsigned char digest[32];
  (void)mbedtls_sha256_finish_ret(&ctx_, digest);
  std::string hex;
  for (unsigned char c : digest) {
    hex += "0123456789abcdef"[c >> 4];
    hex += "0123456789abcdef"[c & 15];
  }
  return hex;
}

MemoryScan ScanProcessMemory(pid_t pid, const std::vector<std::string>& needles) {
  MemoryScan scan;
  const std::string proc = "/proc/" + std::to_string(pid);
  std::ifstream maps(proc + "/maps");
  const int mem = open((proc + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
  if (!maps || mem < 0) {
    scan.error = std::string("cannot open ") + proc + "/mem: " + strerror(errno);
    if (mem >= 0) close(mem);
    return scan;
  }
  size_t overlap = 0;
  for (const auto& n : needles) overlap = std::max(overlap, n.size());
  constexpr size_t kWindow = 1 << 20;
  std::vector<char> buf(kWindow + overlap);
  for (std::string line; std::getline(maps, line);) {
    unsigned long start = 0, end = 0;
    char perms[5] = {};
    if (sscanf(line.c_str(), "%lx-%lx %4s", &start, &end, perms) != 3 || perms[0] != 'r') continue;
    if (line.find("[vvar") != std::string::npos || line.find("[vsyscall]") != std::string::npos)
      continue;
    ++scan.regions;
    size_t carried = 0;
    for (unsigned long at = start; at < end;) {
      const size_t want = std::min<unsigned long>(kWindow, end - at);
      const ssize_t n = pread(mem, buf.data() + carried, want, static_cast<off_t>(at));
      if (n <= 0) {
        ++scan.unreadable;
        break;
      }
      scan.bytes += static_cast<uint64_t>(n);
      const std::string_view window(buf.data(), carried + static_cast<size_t>(n));
      for (const auto& needle : needles)
        if (window.find(needle) != std::string_view::npos)
          scan.hits.push_back(needle.substr(0, 12) + "... in " + line);
      carried = std::min(overlap, window.size());
      memmove(buf.data(), window.data() + window.size() - carried, carried);
      at += static_cast<unsigned long>(n);
    }
  }
  close(mem);
  return scan;
}

std::vector<std::string> ScanFiles(const std::string& root, const std::vector<std::string>& needles,
                                   int* files) {
  std::vector<std::string> hits;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    ++*files;
    const std::string content = ReadFile(it->path().string());
    for (const auto& needle : needles)
      if (content.find(needle) != std::string::npos)
        hits.push_back(it->path().string() + ": " + needle);
  }
  return hits;
}

int ClassifyResponse(const std::string& raw) {
  if (raw.rfind("HTTP/1.1 ", 0) != 0) return 0;
  const int status = std::atoi(raw.c_str() + 9);
  const size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos || status <= 0) return 0;
  const std::string head = raw.substr(0, end + 2);
  const std::string body = raw.substr(end + 4);
  std::string lower = head;
  for (char& ch : lower) ch = static_cast<char>(tolower(static_cast<unsigned char>(ch)));
  if (lower.find("\r\ntransfer-encoding: chunked\r\n") != std::string::npos) {
    const bool complete = body.size() >= 5 && body.compare(body.size() - 5, 5, "0\r\n\r\n") == 0;
    return complete ? status : -status;
  }
  const size_t cl = lower.find("\r\ncontent-length: ");
  if (cl == std::string::npos) return status;  // delimited by the close
  const size_t want = std::strtoull(head.c_str() + cl + 18, nullptr, 10);
  return body.size() == want ? status : -status;
}

}  // namespace keycell::test

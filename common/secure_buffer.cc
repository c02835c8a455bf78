#include "common/secure_buffer.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <mutex>
#include <utility>
#include <vector>

namespace keycell {
namespace {

SecureBuffer::WipeObserver g_wipe_observer = nullptr;

size_t PageSize() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

size_t PageRound(size_t n) { return (n + PageSize() - 1) / PageSize() * PageSize(); }

// Released buffers of 1, 2, 4 ... 32 pages are kept (wiped, still locked, still
// MADV_DONTDUMP / MADV_WIPEONFORK) and handed out again: a fresh one costs mmap, two
// madvise, mlock (page population), munlock and munmap — ~17 µs for a page, more with
// other threads in the process contending for mmap_lock — and the proxy makes several
// per call (docs/performance.md). At most kPoolDepth per class: ≤ 2 MiB of locked memory
// sit idle. Only locked buffers are pooled, so a process over RLIMIT_MEMLOCK never keeps
// unlocked ones around.
constexpr size_t kPoolClasses = 6;
constexpr size_t kPoolDepth = 8;

struct Pool {
  std::mutex mu;
  std::array<std::vector<uint8_t*>, kPoolClasses> free;
};

Pool& GetPool() {
  static Pool* pool = new Pool();  // never destroyed: buffers may be released at exit
  return *pool;
}

// The class of a page-rounded capacity, or kPoolClasses when it is not a pooled size.
size_t ClassOf(size_t capacity) {
  for (size_t c = 0; c < kPoolClasses; ++c)
    if (capacity == (PageSize() << c)) return c;
  return kPoolClasses;
}

// The capacity Allocate maps for `size`: the next pooled class when it fits one.
size_t CapacityFor(size_t size) {
  const size_t rounded = PageRound(size);
  for (size_t c = 0; c < kPoolClasses; ++c)
    if (rounded <= (PageSize() << c)) return PageSize() << c;
  return rounded;
}

uint8_t* TakePooled(size_t capacity) {
  const size_t c = ClassOf(capacity);
  if (c == kPoolClasses) return nullptr;
  Pool& pool = GetPool();
  std::lock_guard lock(pool.mu);
  if (pool.free[c].empty()) return nullptr;
  uint8_t* p = pool.free[c].back();
  pool.free[c].pop_back();
  return p;
}

bool GivePooled(uint8_t* p, size_t capacity) {
  const size_t c = ClassOf(capacity);
  if (c == kPoolClasses) return false;
  Pool& pool = GetPool();
  std::lock_guard lock(pool.mu);
  if (pool.free[c].size() >= kPoolDepth) return false;
  pool.free[c].push_back(p);
  return true;
}

}  // namespace

void SecureWipe(void* p, size_t n) {
  if (p != nullptr && n != 0) explicit_bzero(p, n);
}

void WipeString(std::string& s) {
  SecureWipe(s.data(), s.capacity());
  s.clear();
}

void ReserveWiping(std::string& s, size_t extra) {
  if (s.capacity() - s.size() >= extra) return;
  std::string bigger;
  bigger.reserve(std::max(s.capacity() * 2, s.size() + extra));
  bigger.append(s);
  WipeString(s);
  s.swap(bigger);
}

bool ConstantTimeEqual(ByteView a, ByteView b) {
  if (a.size() != b.size()) return false;
  volatile uint8_t diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff = diff | (a[i] ^ b[i]);
  return diff == 0;
}

SecretView SecretView::substr(size_t pos, size_t n) const {
  if (pos > size_) pos = size_;
  if (n > size_ - pos) n = size_ - pos;
  return SecretView(data_ + pos, n);
}

Result<SecureBuffer> SecureBuffer::Allocate(size_t size) {
  SecureBuffer b;
  if (size == 0) return b;
  const size_t cap = CapacityFor(size);
  if (uint8_t* pooled = TakePooled(cap)) {  // wiped when it was released
    b.locked_ = true;
    b.data_ = pooled;
    b.size_ = size;
    b.capacity_ = cap;
    return b;
  }
  void* p = mmap(nullptr, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return Status(Err::kNoMem, "SecureBuffer mmap", errno);
  // Excluded from core dumps even if RLIMIT_CORE is raised later; best effort.
  (void)madvise(p, cap, MADV_DONTDUMP);
  (void)madvise(p, cap, MADV_WIPEONFORK);
  b.locked_ = mlock(p, cap) == 0;
  b.data_ = static_cast<uint8_t*>(p);
  b.size_ = size;
  b.capacity_ = cap;
  return b;
}

Result<SecureBuffer> SecureBuffer::CopyOf(ByteView src) {
  KC_ASSIGN_OR_RETURN(SecureBuffer b, Allocate(src.size()));
  if (!src.empty()) memcpy(b.data(), src.data(), src.size());
  return b;
}

SecureBuffer::SecureBuffer(SecureBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      capacity_(std::exchange(other.capacity_, 0)),
      locked_(std::exchange(other.locked_, false)) {}

SecureBuffer& SecureBuffer::operator=(SecureBuffer&& other) noexcept {
  if (this != &other) {
    clear();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
    locked_ = std::exchange(other.locked_, false);
  }
  return *this;
}

SecureBuffer::~SecureBuffer() { clear(); }

void SecureBuffer::resize(size_t n) {
  KC_CHECK(n <= capacity_);
  if (n < size_) SecureWipe(data_ + n, size_ - n);
  size_ = n;
}

void SecureBuffer::clear() {
  if (data_ == nullptr) return;
  SecureWipe(data_, capacity_);
  if (g_wipe_observer != nullptr) g_wipe_observer(data_, capacity_);
  if (!locked_ || !GivePooled(data_, capacity_)) {
    if (locked_) munlock(data_, capacity_);
    munmap(data_, capacity_);
  }
  data_ = nullptr;
  size_ = capacity_ = 0;
  locked_ = false;
}

void SecureBuffer::SetWipeObserverForTest(WipeObserver observer) { g_wipe_observer = observer; }

}  // namespace keycell

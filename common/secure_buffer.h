#pragma once
// Memory for secrets: credential plaintext, PINs, data keys, decrypted records.
//
// A SecureBuffer owns page-aligned anonymous memory that is mlock()ed (best effort:
// an unprivileged process may be over RLIMIT_MEMLOCK, see locked()) and excluded
// from core dumps (MADV_DONTDUMP). It is wiped on destruction, on clear() and when
// moved from. A SecretView is a non-owning view that deliberately does not convert
// to std::string or std::string_view: `grep -n Secret` shows every place a
// plaintext exists.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/result.h"

namespace keycell {

// Wipes memory in a way the compiler may not elide (explicit_bzero).
void SecureWipe(void* p, size_t n);

// Wipes a string's whole buffer (its capacity, not only its size) and empties it. For
// text that carried a secret through an API built on std::string (an HTTP body, an MCP
// message holding a tool's value argument) where a SecureBuffer cannot be used.
void WipeString(std::string& s);

// Makes room for `extra` more bytes in `s` without leaving its old buffer behind: when
// the capacity must grow, the contents move to a buffer twice as large and the old one
// is wiped before it is freed (std::string's own growth would free it as it is).
void ReserveWiping(std::string& s, size_t extra);

// A string built by appending (a JSON printer's output) that may hold a secret: every
// append grows through ReserveWiping. take() hands the string over.
class WipingBuilder {
 public:
  WipingBuilder& operator+=(char c) {
    ReserveWiping(s_, 1);
    s_.push_back(c);
    return *this;
  }
  WipingBuilder& operator+=(std::string_view v) {
    ReserveWiping(s_, v.size());
    s_.append(v);
    return *this;
  }
  void append(size_t n, char c) {
    ReserveWiping(s_, n);
    s_.append(n, c);
  }
  void append(const char* first, const char* last) {
    *this += std::string_view(first, static_cast<size_t>(last - first));
  }
  std::string take() { return std::move(s_); }

 private:
  std::string s_;
};

// Wipes a string when the scope ends, whichever way it ends.
class ScopedStringWipe {
 public:
  explicit ScopedStringWipe(std::string& s) : s_(s) {}
  ~ScopedStringWipe() { WipeString(s_); }
  ScopedStringWipe(const ScopedStringWipe&) = delete;
  ScopedStringWipe& operator=(const ScopedStringWipe&) = delete;

 private:
  std::string& s_;
};

class SecretView {
 public:
  constexpr SecretView() = default;
  constexpr SecretView(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  ByteView bytes() const { return ByteView(data_, size_); }
  SecretView substr(size_t pos, size_t n) const;

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

class SecureBuffer {
 public:
  SecureBuffer() = default;
  // Allocates `size` zeroed bytes. Err::kNoMem if mmap fails. size 0 is allowed.
  // Capacities up to 32 pages are rounded to a power-of-two number of pages, and such
  // buffers, once released (wiped), are kept locked in a small pool and reused.
  static Result<SecureBuffer> Allocate(size_t size);
  // Allocates and copies `src` in. The caller still owns (and must wipe) `src`.
  static Result<SecureBuffer> CopyOf(ByteView src);

  SecureBuffer(SecureBuffer&& other) noexcept;
  SecureBuffer& operator=(SecureBuffer&& other) noexcept;
  SecureBuffer(const SecureBuffer&) = delete;
  SecureBuffer& operator=(const SecureBuffer&) = delete;
  ~SecureBuffer();

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  bool empty() const { return size_ == 0; }
  // Shrinks or grows the logical size within capacity; bytes past the new size are wiped.
  void resize(size_t n);
  SecretView view() const { return SecretView(data_, size_); }
  MutableByteView mutable_bytes() { return MutableByteView(data_, size_); }
  // Whether mlock() succeeded for this buffer's pages.
  bool locked() const { return locked_; }
  // Wipes and releases the memory now.
  void clear();

  // Test hook: called after every wipe, before the pages are unmapped, with the
  // wiped region (so a test can confirm it is all zero). Not thread-safe; tests only.
  using WipeObserver = void (*)(const uint8_t* data, size_t capacity);
  static void SetWipeObserverForTest(WipeObserver observer);

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;  // bytes mapped (page multiple)
  bool locked_ = false;
};

}  // namespace keycell

#pragma once
// One error vocabulary for every library in the repo. No allocation on the
// error path: `where` is always a string literal, `detail` a number (CK_RV,
// negative mbedTLS code or errno).

#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

namespace keycell {

enum class Err : int32_t {
  kOk = 0,
  kInternal,
  kBadFrame,       // malformed or out-of-protocol bytes from a peer
  kTooLarge,       // a size cap was hit
  kUnknownKey,     // no such object / record
  kPolicyDenied,   // the sealed policy forbids the operation
  kToken,          // PKCS#11 failure; detail = CK_RV
  kTls,            // mbedTLS failure; detail = mbedTLS code
  kUpstreamIo,     // I/O on a handed-in fd failed; detail = errno
  kNoMem,
  kLocked,         // operation needs an unlocked token
  kBadPin,         // wrong PIN (CKR_PIN_INCORRECT and friends)
  kPinLocked,      // token refuses further PIN attempts
  kTampered,       // sealed record failed authentication
  kInvalidArgument,
  kTimeout,
  kUnavailable,    // the peer is gone (enclave died, socket closed)
};

// Stable, human-readable name of an error code (for logs and wire messages).
const char* ErrName(Err e);

class [[nodiscard]] Status {
 public:
  constexpr Status() = default;
  constexpr Status(Err code, const char* where, int32_t detail = 0)
      : code_(code), where_(where), detail_(detail) {}
  static constexpr Status Ok() { return Status(); }

  constexpr bool ok() const { return code_ == Err::kOk; }
  constexpr Err code() const { return code_; }
  // What failed, as a string literal naming the violated invariant or call.
  constexpr const char* where() const { return where_; }
  constexpr int32_t detail() const { return detail_; }

 private:
  Err code_ = Err::kOk;
  const char* where_ = "";
  int32_t detail_ = 0;
};

// A value or a non-ok Status. Minimal stand-in for std::expected (C++23).
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : has_value_(true) { new (&value_) T(std::move(value)); }  // NOLINT: implicit by design
  Result(Status status) : status_(status) {                                 // NOLINT: implicit by design
    if (status_.ok()) status_ = Status(Err::kInternal, "Result constructed from ok Status");
  }
  Result(Result&& other) noexcept(std::is_nothrow_move_constructible_v<T>)
      : status_(other.status_), has_value_(other.has_value_) {
    if (has_value_) new (&value_) T(std::move(other.value_));
  }
  Result(const Result&) = delete;
  Result& operator=(const Result&) = delete;
  Result& operator=(Result&&) = delete;
  ~Result() {
    if (has_value_) value_.~T();
  }

  bool ok() const { return has_value_; }
  Status status() const { return has_value_ ? Status::Ok() : status_; }
  T& value() & { return value_; }
  const T& value() const& { return value_; }
  T&& value() && { return std::move(value_); }
  T& operator*() & { return value_; }
  const T& operator*() const& { return value_; }
  T* operator->() { return &value_; }
  const T* operator->() const { return &value_; }

 private:
  Status status_;
  bool has_value_ = false;
  union {
    T value_;
  };
};

#define KC_CONCAT_INNER_(a, b) a##b
#define KC_CONCAT_(a, b) KC_CONCAT_INNER_(a, b)

#define KC_RETURN_IF_ERROR(expr)                \
  do {                                          \
    const ::keycell::Status kc_status_ = (expr); \
    if (!kc_status_.ok()) return kc_status_;    \
  } while (0)

#define KC_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()

#define KC_ASSIGN_OR_RETURN(lhs, expr) \
  KC_ASSIGN_OR_RETURN_IMPL_(KC_CONCAT_(kc_result_, __LINE__), lhs, expr)

// Invariant check: abort with a message. For impossible states only.
[[noreturn]] void CheckFailed(const char* file, int line, const char* cond);
#define KC_CHECK(cond) \
  do {                 \
    if (!(cond)) ::keycell::CheckFailed(__FILE__, __LINE__, #cond); \
  } while (0)

}  // namespace keycell

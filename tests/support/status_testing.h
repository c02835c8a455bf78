#pragma once
// GoogleTest helpers for Status / Result<T>: assertions that print the error's name,
// where it happened and its detail (with the CKR_ name for PKCS#11 failures).
//
//   KC_ASSERT_OK(session.Login(pin));
//   KC_ASSERT_OK_AND_ASSIGN(Session s, Session::Open(*module, slot, true));
//   EXPECT_EQ(st.code(), Err::kTampered) << Describe(st);

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <utility>

#include "common/result.h"

namespace keycell {

// gtest prints Err values by name (found by ADL).
inline void PrintTo(Err e, std::ostream* os) { *os << ErrName(e); }
inline void PrintTo(const Status& s, std::ostream* os);

namespace test {

// "token at C_Decrypt, detail 0x5 (CKR_GENERAL_ERROR)"; "ok" for success.
std::string Describe(const Status& s);

inline Status ToStatus(const Status& s) { return s; }
template <class T>
Status ToStatus(const Result<T>& r) {
  return r.status();
}

}  // namespace test

inline void PrintTo(const Status& s, std::ostream* os) { *os << test::Describe(s); }

}  // namespace keycell

#define KC_EXPECT_OK(expr)                                                           \
  do {                                                                               \
    const ::keycell::Status kc_test_status_ = ::keycell::test::ToStatus(expr);       \
    EXPECT_TRUE(kc_test_status_.ok()) << ::keycell::test::Describe(kc_test_status_); \
  } while (0)

#define KC_ASSERT_OK(expr)                                                           \
  do {                                                                               \
    const ::keycell::Status kc_test_status_ = ::keycell::test::ToStatus(expr);       \
    ASSERT_TRUE(kc_test_status_.ok()) << ::keycell::test::Describe(kc_test_status_); \
  } while (0)

#define KC_ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr)               \
  auto tmp = (expr);                                                \
  ASSERT_TRUE(tmp.ok()) << ::keycell::test::Describe(tmp.status()); \
  lhs = std::move(tmp).value()

// Declares/assigns `lhs` from a Result, or fails the test (use only in void functions).
#define KC_ASSERT_OK_AND_ASSIGN(lhs, expr) \
  KC_ASSERT_OK_AND_ASSIGN_IMPL_(KC_CONCAT_(kc_test_result_, __LINE__), lhs, expr)

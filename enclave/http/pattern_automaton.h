#pragma once
// Aho–Corasick automaton over the handful of byte strings derived from one secret
// (see redactor.h). Every node of the trie is derived from the secret, so the whole
// automaton lives in memory the caller provides from a SecureBuffer (mlocked, excluded
// from core dumps, wiped on destruction) and never in an ordinary container. (One
// SecureBuffer for the whole redactor: each costs a few syscalls, and a redactor is
// built per request.)
//
// Matching cost: Step() is amortised O(1) per input byte over a stream (each byte
// moves at most one level down the trie; every failure-link hop moves up), times a
// sibling scan bounded by the number of patterns. No rescans, no backtracking.

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/result.h"
#include "common/secure_buffer.h"

namespace keycell::enclave::http {

// One pattern to find.
struct PatternSpec {
  SecretView bytes;
  // A match also covers the unit just before it when that unit is a base64 character:
  // set for the mid-string base64 forms whose leading character mixes bits of the
  // secret with bits of whatever precedes it (redaction_patterns.h).
  bool extend_before = false;
};

class PatternAutomaton {
 public:
  using State = uint32_t;
  static constexpr State kRoot = 0;
  // Depths and match lengths are stored in 16 bits.
  static constexpr size_t kMaxPatternBytes = 65535;

  // Sizes of what Build() will need.
  struct Plan {
    size_t capacity = 0;  // upper bound on trie nodes
    size_t max_len = 0;   // longest pattern
    size_t min_len = 0;   // shortest pattern
    bool has_extend = false;
    size_t bytes() const;  // memory for Build()
  };

  PatternAutomaton() = default;

  // Checks the patterns and sizes the automaton. Duplicates are allowed.
  // Errors: kInvalidArgument (no patterns, or an empty one), kTooLarge (a pattern over
  // kMaxPatternBytes).
  static Result<Plan> PlanFor(std::span<const PatternSpec> patterns);
  // Builds the automaton for the same `patterns` in `memory`: plan.bytes() zeroed bytes,
  // 8-byte aligned, owned (and wiped) by the caller and outliving the automaton. The
  // patterns are copied in; the caller keeps ownership of (and wipes) its views.
  // Does not fail, does not block.
  static PatternAutomaton Build(std::span<const PatternSpec> patterns, const Plan& plan,
                                uint8_t* memory);

  // The state after reading `byte` in state `s`.
  State Step(State s, uint8_t byte) const;
  // Length of the pattern prefix that state `s` stands for (0 at the root): no match
  // that is still in progress started more than depth(s) bytes ago.
  uint32_t depth(State s) const;
  // Length of the longest pattern that ends at state `s` (including those reached
  // through suffix links), 0 if none.
  uint32_t match_len(State s) const;
  // The same, over patterns with extend_before set only.
  uint32_t extend_len(State s) const;
  // Length of the longest suffix of what state `s` stands for that is a prefix of an
  // extend_before pattern (0 if none but the empty one): a future extend_before match
  // starts no earlier than that many bytes back, and may take one more before it.
  uint32_t extend_depth(State s) const;

  size_t max_pattern_len() const { return plan_.max_len; }
  size_t min_pattern_len() const { return plan_.min_len; }
  bool has_extend() const { return plan_.has_extend; }
  size_t node_count() const { return count_; }

 private:
  struct Node;
  Node* nodes();
  const Node* nodes() const;
  State* root_next();
  const State* root_next() const;
  State FindChild(State s, uint8_t byte) const;
  State AddChild(State s, uint8_t byte);
  void LinkFailures();

  // Node[capacity], State[256] (the root's full transition row), State[capacity]
  // (build-time queue, wiped after use). Not owned.
  uint8_t* mem_ = nullptr;
  Plan plan_;
  size_t count_ = 0;
};

}  // namespace keycell::enclave::http

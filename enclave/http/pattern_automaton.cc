#include "enclave/http/pattern_automaton.h"

#include <algorithm>
#include <new>

namespace keycell::enclave::http {

// 24 bytes. Child 0 means "none": the root is never anyone's child.
struct PatternAutomaton::Node {
  uint32_t fail;
  uint32_t child;    // first child
  uint32_t sibling;  // next child of the same parent
  uint16_t depth;
  uint16_t match;      // longest pattern ending here (own or via suffix links)
  uint16_t extend;     // the same over extend_before patterns
  uint16_t ext_depth;  // deepest node on this node's suffix chain that is a prefix of an
                       // extend_before pattern (0: only the root)
  uint8_t label;       // byte on the edge from the parent
};

PatternAutomaton::Node* PatternAutomaton::nodes() { return reinterpret_cast<Node*>(mem_); }
const PatternAutomaton::Node* PatternAutomaton::nodes() const {
  return reinterpret_cast<const Node*>(mem_);
}
PatternAutomaton::State* PatternAutomaton::root_next() {
  return reinterpret_cast<State*>(mem_ + plan_.capacity * sizeof(Node));
}
const PatternAutomaton::State* PatternAutomaton::root_next() const {
  return reinterpret_cast<const State*>(mem_ + plan_.capacity * sizeof(Node));
}

size_t PatternAutomaton::Plan::bytes() const {
  return capacity * sizeof(Node) + 256 * sizeof(State) + capacity * sizeof(State);
}

PatternAutomaton::State PatternAutomaton::FindChild(State s, uint8_t byte) const {
  const Node* n = nodes();
  for (State c = n[s].child; c != 0; c = n[c].sibling) {
    if (n[c].label == byte) return c;
  }
  return 0;
}

PatternAutomaton::State PatternAutomaton::AddChild(State s, uint8_t byte) {
  KC_CHECK(count_ < plan_.capacity);
  const State c = static_cast<State>(count_++);
  Node* n = nodes();
  new (&n[c]) Node{};
  n[c].label = byte;
  n[c].depth = static_cast<uint16_t>(n[s].depth + 1);
  n[c].sibling = n[s].child;
  n[s].child = c;
  return c;
}

Result<PatternAutomaton::Plan> PatternAutomaton::PlanFor(std::span<const PatternSpec> patterns) {
  if (patterns.empty()) return Status(Err::kInvalidArgument, "automaton: no patterns");
  // Node bound: a pattern adds at most the bytes past its common prefix with the one
  // before it (that prefix is already a path). Derived patterns come in families that
  // share long prefixes, so this is far below the sum of their lengths.
  Plan plan;
  plan.capacity = 1;
  plan.min_len = SIZE_MAX;
  SecretView prev;
  for (const PatternSpec& p : patterns) {
    if (p.bytes.empty()) return Status(Err::kInvalidArgument, "automaton: empty pattern");
    if (p.bytes.size() > kMaxPatternBytes)
      return Status(Err::kTooLarge, "automaton: pattern too long");
    size_t common = 0;
    while (common < p.bytes.size() && common < prev.size() &&
           p.bytes.data()[common] == prev.data()[common]) {
      ++common;
    }
    plan.capacity += p.bytes.size() - common;
    prev = p.bytes;
    plan.max_len = std::max(plan.max_len, p.bytes.size());
    plan.min_len = std::min(plan.min_len, p.bytes.size());
    plan.has_extend = plan.has_extend || p.extend_before;
  }
  if (plan.capacity > UINT32_MAX / 2) return Status(Err::kTooLarge, "automaton: patterns too long");
  return plan;
}

PatternAutomaton PatternAutomaton::Build(std::span<const PatternSpec> patterns, const Plan& plan,
                                         uint8_t* memory) {
  static_assert(sizeof(Node) == 24 && alignof(Node) == 4);
  KC_CHECK(reinterpret_cast<uintptr_t>(memory) % 8 == 0);
  PatternAutomaton a;
  a.mem_ = memory;
  a.plan_ = plan;
  new (&a.nodes()[kRoot]) Node{};
  a.count_ = 1;
  for (const PatternSpec& p : patterns) {
    State s = kRoot;
    for (size_t i = 0; i < p.bytes.size(); ++i) {
      const uint8_t b = p.bytes.data()[i];
      const State c = a.FindChild(s, b);
      s = c != 0 ? c : a.AddChild(s, b);
      // Marks the path; LinkFailures() fills in the unmarked nodes.
      if (p.extend_before) a.nodes()[s].ext_depth = a.nodes()[s].depth;
    }
    Node& end = a.nodes()[s];
    const auto len = static_cast<uint16_t>(p.bytes.size());
    end.match = std::max(end.match, len);
    if (p.extend_before) end.extend = std::max(end.extend, len);
  }
  a.LinkFailures();
  State* row = a.root_next();
  for (int b = 0; b < 256; ++b) row[b] = a.FindChild(kRoot, static_cast<uint8_t>(b));
  return a;
}

// Breadth-first, so a node's failure target (always shallower) is complete before the
// node inherits its match lengths.
void PatternAutomaton::LinkFailures() {
  State* queue = root_next() + 256;
  size_t head = 0, tail = 0;
  Node* n = nodes();
  for (State c = n[kRoot].child; c != 0; c = n[c].sibling) {
    n[c].fail = kRoot;
    queue[tail++] = c;
  }
  while (head < tail) {
    const State u = queue[head++];
    for (State c = n[u].child; c != 0; c = n[c].sibling) {
      State f = n[u].fail;
      State g = FindChild(f, n[c].label);
      while (g == 0 && f != kRoot) {
        f = n[f].fail;
        g = FindChild(f, n[c].label);
      }
      n[c].fail = g;  // 0 (the root) when no proper suffix is a prefix
      n[c].match = std::max(n[c].match, n[g].match);
      n[c].extend = std::max(n[c].extend, n[g].extend);
      if (n[c].ext_depth == 0) n[c].ext_depth = n[g].ext_depth;
      KC_CHECK(tail < count_);
      queue[tail++] = c;
    }
  }
  SecureWipe(queue, plan_.capacity * sizeof(State));
}

PatternAutomaton::State PatternAutomaton::Step(State s, uint8_t byte) const {
  for (;;) {
    if (s == kRoot) return root_next()[byte];
    const State c = FindChild(s, byte);
    if (c != 0) return c;
    s = nodes()[s].fail;
  }
}

uint32_t PatternAutomaton::depth(State s) const { return nodes()[s].depth; }
uint32_t PatternAutomaton::match_len(State s) const { return nodes()[s].match; }
uint32_t PatternAutomaton::extend_len(State s) const { return nodes()[s].extend; }
uint32_t PatternAutomaton::extend_depth(State s) const { return nodes()[s].ext_depth; }

}  // namespace keycell::enclave::http

// The redactor's streaming core. Each input byte goes through five decoding lanes
// (raw, percent, percent with '+' as space, JSON string escapes, the same with the
// other backslash parity); each lane turns it
// into zero or more decoded "units", remembers where each unit started in the input,
// and runs the shared Aho–Corasick automaton over the units. A match covers the input
// from its first unit's start to the current byte. Covered runs are merged and become
// one marker; bytes are released once no lane can still start a match at or before
// them (the horizon).
#include "enclave/http/redactor.h"

#include <string.h>

#include <algorithm>
#include <new>
#include <vector>

#include "enclave/http/pattern_automaton.h"

namespace keycell::enclave::http {
namespace {

// kJsonLastBackslash lets only the last backslash of a run start an escape (the others
// are literal), so a stray backslash in front of an escaped secret — text that is not
// JSON from its first byte, or an echo of the caller's own backslash — cannot shift
// the escapes out of step. (The secret's own JSON form has no backslash pairs unless the
// secret contains a backslash; docs/enclave-http.md.)
enum class LaneKind : uint8_t { kRaw, kPercent, kPercentPlus, kJson, kJsonLastBackslash };
constexpr LaneKind kLaneKinds[] = {LaneKind::kRaw, LaneKind::kPercent, LaneKind::kPercentPlus,
                                   LaneKind::kJson, LaneKind::kJsonLastBackslash};
constexpr size_t kLanes = sizeof(kLaneKinds) / sizeof(kLaneKinds[0]);

// Ring entries: a unit's input start position, with the top bit set if the unit is a
// base64 character (only that is needed for extend_before).
constexpr uint64_t kBase64Flag = uint64_t{1} << 63;

// Decoder state of one lane. Trivially copyable; lives in the stream's SecureBuffer
// because `acc` and `high` are (pieces of) decoded bytes.
struct LaneState {
  PatternAutomaton::State state;
  uint8_t phase;        // 0: between escapes; percent 1-2 / JSON 1-2: inside one
  uint8_t first_hex;    // percent: first hex digit as received
  uint8_t nhex;         // JSON: hex digits read in \uXXXX
  uint32_t acc;         // escape value so far
  uint32_t high;        // JSON: pending high surrogate, 0 if none
  uint64_t esc_start;   // input position of the pending escape's first byte
  uint64_t pair_start;  // JSON: input position of the pending high surrogate's escape
  uint64_t units;       // units produced so far
};

struct Cover {
  uint64_t start;  // inclusive input positions
  uint64_t end;
  bool marked;  // the marker for this run has been written
};

int HexValue(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

size_t AlignUp(size_t n) { return (n + 15) & ~size_t{15}; }

// One stream: the body stream of a response, or the scratch stream for header values.
// Its state lives in memory carved from the redactor's SecureBuffer.
class Stream {
 public:
  // Memory Init() needs for an automaton of this plan.
  static size_t BytesNeeded(const PatternAutomaton::Plan& plan);
  // `memory`: BytesNeeded() zeroed bytes, 16-byte aligned, outliving the stream.
  void Init(const PatternAutomaton* ac, uint8_t* memory);

  void Process(ByteView in, Redactor::Output& out);
  void Finish(Redactor::Output& out);
  size_t holdback() const { return hb_len_; }
  size_t max_holdback() const { return hb_cap_; }
  uint64_t markers() const { return markers_; }

 private:
  struct Layout {
    size_t ring, cover_cap, hb_cap;
    size_t rings_off, covers_off, idle_off, hb_off, total;
  };
  static Layout LayoutFor(size_t longest, size_t shortest);

  void Feed(size_t lane, uint8_t b, Redactor::Output& out);
  void FeedPercent(LaneState& l, size_t lane, uint8_t b, bool plus, Redactor::Output& out);
  void FeedJson(LaneState& l, size_t lane, uint8_t b, bool last_bs, Redactor::Output& out);
  void JsonCodeUnit(LaneState& l, size_t lane, Redactor::Output& out);
  void EmitCodePoint(size_t lane, uint32_t cp, uint64_t start, Redactor::Output& out);
  void Unit(size_t lane, uint8_t byte, uint64_t start, Redactor::Output& out);
  void Break(size_t lane, uint64_t start);

  uint64_t RingAt(size_t lane, uint64_t unit) const { return rings_[lane * ring_ + unit % ring_]; }
  uint64_t Horizon() const;
  void AddCover(uint64_t start, Redactor::Output& out);
  void Emit(uint64_t upto, Redactor::Output& out);
  void WritePlain(uint64_t from, uint64_t to, Redactor::Output& out);
  void KeepTail();
  void ResetLanes();
  bool AllLanesIdle() const;
  void SkipIdle(size_t from, size_t to);

  const PatternAutomaton* ac_ = nullptr;
  LaneState* lanes_ = nullptr;
  uint64_t* rings_ = nullptr;  // kLanes rings of ring_ entries
  size_t ring_ = 0;
  Cover* covers_ = nullptr;  // ring buffer of pending covered runs, ordered
  size_t cover_cap_ = 0, cover_head_ = 0, cover_count_ = 0;
  uint8_t* idle_ = nullptr;  // [256]: 1 if the byte leaves every idle lane idle
  uint8_t* hb_ = nullptr;    // held-back bytes: input positions [hb_base_, hb_base_ + hb_len_)
  size_t hb_cap_ = 0, hb_len_ = 0;
  uint64_t hb_base_ = 0;

  uint64_t pos_ = 0;                    // input position of the byte being processed / next byte
  uint64_t emitted_ = 0;                // bytes before this position have been written out
  uint64_t last_run_end_ = UINT64_MAX;  // one past the last covered run written out
  uint64_t chunk_base_ = 0;             // input position of in_[0] during Process()
  ByteView in_;
  uint64_t markers_ = 0;
};

Stream::Layout Stream::LayoutFor(size_t longest, size_t shortest) {
  Layout l;
  // Input bytes a lane may need to keep: the units of a match in progress (depth ≤
  // longest) plus one for extend_before, at most 6 input bytes per unit (\u00XX), the
  // first one up to 12 (the tail of a surrogate pair), plus a pending escape (≤ 11).
  l.hb_cap = 6 * (longest + 2) + 24;
  l.ring = longest + 2;
  // Covered runs inside the holdback are disjoint, non-adjacent and at least as long as
  // the shortest pattern.
  l.cover_cap = l.hb_cap / (shortest + 1) + 4;
  l.rings_off = AlignUp(kLanes * sizeof(LaneState));
  l.covers_off = AlignUp(l.rings_off + kLanes * l.ring * sizeof(uint64_t));
  l.idle_off = AlignUp(l.covers_off + l.cover_cap * sizeof(Cover));
  l.hb_off = AlignUp(l.idle_off + 256);
  l.total = AlignUp(l.hb_off + l.hb_cap);
  return l;
}

size_t Stream::BytesNeeded(const PatternAutomaton::Plan& plan) {
  return LayoutFor(plan.max_len, plan.min_len).total;
}

void Stream::Init(const PatternAutomaton* ac, uint8_t* memory) {
  KC_CHECK(reinterpret_cast<uintptr_t>(memory) % 16 == 0);
  ac_ = ac;
  const Layout l = LayoutFor(ac->max_pattern_len(), ac->min_pattern_len());
  hb_cap_ = l.hb_cap;
  ring_ = l.ring;
  cover_cap_ = l.cover_cap;
  lanes_ = reinterpret_cast<LaneState*>(memory);
  rings_ = reinterpret_cast<uint64_t*>(memory + l.rings_off);
  covers_ = reinterpret_cast<Cover*>(memory + l.covers_off);
  idle_ = memory + l.idle_off;
  hb_ = memory + l.hb_off;
  for (size_t i = 0; i < cover_cap_; ++i) new (&covers_[i]) Cover{};
  // Bytes that start no pattern and no escape. (Which bytes start a pattern says
  // something about the secret, hence locked memory.)
  auto starts = [ac](uint8_t b) {
    return ac->Step(PatternAutomaton::kRoot, b) != PatternAutomaton::kRoot;
  };
  for (int b = 0; b < 256; ++b) {
    const auto c = static_cast<uint8_t>(b);
    idle_[b] = !starts(c) && c != '%' && c != '\\' && !(c == '+' && starts(' '));
  }
  ResetLanes();
}

void Stream::ResetLanes() {
  for (size_t i = 0; i < kLanes; ++i) {
    const uint64_t used = std::min<uint64_t>(lanes_[i].units, ring_);
    SecureWipe(rings_ + i * ring_, used * sizeof(uint64_t));
    SecureWipe(&lanes_[i], sizeof(LaneState));
    new (&lanes_[i]) LaneState{};
  }
}

void Stream::Process(ByteView in, Redactor::Output& out) {
  in_ = in;
  chunk_base_ = pos_;
  for (size_t i = 0; i < in.size();) {
    // Fast path: most bytes of most streams start nothing while no match is under way.
    if (AllLanesIdle()) {
      size_t j = i;
      while (j < in.size() && idle_[in[j]]) ++j;
      if (j > i) {
        SkipIdle(i, j);
        i = j;
        continue;
      }
    }
    for (size_t lane = 0; lane < kLanes; ++lane) Feed(lane, in[i], out);
    ++i;
    ++pos_;
  }
  Emit(Horizon(), out);
  KeepTail();
  in_ = ByteView();
}

bool Stream::AllLanesIdle() const {
  for (size_t lane = 0; lane < kLanes; ++lane) {
    const LaneState& l = lanes_[lane];
    if (l.state != PatternAutomaton::kRoot || l.phase != 0 || l.high != 0) return false;
  }
  return true;
}

// Idle bytes in_[from, to): each lane would make one unit per byte and stay at the
// root, so only the unit count and the last unit (the only one Horizon() and an
// extend_before match can still look at) need recording.
void Stream::SkipIdle(size_t from, size_t to) {
  const uint64_t last = chunk_base_ + to - 1;
  const uint64_t entry = last | (IsBase64Char(in_[to - 1]) ? kBase64Flag : 0);
  for (size_t lane = 0; lane < kLanes; ++lane) {
    LaneState& l = lanes_[lane];
    l.units += to - from;
    rings_[lane * ring_ + (l.units - 1) % ring_] = entry;
  }
  pos_ = last + 1;
}

void Stream::Finish(Redactor::Output& out) {
  // Escapes still open at the end never complete, so nothing more can match.
  Emit(pos_, out);
  KC_CHECK(cover_count_ == 0);
  SecureWipe(hb_, hb_len_);
  hb_len_ = 0;
  hb_base_ = pos_;
  last_run_end_ = UINT64_MAX;  // the next stream starts afresh
  ResetLanes();
}

void Stream::Feed(size_t lane, uint8_t b, Redactor::Output& out) {
  LaneState& l = lanes_[lane];
  switch (kLaneKinds[lane]) {
    case LaneKind::kRaw:
      return Unit(lane, b, pos_, out);
    case LaneKind::kPercent:
      return FeedPercent(l, lane, b, false, out);
    case LaneKind::kPercentPlus:
      return FeedPercent(l, lane, b, true, out);
    case LaneKind::kJson:
      return FeedJson(l, lane, b, false, out);
    case LaneKind::kJsonLastBackslash:
      return FeedJson(l, lane, b, true, out);
  }
}

// %XX in either case decodes to one byte; a '%' not followed by two hex digits stands
// for itself (lenient encoders leave stray '%'), as does the digit after it.
void Stream::FeedPercent(LaneState& l, size_t lane, uint8_t b, bool plus, Redactor::Output& out) {
  const int h = HexValue(b);
  switch (l.phase) {
    case 0:
      if (b == '%') {
        l.phase = 1;
        l.esc_start = pos_;
      } else {
        Unit(lane, plus && b == '+' ? ' ' : b, pos_, out);
      }
      return;
    case 1:
      if (h >= 0) {
        l.phase = 2;
        l.acc = static_cast<uint32_t>(h);
        l.first_hex = b;
        return;
      }
      l.phase = 0;
      Unit(lane, '%', l.esc_start, out);
      return FeedPercent(l, lane, b, plus, out);
    default:
      l.phase = 0;
      if (h >= 0) return Unit(lane, static_cast<uint8_t>(l.acc * 16 + h), l.esc_start, out);
      Unit(lane, '%', l.esc_start, out);
      Unit(lane, l.first_hex, l.esc_start + 1, out);
      return FeedPercent(l, lane, b, plus, out);
  }
}

// JSON string escapes. Anything that is not valid JSON (an unknown escape, a bad hex
// digit, a lone surrogate) breaks the lane's match: invalid JSON cannot hide a decoded
// secret, and the raw lane still sees the bytes as they are.
void Stream::FeedJson(LaneState& l, size_t lane, uint8_t b, bool last_bs, Redactor::Output& out) {
  if (l.phase == 0) {
    if (b == '\\') {
      l.phase = 1;
      l.esc_start = pos_;
      return;
    }
    if (l.high != 0) Break(lane, l.pair_start);  // lone high surrogate
    l.high = 0;
    return Unit(lane, b, pos_, out);
  }
  if (l.phase == 1) {
    if (b == 'u') {
      l.phase = 2;
      l.nhex = 0;
      l.acc = 0;
      return;
    }
    if (l.high != 0) Break(lane, l.pair_start);
    l.high = 0;
    if (last_bs && b == '\\') {  // the previous backslash was literal; this one may escape
      Unit(lane, '\\', l.esc_start, out);
      l.esc_start = pos_;
      return;
    }
    l.phase = 0;
    static constexpr char kFrom[] = "\"\\/bfnrt";
    static constexpr char kTo[] = "\"\\/\b\f\n\r\t";
    const char* hit = b != 0 ? strchr(kFrom, b) : nullptr;
    if (hit != nullptr) return Unit(lane, static_cast<uint8_t>(kTo[hit - kFrom]), l.esc_start, out);
    Break(lane, l.esc_start);
    return FeedJson(l, lane, b, last_bs, out);
  }
  const int h = HexValue(b);
  if (h < 0) {
    Break(lane, l.high != 0 ? l.pair_start : l.esc_start);
    l.high = 0;
    l.phase = 0;
    return FeedJson(l, lane, b, last_bs, out);
  }
  l.acc = l.acc * 16 + static_cast<uint32_t>(h);
  if (++l.nhex == 4) {
    l.phase = 0;
    JsonCodeUnit(l, lane, out);
  }
}

void Stream::JsonCodeUnit(LaneState& l, size_t lane, Redactor::Output& out) {
  const uint32_t cu = l.acc;
  l.acc = 0;
  const bool is_high = cu >= 0xd800 && cu <= 0xdbff;
  const bool is_low = cu >= 0xdc00 && cu <= 0xdfff;
  if (is_low && l.high != 0) {
    const uint32_t cp = 0x10000 + ((l.high - 0xd800) << 10) + (cu - 0xdc00);
    l.high = 0;
    return EmitCodePoint(lane, cp, l.pair_start, out);
  }
  if (l.high != 0) Break(lane, l.pair_start);  // the previous high surrogate was alone
  l.high = 0;
  if (is_high) {
    l.high = cu;
    l.pair_start = l.esc_start;
    return;
  }
  if (is_low) return Break(lane, l.esc_start);
  EmitCodePoint(lane, cu, l.esc_start, out);
}

void Stream::EmitCodePoint(size_t lane, uint32_t cp, uint64_t start, Redactor::Output& out) {
  if (cp < 0x80) return Unit(lane, static_cast<uint8_t>(cp), start, out);
  uint8_t u[4];
  size_t n;
  if (cp < 0x800) {
    u[0] = static_cast<uint8_t>(0xc0 | (cp >> 6));
    n = 2;
  } else if (cp < 0x10000) {
    u[0] = static_cast<uint8_t>(0xe0 | (cp >> 12));
    n = 3;
  } else {
    u[0] = static_cast<uint8_t>(0xf0 | (cp >> 18));
    n = 4;
  }
  for (size_t i = 1; i < n; ++i)
    u[i] = static_cast<uint8_t>(0x80 | ((cp >> (6 * (n - 1 - i))) & 0x3f));
  for (size_t i = 0; i < n; ++i) Unit(lane, u[i], start, out);
  SecureWipe(u, sizeof(u));
}

// One decoded unit that began at input position `start`.
void Stream::Unit(size_t lane, uint8_t byte, uint64_t start, Redactor::Output& out) {
  LaneState& l = lanes_[lane];
  rings_[lane * ring_ + l.units % ring_] = start | (IsBase64Char(byte) ? kBase64Flag : 0);
  ++l.units;
  l.state = ac_->Step(l.state, byte);
  const uint32_t m = ac_->match_len(l.state);
  if (m == 0) return;
  uint64_t span = m;
  // A mid-string base64 form: its leading edge character also carries secret bits.
  if (ac_->extend_len(l.state) == m && l.units > m &&
      (RingAt(lane, l.units - 1 - m) & kBase64Flag)) {
    span = m + 1;
  }
  AddCover(RingAt(lane, l.units - span) & ~kBase64Flag, out);
}

// A non-matching unit: resets the lane's automaton.
void Stream::Break(size_t lane, uint64_t start) {
  LaneState& l = lanes_[lane];
  rings_[lane * ring_ + l.units % ring_] = start;
  ++l.units;
  l.state = PatternAutomaton::kRoot;
}

// The lowest input position a future match could still cover. Everything before it
// is final.
uint64_t Stream::Horizon() const {
  uint64_t h = pos_;
  for (size_t lane = 0; lane < kLanes; ++lane) {
    const LaneState& l = lanes_[lane];
    if (l.phase != 0) h = std::min(h, l.esc_start);
    if (l.high != 0) h = std::min(h, l.pair_start);
    if (l.units == 0) continue;
    // A future match starts at unit (units - depth) or later.
    const uint64_t d = ac_->depth(l.state);
    if (d > 0) h = std::min(h, RingAt(lane, l.units - d) & ~kBase64Flag);
    // A future extend_before match starts at unit (units - extend_depth) or later and may
    // take the unit before it, if that is a base64 character. Starts later than that
    // take a unit already held by the line above.
    if (ac_->has_extend()) {
      const uint64_t e = ac_->extend_depth(l.state);
      const uint64_t edge = l.units > e ? RingAt(lane, l.units - e - 1) : 0;
      if (edge & kBase64Flag) h = std::min(h, edge & ~kBase64Flag);
    }
  }
  return h;
}

// Covers input positions [start, pos_].
void Stream::AddCover(uint64_t start, Redactor::Output& out) {
  // Release what is final first, so the pending runs stay within the holdback.
  Emit(Horizon(), out);
  KC_CHECK(start >= emitted_);  // else bytes of this match were already written out
  uint64_t end = pos_;
  // Adjacent to the run whose marker was the last thing written: the same run.
  bool marked = start == last_run_end_;
  while (cover_count_ > 0) {
    Cover& back = covers_[(cover_head_ + cover_count_ - 1) % cover_cap_];
    if (back.end + 1 < start) break;  // neither overlapping nor adjacent
    start = std::min(start, back.start);
    end = std::max(end, back.end);
    marked = marked || back.marked;
    --cover_count_;
  }
  KC_CHECK(cover_count_ < cover_cap_);
  covers_[(cover_head_ + cover_count_) % cover_cap_] = Cover{start, end, marked};
  ++cover_count_;
}

// Writes out input positions [emitted_, upto).
void Stream::Emit(uint64_t upto, Redactor::Output& out) {
  while (emitted_ < upto) {
    if (cover_count_ > 0 && covers_[cover_head_].start <= emitted_) {
      Cover& c = covers_[cover_head_];
      if (!c.marked) {
        out.WriteMarker();
        ++markers_;
        c.marked = true;
      }
      if (c.end + 1 > upto) {
        emitted_ = upto;
        return;
      }
      emitted_ = c.end + 1;
      last_run_end_ = emitted_;
      cover_head_ = (cover_head_ + 1) % cover_cap_;
      --cover_count_;
      continue;
    }
    const uint64_t to = cover_count_ > 0 ? std::min(upto, covers_[cover_head_].start) : upto;
    WritePlain(emitted_, to, out);
    emitted_ = to;
  }
}

void Stream::WritePlain(uint64_t from, uint64_t to, Redactor::Output& out) {
  if (from < chunk_base_) {
    const uint64_t stop = std::min(to, chunk_base_);
    KC_CHECK(from >= hb_base_ && stop - hb_base_ <= hb_len_);
    out.Write(ByteView(hb_ + (from - hb_base_), stop - from));
    from = stop;
  }
  if (from < to) out.Write(in_.subspan(from - chunk_base_, to - from));
}

// After Process(): keep input positions [emitted_, pos_) in the holdback buffer.
void Stream::KeepTail() {
  const size_t old_len = hb_len_;
  const size_t keep = pos_ - emitted_;
  KC_CHECK(keep <= hb_cap_);
  if (emitted_ >= chunk_base_) {
    if (keep > 0) memcpy(hb_, in_.data() + (emitted_ - chunk_base_), keep);
  } else {
    const size_t from_hb = chunk_base_ - emitted_;
    memmove(hb_, hb_ + (emitted_ - hb_base_), from_hb);
    if (!in_.empty()) memcpy(hb_ + from_hb, in_.data(), in_.size());
  }
  if (old_len > keep) SecureWipe(hb_ + keep, old_len - keep);
  hb_len_ = keep;
  hb_base_ = emitted_;
  chunk_base_ = pos_;  // everything not yet written is in hb_ now
}

class StringOutput final : public Redactor::Output {
 public:
  explicit StringOutput(std::string* s) : s_(s) {}
  void Write(ByteView bytes) override { s_->append(AsChars(bytes)); }

 private:
  std::string* s_;
};

}  // namespace

struct Redactor::Impl {
  SecureBuffer memory;  // the automaton and both streams' state
  PatternAutomaton automaton;
  Stream body;
  Stream header;
};

Redactor::Redactor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Redactor::Redactor(Redactor&&) noexcept = default;
Redactor& Redactor::operator=(Redactor&&) noexcept = default;
Redactor::~Redactor() = default;

Result<Redactor> Redactor::Create(SecretView secret, SecretKind kind) {
  if (secret.empty()) return Status(Err::kInvalidArgument, "redactor: empty secret");
  if (secret.size() > kMaxSecretBytes) return Status(Err::kTooLarge, "redactor: secret too long");
  auto impl = std::make_unique<Impl>();
  {
    KC_ASSIGN_OR_RETURN(const PatternSet patterns, DerivePatterns(secret, kind));
    std::vector<PatternSpec> specs;
    specs.reserve(patterns.entries.size());
    for (size_t i = 0; i < patterns.entries.size(); ++i) {
      specs.push_back(PatternSpec{patterns.pattern(i), patterns.entries[i].extend_before});
    }
    KC_ASSIGN_OR_RETURN(const PatternAutomaton::Plan plan, PatternAutomaton::PlanFor(specs));
    const size_t ac_bytes = AlignUp(plan.bytes());
    const size_t stream_bytes = Stream::BytesNeeded(plan);
    KC_ASSIGN_OR_RETURN(impl->memory, SecureBuffer::Allocate(ac_bytes + 2 * stream_bytes));
    uint8_t* m = impl->memory.data();
    impl->automaton = PatternAutomaton::Build(specs, plan, m);
    impl->body.Init(&impl->automaton, m + ac_bytes);
    impl->header.Init(&impl->automaton, m + ac_bytes + stream_bytes);
  }  // the patterns are in the automaton now; their buffer is wiped here
  return Redactor(std::move(impl));
}

void Redactor::Process(ByteView in, Output& out) { impl_->body.Process(in, out); }
void Redactor::Finish(Output& out) { impl_->body.Finish(out); }

void Redactor::RedactHeaderValue(std::string_view value, Output& out) {
  impl_->header.Process(AsBytes(value), out);
  impl_->header.Finish(out);
}

std::string Redactor::RedactHeaderValue(std::string_view value) {
  std::string s;
  StringOutput out(&s);
  RedactHeaderValue(value, out);
  return s;
}

size_t Redactor::holdback_bytes() const { return impl_->body.holdback(); }
size_t Redactor::max_holdback_bytes() const { return impl_->body.max_holdback(); }
uint64_t Redactor::redactions() const { return impl_->body.markers(); }

}  // namespace keycell::enclave::http

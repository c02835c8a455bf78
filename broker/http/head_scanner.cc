#include "broker/http/head_scanner.h"

namespace keycell::broker::http {

HeadScanner::State HeadScanner::Scan(std::string_view buf) {
  while (pos_ < buf.size()) {
    if (pos_ >= max_bytes_) return State::kTooLarge;
    const char c = buf[pos_];
    if (c == '\n') return State::kBadLineEnding;  // a CR is always consumed with its LF
    if (c == '\r') {
      if (pos_ + 1 >= buf.size()) return State::kNeedMore;
      if (buf[pos_ + 1] != '\n') return State::kBadLineEnding;
      pos_ += 2;
      if (leading_) {
        begin_ = pos_;
        continue;
      }
      if (line_start_) {  // the empty line: end of head
        end_ = pos_;
        return State::kComplete;
      }
      line_start_ = true;
      continue;
    }
    if (line_start_ && (c == ' ' || c == '\t')) return State::kLeadingWhitespace;
    leading_ = false;
    line_start_ = false;
    ++pos_;
  }
  return pos_ >= max_bytes_ ? State::kTooLarge : State::kNeedMore;
}

}  // namespace keycell::broker::http

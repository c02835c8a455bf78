#include "broker/envfile/dotenv_lexer.h"

#include <string.h>

#include "broker/envfile/dotenv_parser.h"

namespace keycell::broker::envfile {
namespace {

constexpr uint8_t kUtf8Bom[] = {0xef, 0xbb, 0xbf};

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

// Wider than a valid environment name on purpose ([A-Za-z0-9_.-], Node dotenv's set):
// the merge must keep an unrelated `my.setting=1` line, and ParseDotenv rejects such
// names itself with a clearer message.
bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

Status LineError(const char* where, size_t line) {
  // Files are capped at kMaxDotenvBytes, so a line number always fits.
  return Status(Err::kInvalidArgument, where, static_cast<int32_t>(line));
}

}  // namespace

size_t DotenvLexer::NewlineLength(size_t at) const {
  if (at >= file_.size()) return 0;
  if (file_[at] == '\n') return 1;
  if (file_[at] != '\r') return 0;
  return at + 1 < file_.size() && file_[at + 1] == '\n' ? 2 : 1;
}

bool DotenvLexer::AtEol() const { return pos_ >= file_.size() || NewlineLength(pos_) != 0; }

void DotenvLexer::SkipBlanks() {
  while (pos_ < file_.size() && IsBlank(Peek())) ++pos_;
}

void DotenvLexer::SkipToEndOfLine() {
  while (pos_ < file_.size()) {
    const size_t nl = NewlineLength(pos_);
    if (nl != 0) {
      pos_ += nl;
      ++line_;
      return;
    }
    ++pos_;
  }
}

Result<bool> DotenvLexer::Next(DotenvRecord* out) {
  if (failed_) return Status(Err::kInvalidArgument, "dotenv: lexer used after an error");
  if (file_.size() > kMaxDotenvBytes) {
    failed_ = true;
    return Status(Err::kTooLarge, "dotenv: file over 1 MiB");
  }
  if (pos_ >= file_.size()) return false;
  DotenvRecord rec;
  rec.begin = pos_;
  rec.line = line_;
  Status st;
  if (pos_ == 0 && file_.size() >= sizeof(kUtf8Bom) &&
      memcmp(file_.data(), kUtf8Bom, sizeof(kUtf8Bom)) == 0) {
    pos_ = sizeof(kUtf8Bom);  // Windows editors write one; it is not part of a name.
  } else {
    SkipBlanks();
    if (AtEol() || Peek() == '#') {
      SkipToEndOfLine();
    } else {
      st = LexEntry(&rec);
    }
  }
  // A NUL cannot be in an environment value and means this is not a text file.
  if (st.ok() && memchr(file_.data() + rec.begin, 0, pos_ - rec.begin) != nullptr)
    st = LineError("dotenv: NUL byte", rec.line);
  if (!st.ok()) {
    failed_ = true;
    return st;
  }
  rec.end = pos_;
  *out = rec;
  return true;
}

Status DotenvLexer::LexEntry(DotenvRecord* rec) {
  rec->kind = RecordKind::kEntry;
  static constexpr std::string_view kExport = "export";
  const std::string_view rest = AsChars(file_.subspan(pos_));
  // `export=1` and `exported=1` name variables; only `export` + blank is the prefix.
  if (rest.size() > kExport.size() && rest.starts_with(kExport) && IsBlank(rest[kExport.size()])) {
    pos_ += kExport.size();
    SkipBlanks();
  }
  const size_t name_begin = pos_;
  while (pos_ < file_.size() && IsNameChar(Peek())) ++pos_;
  if (pos_ == name_begin) return LineError("dotenv: expected NAME=value", rec->line);
  rec->name = AsChars(file_.subspan(name_begin, pos_ - name_begin));
  SkipBlanks();
  // A bare `NAME` is None in python-dotenv and ignored by Node: refuse, not guess.
  if (pos_ >= file_.size() || Peek() != '=')
    return LineError("dotenv: expected '=' after the name", rec->line);
  ++pos_;
  SkipBlanks();
  if (pos_ < file_.size() && (Peek() == '\'' || Peek() == '"')) return LexQuoted(rec, Peek());
  rec->quote = Quote::kNone;
  rec->value_begin = pos_;
  while (!AtEol()) ++pos_;
  rec->value_end = pos_;
  SkipToEndOfLine();
  return Status::Ok();
}

Status DotenvLexer::LexQuoted(DotenvRecord* rec, char quote) {
  rec->quote = quote == '"' ? Quote::kDouble : Quote::kSingle;
  ++pos_;
  rec->value_begin = pos_;
  while (pos_ < file_.size()) {
    const char c = Peek();
    if (c == quote) {
      rec->value_end = pos_++;
      return LexAfterQuote();
    }
    if (c == '\\' && pos_ + 1 < file_.size()) {
      const char n = static_cast<char>(file_[pos_ + 1]);
      // python-dotenv and Node treat \' as not closing the quote (python also
      // decodes \\), bash reads single quotes literally. Where the value ends is
      // then parser-dependent: refuse instead of guessing.
      if (quote == '\'' && (n == '\\' || n == '\''))
        return LineError("dotenv: \\\\ or \\' inside single quotes", rec->line);
      // In double quotes a backslash always takes the next byte, so \" never closes
      // and \\" does (python-dotenv's regex gets the latter wrong; we do not).
      if (quote == '"' && n != '\r' && n != '\n') {
        pos_ += 2;
        continue;
      }
    }
    const size_t nl = NewlineLength(pos_);
    if (nl != 0) ++line_;
    pos_ += nl != 0 ? nl : 1;
  }
  return LineError(
      quote == '"' ? "dotenv: unterminated double quote" : "dotenv: unterminated single quote",
      rec->line);
}

Status DotenvLexer::LexAfterQuote() {
  SkipBlanks();
  // python-dotenv accepts a comment right after the quote (`A="x"# c`); so do we.
  if (!AtEol() && Peek() != '#')
    return LineError("dotenv: unexpected text after the closing quote", line_);
  SkipToEndOfLine();
  return Status::Ok();
}

}  // namespace keycell::broker::envfile

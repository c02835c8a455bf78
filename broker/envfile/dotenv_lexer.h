#pragma once
// Structure of a dotenv file, without decoding any value: where each record (line or
// multi-line entry) starts and ends, its name, and where its raw value bytes lie.
// Shared by ParseDotenv (which decodes values) and KeepUnmanagedLines (which copies
// unrelated records byte for byte), so both agree on every record boundary.
//
// Internal to kc_envfile; the dialect is documented in dotenv_parser.h.

#include <cstddef>
#include <string_view>

#include "common/bytes.h"
#include "common/result.h"

namespace keycell::broker::envfile {

enum class RecordKind {
  kTrivia,  // blank line, comment line, or the UTF-8 byte order mark at offset 0
  kEntry,   // [export ]NAME=value
};

enum class Quote { kNone, kSingle, kDouble };

struct DotenvRecord {
  RecordKind kind = RecordKind::kTrivia;
  size_t begin = 0;  // byte span in the file, line terminator included
  size_t end = 0;
  size_t line = 0;  // 1-based line of `begin`
  // kEntry only. `name` points into the file bytes (names are not secret).
  std::string_view name;
  size_t value_begin = 0;  // raw value bytes: inside the quotes, or the unquoted
  size_t value_end = 0;    // rest of the line after `=` and its leading blanks
  Quote quote = Quote::kNone;
};

// Walks a dotenv file record by record. Holds a view: `file` must outlive the lexer
// and every DotenvRecord it returns. Never copies value bytes.
class DotenvLexer {
 public:
  explicit DotenvLexer(ByteView file) : file_(file) {}

  // Fills `*out` with the next record and returns true, or returns false at the end.
  // Errors (detail = 1-based line of the problem: where the record starts, or for text
  // after a closing quote that line; messages never contain file content):
  //   kTooLarge        the file is over kMaxDotenvBytes (detail 0)
  //   kInvalidArgument structural errors: NUL byte, missing name or '=', unterminated
  //                    quote, text after a closing quote, \\ or \' in single quotes.
  // After an error the lexer stays failed.
  Result<bool> Next(DotenvRecord* out);

 private:
  Status LexEntry(DotenvRecord* rec);
  Status LexQuoted(DotenvRecord* rec, char quote);
  Status LexAfterQuote();
  void SkipBlanks();
  void SkipToEndOfLine();  // up to and including the line terminator
  bool AtEol() const;
  size_t NewlineLength(size_t at) const;  // 0, or 1-2 bytes of \n, \r\n or \r
  char Peek() const { return static_cast<char>(file_[pos_]); }

  ByteView file_;
  size_t pos_ = 0;
  size_t line_ = 1;
  bool failed_ = false;
};

}  // namespace keycell::broker::envfile

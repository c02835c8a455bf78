#pragma once
// What the CLI prints: aligned tables and key/value blocks for people, JSON for
// scripts (`--json`). Everything printed here is metadata from keycelld's replies;
// no secret value ever reaches these functions (revealed values are written by
// `keycell get` straight from a SecureBuffer). Pure except for the Print* functions,
// which write to stdout; unit-tested in tests/broker/cli/output_test.cc.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "broker/json/json.h"

namespace keycell::cli {

// A plain-text table: a header row, then one line per row; columns left-aligned and
// separated by two spaces, the last column unpadded (no trailing blanks). Widths count
// UTF-8 code points, so non-ASCII names stay aligned in a monospace terminal.
class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  // Missing cells print blank; cells beyond the header count are dropped. Cells are
  // passed through Printable().
  void AddRow(std::vector<std::string> cells);
  size_t rows() const { return rows_.size(); }
  std::string Render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// `text` with control characters (C0, DEL) replaced by '?' and newlines shown as
// "\n": store strings such as notes are free text, and an escape sequence in one must
// not reach the terminal.
std::string Printable(std::string_view text);

// "2026-12-31 08:30 UTC"; "-" for 0 (never / unset).
std::string FormatTime(int64_t unix_seconds);
// "2026-12-31"; "-" for 0.
std::string FormatDate(int64_t unix_seconds);

// The strings of a JSON array, in order (other members skipped); empty for non-arrays.
std::vector<std::string> StringsOf(const cJSON* array);
// A JSON array of `items` (for request arguments).
json::Json JsonStrings(const std::vector<std::string>& items);
// `items` joined by `sep`; "-" when empty.
std::string JoinOrDash(const std::vector<std::string>& items, std::string_view sep = ",");
// An integer member as text, or "-" when absent or null.
std::string IntField(const cJSON* obj, const char* key);
// A time member (unix seconds) through FormatTime, "-" when absent or null.
std::string TimeField(const cJSON* obj, const char* key);
// A string member through Printable, "" when absent.
std::string StringField(const cJSON* obj, const char* key);

// "label:  value" lines with the labels padded to one width.
std::string KeyValueBlock(const std::vector<std::pair<std::string, std::string>>& rows);

// Writes `text` to stdout. Returns 0, or 1 when stdout failed (e.g. a closed pipe).
int PrintText(std::string_view text);
// Pretty-printed JSON and a newline to stdout. Returns 0 or 1 as PrintText.
int PrintJson(const cJSON* value);

}  // namespace keycell::cli

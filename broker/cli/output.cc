#include "broker/cli/output.h"

#include <stdio.h>
#include <time.h>

#include <algorithm>

namespace keycell::cli {
namespace {

size_t DisplayWidth(std::string_view s) {
  // UTF-8 continuation bytes (10xxxxxx) do not start a code point.
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

std::string Strftime(int64_t unix_seconds, const char* format) {
  if (unix_seconds == 0) return "-";
  const time_t t = static_cast<time_t>(unix_seconds);
  tm utc{};
  if (gmtime_r(&t, &utc) == nullptr) return "-";
  char buf[64];
  const size_t n = strftime(buf, sizeof(buf), format, &utc);
  return n == 0 ? "-" : std::string(buf, n);
}

}  // namespace

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  for (std::string& c : cells) c = Printable(c);
  rows_.push_back(std::move(cells));
}

std::string Table::Render() const {
  std::vector<size_t> width(headers_.size());
  for (size_t i = 0; i < headers_.size(); ++i) {
    width[i] = DisplayWidth(headers_[i]);
    for (const auto& row : rows_) width[i] = std::max(width[i], DisplayWidth(row[i]));
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < cells.size(); ++i) {
      out += cells[i];
      if (i + 1 < cells.size()) out.append(width[i] - DisplayWidth(cells[i]) + 2, ' ');
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    out += '\n';
  };
  line(headers_);
  for (const auto& row : rows_) line(row);
  return out;
}

std::string Printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (c == '\n')
      out += "\\n";
    else if (u < 0x20 || u == 0x7F)
      out += '?';
    else
      out += c;
  }
  return out;
}

std::string FormatTime(int64_t unix_seconds) {
  return Strftime(unix_seconds, "%Y-%m-%d %H:%M UTC");
}
std::string FormatDate(int64_t unix_seconds) { return Strftime(unix_seconds, "%Y-%m-%d"); }

std::vector<std::string> StringsOf(const cJSON* array) {
  std::vector<std::string> out;
  if (json::TypeOf(array) != json::Type::kArray) return out;
  for (const cJSON* item : json::Children(array))
    if (auto s = json::AsString(item)) out.emplace_back(*s);
  return out;
}

json::Json JsonStrings(const std::vector<std::string>& items) {
  json::Json arr = json::MakeArray();
  for (const auto& s : items)
    if (auto j = json::MakeString(s); j.ok()) (void)json::Append(arr.get(), std::move(*j));
  return arr;
}

std::string JoinOrDash(const std::vector<std::string>& items, std::string_view sep) {
  if (items.empty()) return "-";
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

std::string IntField(const cJSON* obj, const char* key) {
  const auto v = json::GetInt(obj, key);
  return v ? std::to_string(*v) : "-";
}

std::string TimeField(const cJSON* obj, const char* key) {
  return FormatTime(json::GetInt(obj, key).value_or(0));
}

std::string StringField(const cJSON* obj, const char* key) {
  return Printable(json::GetString(obj, key).value_or(""));
}

std::string KeyValueBlock(const std::vector<std::pair<std::string, std::string>>& rows) {
  size_t width = 0;
  for (const auto& [k, v] : rows) width = std::max(width, DisplayWidth(k));
  std::string out;
  for (const auto& [k, v] : rows) {
    out += k + ":";
    out.append(width - DisplayWidth(k) + 2, ' ');
    out += Printable(v) + "\n";
  }
  return out;
}

int PrintText(std::string_view text) {
  if (fwrite(text.data(), 1, text.size(), stdout) != text.size()) return 1;
  return fflush(stdout) == 0 ? 0 : 1;
}

int PrintJson(const cJSON* value) {
  auto text = json::Print(value, true);
  if (!text.ok()) return 1;
  *text += '\n';
  return PrintText(*text);
}

}  // namespace keycell::cli

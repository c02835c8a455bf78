#include "broker/envfile/dotenv_parser.h"

#include <string.h>

#include <unordered_set>

#include "broker/envfile/dotenv_lexer.h"

namespace keycell::broker::envfile {
namespace {

Status LineError(Err code, const char* where, size_t line) {
  // Inputs are size-capped, so line and record numbers fit in the detail field.
  return Status(code, where, static_cast<int32_t>(line));
}

bool IsBlank(uint8_t c) { return c == ' ' || c == '\t'; }

// Same acceptance as enclave/env_line.cc (which refuses to write anything else):
// shortest form, no surrogates, nothing past U+10FFFF.
bool ValidUtf8(const uint8_t* p, size_t size) {
  static constexpr uint32_t kMin[4] = {0, 0x80, 0x800, 0x10000};  // shortest form per length
  size_t i = 0;
  while (i < size) {
    const uint8_t c = p[i];
    // n = continuation bytes the lead byte announces; 4 = not a lead byte.
    const size_t n = c < 0x80             ? 0
                     : (c & 0xe0) == 0xc0 ? 1
                     : (c & 0xf0) == 0xe0 ? 2
                     : (c & 0xf8) == 0xf0 ? 3
                                          : 4;
    if (n == 4 || size - i <= n) return false;
    uint32_t cp = n == 0 ? c : c & (0x7fu >> (n + 1));
    for (size_t k = 1; k <= n; ++k) {
      if ((p[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

// python-dotenv's double-quote escapes (codecs 'unicode-escape' on \\[\\'"abfnrtv]).
// Returns -1 for any other byte: the backslash then stays literal, as in python.
int DoubleQuoteEscape(uint8_t c) {
  switch (c) {
    case '\\':
      return '\\';
    case '\'':
      return '\'';
    case '"':
      return '"';
    case 'a':
      return '\a';
    case 'b':
      return '\b';
    case 'f':
      return '\f';
    case 'n':
      return '\n';
    case 'r':
      return '\r';
    case 't':
      return '\t';
    case 'v':
      return '\v';
    default:
      return -1;
  }
}

// Decodes a quoted value's raw bytes (between the quotes). Output is never longer
// than the input, so one allocation of the raw size suffices.
Result<SecureBuffer> DecodeQuotedSecret(ByteView raw, bool double_quoted) {
  KC_ASSIGN_OR_RETURN(SecureBuffer out, SecureBuffer::Allocate(raw.size()));
  size_t n = 0;
  for (size_t i = 0; i < raw.size(); ++i) {
    const uint8_t c = raw[i];
    if (c == '\r') {  // \r\n and a lone \r are line breaks, read as \n (python, Node)
      if (i + 1 < raw.size() && raw[i + 1] == '\n') ++i;
      out.data()[n++] = '\n';
      continue;
    }
    const int esc =
        double_quoted && c == '\\' && i + 1 < raw.size() ? DoubleQuoteEscape(raw[i + 1]) : -1;
    if (esc >= 0) {
      out.data()[n++] = static_cast<uint8_t>(esc);
      ++i;
      continue;
    }
    out.data()[n++] = c;
  }
  out.resize(n);
  return out;
}

Result<SecureBuffer> DecodeUnquotedSecret(ByteView raw, size_t line) {
  // python reads `A=#x` / `A= #x` as "#x", bash and Node as a comment; Node strips
  // backticks, python keeps them. Refuse instead of picking one.
  if (!raw.empty() && raw[0] == '#')
    return LineError(Err::kInvalidArgument, "dotenv: unquoted value starts with '#'", line);
  if (!raw.empty() && raw[0] == '`')
    return LineError(Err::kInvalidArgument, "dotenv: backtick quotes are not supported", line);
  size_t end = raw.size();
  for (size_t i = 1; i < raw.size(); ++i) {
    if (raw[i] == '#' && IsBlank(raw[i - 1])) {
      end = i;
      break;
    }
  }
  while (end > 0 && IsBlank(raw[end - 1])) --end;
  return SecureBuffer::CopyOf(raw.first(end));
}

Result<SecureBuffer> DecodeValueSecret(ByteView file, const DotenvRecord& rec) {
  const ByteView raw = file.subspan(rec.value_begin, rec.value_end - rec.value_begin);
  KC_ASSIGN_OR_RETURN(SecureBuffer value,
                      rec.quote == Quote::kNone
                          ? DecodeUnquotedSecret(raw, rec.line)
                          : DecodeQuotedSecret(raw, rec.quote == Quote::kDouble));
  if (value.size() > kMaxEnvValueBytes)
    return LineError(Err::kTooLarge, "dotenv: value over 64 KiB", rec.line);
  if (!ValidUtf8(value.data(), value.size()))
    return LineError(Err::kInvalidArgument, "dotenv: value is not UTF-8", rec.line);
  return value;
}

// Shared tail of both parsers: name rules, the entry cap and duplicates.
Status CheckNewEntry(std::string_view name, size_t count,
                     std::unordered_set<std::string_view>& seen, size_t line, const char* bad_name,
                     const char* duplicate) {
  if (count >= kMaxEnvEntries) return Status(Err::kTooLarge, "envfile: more than 1024 entries");
  if (!IsEnvName(name)) return LineError(Err::kInvalidArgument, bad_name, line);
  // Which duplicate wins differs between tools (and is usually a mistake): refuse.
  if (!seen.insert(name).second) return LineError(Err::kInvalidArgument, duplicate, line);
  return Status::Ok();
}

}  // namespace

bool IsEnvName(std::string_view name) {
  if (name.empty() || name.size() > kMaxEnvNameBytes) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

Result<std::vector<EnvEntry>> ParseDotenv(ByteView file_bytes) {
  std::vector<EnvEntry> entries;
  std::unordered_set<std::string_view> seen;  // views into file_bytes: stable
  DotenvLexer lexer(file_bytes);
  DotenvRecord rec;
  while (true) {
    KC_ASSIGN_OR_RETURN(const bool more, lexer.Next(&rec));
    if (!more) break;
    if (rec.kind != RecordKind::kEntry) continue;
    KC_RETURN_IF_ERROR(CheckNewEntry(rec.name, entries.size(), seen, rec.line,
                                     "dotenv: invalid variable name", "dotenv: duplicate name"));
    KC_ASSIGN_OR_RETURN(SecureBuffer value, DecodeValueSecret(file_bytes, rec));
    entries.push_back(EnvEntry{std::string(rec.name), std::move(value), rec.line});
  }
  return entries;
}

Result<std::vector<EnvEntry>> ParseNulRecords(ByteView records) {
  std::vector<EnvEntry> entries;
  std::unordered_set<std::string_view> seen;
  const std::string_view in = AsChars(records);
  size_t pos = 0;
  for (size_t index = 1; pos < in.size(); ++index) {
    const size_t name_end = in.find('\0', pos);
    const size_t value_end =
        name_end == std::string_view::npos ? name_end : in.find('\0', name_end + 1);
    if (value_end == std::string_view::npos)
      return LineError(Err::kInvalidArgument, "nul records: truncated record", index);
    const std::string_view name = in.substr(pos, name_end - pos);
    KC_RETURN_IF_ERROR(CheckNewEntry(name, entries.size(), seen, index,
                                     "nul records: invalid variable name",
                                     "nul records: duplicate name"));
    const ByteView value = records.subspan(name_end + 1, value_end - name_end - 1);
    if (value.size() > kMaxEnvValueBytes)
      return LineError(Err::kTooLarge, "nul records: value over 64 KiB", index);
    KC_ASSIGN_OR_RETURN(SecureBuffer secret, SecureBuffer::CopyOf(value));
    entries.push_back(EnvEntry{std::string(name), std::move(secret), index});
    pos = value_end + 1;
  }
  return entries;
}

std::string DescribeEnvfileError(const Status& status) {
  // detail is a line / record number for parse errors and an errno for file errors.
  static constexpr std::string_view kPrefixes[][2] = {
      {"dotenv: ", "line "}, {"nul records: ", "record "}, {"envfile: ", ""}, {"gitignore: ", ""}};
  const std::string_view where = status.where();
  for (const auto& [prefix, unit] : kPrefixes) {
    if (!where.starts_with(prefix)) continue;
    const std::string what(where.substr(prefix.size()));
    if (status.detail() <= 0) return what;
    if (unit.empty()) return what + ": " + strerror(status.detail());
    return std::string(unit) + std::to_string(status.detail()) + ": " + what;
  }
  return std::string(where);
}

}  // namespace keycell::broker::envfile

// FormatEnvLine writes plaintext into a file another program parses, so a quoting
// slip is an injection (an extra variable, a truncated key). Input layout:
//   name_len | name[name_len] | value
// Properties, checked against independent reference code below:
//   - it succeeds exactly when the name is [A-Za-z_][A-Za-z0-9_]* and the value is
//     well-formed UTF-8 without NUL (Unicode Table 3-7, written out byte range by range);
//   - the output is exactly one record: "NAME=", one quoted value, '\n', nothing more;
//   - the quoting is the one enclave/env_line.h documents for this value, and the
//     reference decoder for that style gives back the value byte for byte.

#include <stdint.h>
#include <string.h>

#include <algorithm>
#include <string>
#include <string_view>

#include "enclave/env_line.h"

namespace keycell::enclave {
namespace {

bool RefValidName(std::string_view n) {
  if (n.empty() || (n[0] >= '0' && n[0] <= '9')) return false;
  for (char c : n) {
    if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
      return false;
  }
  return true;
}

// Well-formed UTF-8 sequences, Unicode 15 Table 3-7. Rejects NUL as well.
bool RefValidValue(std::string_view v) {
  auto in = [](uint8_t c, uint8_t lo, uint8_t hi) { return c >= lo && c <= hi; };
  size_t i = 0;
  while (i < v.size()) {
    const uint8_t c = v[i];
    const auto at = [&](size_t k) -> uint8_t { return i + k < v.size() ? uint8_t(v[i + k]) : 0; };
    size_t len;
    if (c == 0) return false;
    if (c <= 0x7f)
      len = 1;
    else if (in(c, 0xc2, 0xdf))
      len = in(at(1), 0x80, 0xbf) ? 2 : 0;
    else if (c == 0xe0)
      len = in(at(1), 0xa0, 0xbf) && in(at(2), 0x80, 0xbf) ? 3 : 0;
    else if (in(c, 0xe1, 0xec) || in(c, 0xee, 0xef))
      len = in(at(1), 0x80, 0xbf) && in(at(2), 0x80, 0xbf) ? 3 : 0;
    else if (c == 0xed)
      len = in(at(1), 0x80, 0x9f) && in(at(2), 0x80, 0xbf) ? 3 : 0;
    else if (c == 0xf0)
      len = in(at(1), 0x90, 0xbf) && in(at(2), 0x80, 0xbf) && in(at(3), 0x80, 0xbf) ? 4 : 0;
    else if (in(c, 0xf1, 0xf3))
      len = in(at(1), 0x80, 0xbf) && in(at(2), 0x80, 0xbf) && in(at(3), 0x80, 0xbf) ? 4 : 0;
    else if (c == 0xf4)
      len = in(at(1), 0x80, 0x8f) && in(at(2), 0x80, 0xbf) && in(at(3), 0x80, 0xbf) ? 4 : 0;
    else
      len = 0;
    if (len == 0) return false;
    i += len;
  }
  return true;
}

enum class Style { kSingle, kDouble, kEscaped };

// The rule from env_line.h, restated.
Style ExpectedStyle(std::string_view v) {
  const auto has = [&](char c) { return v.find(c) != std::string_view::npos; };
  if (!has('\'') && !has('\\') && !has('\r')) return Style::kSingle;
  if (!has('"') && !has('\\') && !has('\r') && !has('$')) return Style::kDouble;
  return Style::kEscaped;
}

// Decodes one whole record. Fails unless `line` is exactly NAME=<quoted>\n with the
// value closed by its final quote (an earlier closing quote would start a second
// record or a comment in a dotenv parser).
bool DecodeRecord(std::string_view line, std::string_view name, std::string* value, char* quote) {
  if (!line.starts_with(name) || line.size() < name.size() + 4) return false;
  line.remove_prefix(name.size());
  if (line[0] != '=' || line.back() != '\n') return false;
  const char q = line[1];
  if ((q != '\'' && q != '"') || line[line.size() - 2] != q) return false;
  const std::string_view body = line.substr(2, line.size() - 4);
  *quote = q;
  value->clear();
  if (q == '\'') {
    if (body.find('\'') != std::string_view::npos) return false;
    value->assign(body);
    return true;
  }
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (c == '"') return false;
    if (c != '\\') {
      value->push_back(c);
      continue;
    }
    if (++i == body.size()) return false;
    switch (body[i]) {
      case '\\':
        value->push_back('\\');
        break;
      case '"':
        value->push_back('"');
        break;
      case 'n':
        value->push_back('\n');
        break;
      case 'r':
        value->push_back('\r');
        break;
      default:
        return false;
    }
  }
  return true;
}

}  // namespace
}  // namespace keycell::enclave

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace keycell;
  using namespace keycell::enclave;
  if (size < 1) return 0;
  const size_t name_len = std::min<size_t>(data[0], size - 1);
  const std::string_view name(reinterpret_cast<const char*>(data + 1), name_len);
  const std::string_view value(reinterpret_cast<const char*>(data + 1 + name_len),
                               size - 1 - name_len);

  auto line =
      FormatEnvLine(name, SecretView(reinterpret_cast<const uint8_t*>(value.data()), value.size()));
  KC_CHECK(line.ok() == (RefValidName(name) && RefValidValue(value)));
  if (!line.ok()) return 0;

  const std::string_view out(reinterpret_cast<const char*>(line->data()), line->size());
  std::string decoded;
  char quote = 0;
  KC_CHECK(DecodeRecord(out, name, &decoded, &quote));
  KC_CHECK(decoded == value);
  const Style style = ExpectedStyle(value);
  KC_CHECK(quote == (style == Style::kSingle ? '\'' : '"'));
  const std::string_view body = out.substr(name.size() + 2, out.size() - name.size() - 4);
  if (style == Style::kDouble) KC_CHECK(body == value);  // literal: no escapes at all
  // Escaped style: line breaks are always escaped, so the record is one physical line.
  if (style == Style::kEscaped) KC_CHECK(body.find_first_of("\r\n") == std::string_view::npos);
  return 0;
}

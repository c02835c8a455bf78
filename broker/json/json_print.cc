// Our own printer instead of cJSON_Print. cJSON 1.7.15 prints a number with "%1.15g"
// and keeps that form whenever it reads back within a relative epsilon, so integers
// above 10^15 lose digits (9007199254740991 prints as 9.00719925474099e+15): a JSON-RPC
// id would not be echoed back exactly. std::to_chars gives the shortest text that reads
// back to the identical double, independent of the C locale.
//
// Printing also re-checks what the parser guarantees, so Print's output is always
// accepted by ParseJson: strings are clean UTF-8, nesting is at most kMaxJsonDepth.

#include <charconv>
#include <cmath>
#include <string>

#include "broker/json/json.h"
#include "broker/json/json_scan.h"
#include "common/secure_buffer.h"

namespace keycell::json {
namespace {

class Printer {
 public:
  explicit Printer(bool pretty) : pretty_(pretty) {}

  Status Value(const cJSON* item, int depth) {
    switch (TypeOf(item)) {
      case Type::kNull:
        out_ += "null";
        return Status::Ok();
      case Type::kBool:
        out_ += cJSON_IsTrue(item) ? "true" : "false";
        return Status::Ok();
      case Type::kNumber:
        return Number(item->valuedouble);
      case Type::kString:
        return String(item->valuestring);
      case Type::kArray:
        return Container(item, depth, '[', ']');
      case Type::kObject:
        return Container(item, depth, '{', '}');
      case Type::kInvalid:
        break;
    }
    return Status(Err::kInvalidArgument, "json: print of an invalid item");
  }

  std::string take() { return out_.take(); }

 private:
  void Newline(int depth) {
    if (!pretty_) return;
    out_ += '\n';
    out_.append(static_cast<size_t>(depth) * 2, ' ');
  }

  Status Number(double d) {
    if (!std::isfinite(d)) return Status(Err::kInvalidArgument, "json: non-finite number");
    char buf[32];  // the longest shortest-form double is 24 characters
    const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), d);
    if (ec != std::errc()) return Status(Err::kInternal, "json: to_chars");
    out_.append(buf, end);
    return Status::Ok();
  }

  // Escapes as RFC 8259 §7 requires and no more: quote, backslash, control characters.
  Status String(const char* s) {
    if (s == nullptr) return Status(Err::kInvalidArgument, "json: print of a null string");
    const std::string_view view(s);
    if (FindInvalidUtf8(view) != view.size()) {
      return Status(Err::kInvalidArgument, "json: string not clean UTF-8");
    }
    static constexpr char kHex[] = "0123456789abcdef";
    out_ += '"';
    for (const char c : view) {
      const auto u = static_cast<unsigned char>(c);
      switch (c) {
        case '"':
          out_ += "\\\"";
          break;
        case '\\':
          out_ += "\\\\";
          break;
        case '\b':
          out_ += "\\b";
          break;
        case '\f':
          out_ += "\\f";
          break;
        case '\n':
          out_ += "\\n";
          break;
        case '\r':
          out_ += "\\r";
          break;
        case '\t':
          out_ += "\\t";
          break;
        default:
          if (u < 0x20) {
            out_ += "\\u00";
            out_ += kHex[u >> 4];
            out_ += kHex[u & 0xf];
          } else {
            out_ += c;
          }
      }
    }
    out_ += '"';
    return Status::Ok();
  }

  Status Container(const cJSON* item, int depth, char open, char close) {
    if (depth >= kMaxJsonDepth) return Status(Err::kTooLarge, "json: nesting too deep");
    const bool object = open == '{';
    out_ += open;
    bool first = true;
    for (const cJSON* child : Children(item)) {
      if (!first) out_ += ',';
      first = false;
      Newline(depth + 1);
      if (object) {
        KC_RETURN_IF_ERROR(String(child->string));
        out_ += pretty_ ? ": " : ":";
      }
      KC_RETURN_IF_ERROR(Value(child, depth + 1));
    }
    if (!first) Newline(depth);
    out_ += close;
    return Status::Ok();
  }

  const bool pretty_;
  // Printed JSON may carry a secret (a revealed value in a tool result): the output never
  // leaves an unwiped buffer behind as it grows.
  WipingBuilder out_;
};

}  // namespace

Result<std::string> Print(const cJSON* item, bool pretty) {
  if (item == nullptr) return Status(Err::kInvalidArgument, "json: print of null item");
  Printer printer(pretty);
  KC_RETURN_IF_ERROR(printer.Value(item, 0));
  return printer.take();
}

}  // namespace keycell::json

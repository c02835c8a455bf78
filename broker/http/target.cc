#include "broker/http/target.h"

namespace keycell::broker::http {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// RFC 3986 pchar minus pct-encoded (handled by the caller), plus "/": unreserved,
// sub-delims, ":" and "@".
bool IsPathChar(char c) {
  constexpr std::string_view kPunct = "-._~!$&'()*+,;=:@/";
  return IsAlnum(c) || kPunct.find(c) != std::string_view::npos;
}

// Visible ASCII: what the query may hold. "#" is a fragment, never sent by a client.
bool IsQueryChar(char c) { return c > 0x20 && c < 0x7f && c != '#'; }

// Appends the percent-decoding of `in` to `out`; false on a bad escape. (Not through
// Result<std::string>: GCC 12 warns, wrongly, about the string in Result's union.)
bool DecodeInto(std::string_view in, bool plus_as_space, std::string* out) {
  out->reserve(out->size() + in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = HexValue(in[i + 1]);
      const int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out->push_back(c == '+' && plus_as_space ? ' ' : c);
    }
  }
  return true;
}

// Splits an absolute-form target into scheme, authority and the rest ("/..." or "").
Status SplitAbsolute(std::string_view target, ParsedTarget* out, std::string_view* rest) {
  const size_t colon = target.find("://");
  if (colon == std::string_view::npos)
    return Status(Err::kBadFrame, "http: target not origin-form");
  std::string scheme(target.substr(0, colon));
  for (char& c : scheme) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  if (scheme != "http" && scheme != "https") {
    return Status(Err::kBadFrame, "http: absolute-form scheme not http(s)");
  }
  std::string_view after = target.substr(colon + 3);
  const size_t end = after.find_first_of("/?");
  const std::string_view authority = after.substr(0, end);
  if (authority.empty()) return Status(Err::kBadFrame, "http: absolute-form without host");
  for (const char c : authority) {
    // No userinfo ("user:pw@host"): credentials never travel in a URL here.
    if (c == '@') return Status(Err::kBadFrame, "http: userinfo in target");
    if (!(IsAlnum(c) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_')) {
      return Status(Err::kBadFrame, "http: bad character in target authority");
    }
  }
  out->scheme = std::move(scheme);
  out->authority = std::string(authority);
  *rest = end == std::string_view::npos ? std::string_view() : after.substr(end);
  return Status::Ok();
}

// Checks and decodes the path, filling segments and their offsets.
Status ParsePath(std::string_view path, ParsedTarget* out) {
  for (size_t i = 0; i < path.size(); ++i) {
    const char c = path[i];
    if (c == '%') {
      // Needs two hex digits after it: path[i + 1] and path[i + 2].
      if (i + 2 >= path.size() || HexValue(path[i + 1]) < 0 || HexValue(path[i + 2]) < 0) {
        return Status(Err::kBadFrame, "http: bad percent-encoding");
      }
      i += 2;
      continue;
    }
    if (!IsPathChar(c)) return Status(Err::kBadFrame, "http: bad character in path");
  }
  out->path = std::string(path);
  if (path == "/") return Status::Ok();
  size_t start = 1;
  for (;;) {
    const size_t slash = path.find('/', start);
    const std::string_view raw = path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    std::string seg;
    if (!DecodeInto(raw, /*plus_as_space=*/false, &seg)) {
      return Status(Err::kBadFrame, "http: bad percent-encoding");
    }
    if (seg == "." || seg == "..") return Status(Err::kBadFrame, "http: dot segment in path");
    for (const char c : seg) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        return Status(Err::kBadFrame, "http: control character in decoded path");
      }
    }
    out->segments.push_back(std::move(seg));
    out->segment_offsets.push_back(start);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> PercentDecode(std::string_view in, bool plus_as_space) {
  std::string out;
  if (!DecodeInto(in, plus_as_space, &out))
    return Status(Err::kBadFrame, "http: bad percent-encoding");
  return out;
}

Result<ParsedTarget> ParseTarget(std::string_view target, TargetOptions options) {
  ParsedTarget out;
  if (target.empty()) return Status(Err::kBadFrame, "http: empty target");
  for (const char c : target) {
    // CR/LF/NUL and every other control byte, space and non-ASCII: Beast's request-line
    // parser already refuses most of them; this check does not rely on it.
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      return Status(Err::kBadFrame, "http: control or non-ASCII byte in target");
    }
  }
  if (target.find('#') != std::string_view::npos) {
    return Status(Err::kBadFrame, "http: fragment in target");
  }
  std::string_view rest = target;
  if (target.front() != '/') {
    if (target == "*") return Status(Err::kBadFrame, "http: asterisk-form target");
    if (!options.allow_absolute_form) {
      // "http://..." is absolute-form; "host:port" is authority-form (CONNECT).
      return Status(Err::kBadFrame, target.find("://") != std::string_view::npos
                                        ? "http: absolute-form target not allowed"
                                        : "http: target not origin-form");
    }
    KC_RETURN_IF_ERROR(SplitAbsolute(target, &out, &rest));
  }
  const size_t q = rest.find('?');
  std::string_view path = rest.substr(0, q);
  if (path.empty()) path = "/";  // absolute-form "http://host" or "http://host?q"
  if (q != std::string_view::npos) {
    out.has_query = true;
    out.query = std::string(rest.substr(q + 1));
    for (const char c : out.query) {
      if (!IsQueryChar(c)) return Status(Err::kBadFrame, "http: bad character in query");
    }
  }
  KC_RETURN_IF_ERROR(ParsePath(path, &out));
  return out;
}

}  // namespace keycell::broker::http

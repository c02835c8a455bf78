#pragma once
// The request-target (RFC 9112 §3.2): split into path and query, check every byte, and
// percent-decode the path segments. Pure functions; never block, never allocate more
// than a small multiple of the input.
//
// Accepted forms:
//   origin-form    "/path?query"                              always
//   absolute-form  "http://host[:port]/path?query" (or https) only with allow_absolute_form
// Refused (Err::kBadFrame, `where` says why; the server answers 400): asterisk-form
// ("*"), authority-form ("host:443", CONNECT), control characters, NUL, CR, LF, space or
// bytes >= 0x80 anywhere; a fragment ("#"); userinfo in an absolute-form authority;
// bad percent-encoding ("%zz", "%4"); a segment that decodes to "." or ".." (so "%2e%2E"
// is caught too) or to a control character (so "%00", "%0d%0a" never reach a handler).
//
// Path bytes must be RFC 3986 pchar or "/" (unreserved, sub-delims, ":", "@", pct-encoded).
// The query is kept raw (never decoded here, never logged): any visible ASCII except "#".

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace keycell::broker::http {

struct TargetOptions {
  bool allow_absolute_form = false;
};

struct ParsedTarget {
  std::string path;                   // raw (still percent-encoded), starts with "/"
  std::string query;                  // raw, without the "?"; empty when absent or empty
  bool has_query = false;             // "?" present (even with an empty query)
  std::vector<std::string> segments;  // decoded: "/" -> {}, "/a/b" -> {a, b}, "/a/" -> {a, ""}
  // segment_offsets[i]: index in `path` where segments[i] starts (after its "/"), so the
  // raw remainder from segment i is path.substr(segment_offsets[i] - 1).
  std::vector<size_t> segment_offsets;
  // absolute-form only (empty otherwise): scheme lower-cased, authority as sent.
  std::string scheme;
  std::string authority;
};

// Errors: kBadFrame ("http: ..." naming the rule).
Result<ParsedTarget> ParseTarget(std::string_view target, TargetOptions options = {});

// Percent-decodes `in` (for a query component: `plus_as_space` maps "+" to " ").
// Errors: kBadFrame "http: bad percent-encoding". The result may contain any byte;
// callers decide what is acceptable.
Result<std::string> PercentDecode(std::string_view in, bool plus_as_space = false);

}  // namespace keycell::broker::http

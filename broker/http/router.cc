#include "broker/http/router.h"

#include "broker/http/errors.h"

namespace keycell::broker::http {
namespace {

bool IsParamNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// Literal route segments: pchar without ":" (parameters), "*" (wildcard), "/" and "%".
bool IsLiteralChar(char c) {
  constexpr std::string_view kPunct = "-._~!$&'()+,;=@";
  return IsParamNameChar(c) || kPunct.find(c) != std::string_view::npos;
}

}  // namespace

std::string MethodSet::ToAllowHeader() const {
  std::string out;
  for (int i = 0; i < kMethodCount; ++i) {
    if (!Contains(static_cast<Method>(i))) continue;
    if (!out.empty()) out += ", ";
    out += MethodName(static_cast<Method>(i));
  }
  return out;
}

Status Router::Add(MethodSet methods, std::string_view pattern, Handler handler) {
  if (methods.empty()) return Status(Err::kInvalidArgument, "http: route without methods");
  if (!handler) return Status(Err::kInvalidArgument, "http: route without handler");
  if (pattern.empty() || pattern.front() != '/') {
    return Status(Err::kInvalidArgument, "http: route pattern must start with /");
  }
  Route route{methods, {}, std::move(handler)};
  if (pattern != "/") {
    size_t start = 1;
    for (;;) {
      const size_t slash = pattern.find('/', start);
      const std::string_view seg = pattern.substr(
          start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
      const bool last = slash == std::string_view::npos;
      if (seg.empty()) return Status(Err::kInvalidArgument, "http: empty segment in route");
      if (seg == "*") {
        if (!last) return Status(Err::kInvalidArgument, "http: * must be the last segment");
        route.parts.push_back({Part::kWildcard, "*"});
      } else if (seg.front() == ':') {
        const std::string_view name = seg.substr(1);
        if (name.empty()) return Status(Err::kInvalidArgument, "http: empty route parameter name");
        for (const char c : name) {
          if (!IsParamNameChar(c)) return Status(Err::kInvalidArgument, "http: bad parameter name");
        }
        for (const Part& p : route.parts) {
          if (p.kind == Part::kParam && p.text == name) {
            return Status(Err::kInvalidArgument, "http: repeated route parameter");
          }
        }
        route.parts.push_back({Part::kParam, std::string(name)});
      } else {
        if (seg == "." || seg == "..")
          return Status(Err::kInvalidArgument, "http: dot segment in route");
        for (const char c : seg) {
          if (!IsLiteralChar(c))
            return Status(Err::kInvalidArgument, "http: bad character in route");
        }
        route.parts.push_back({Part::kLiteral, std::string(seg)});
      }
      if (last) break;
      start = slash + 1;
    }
  }
  // Same shape: same literals in the same places, params and wildcards alike whatever
  // their names. Two such routes would be ambiguous for a shared method.
  auto shape = [](const Route& r) {
    std::vector<std::string_view> s;
    for (const Part& p : r.parts)
      s.push_back(p.kind == Part::kLiteral ? std::string_view(p.text)
                  : p.kind == Part::kParam ? ":"
                                           : "*");
    return s;
  };
  const auto new_shape = shape(route);
  for (const Route& r : routes_) {
    if (shape(r) == new_shape && r.methods.Overlaps(route.methods)) {
      return Status(Err::kInvalidArgument, "http: duplicate route");
    }
  }
  routes_.push_back(std::move(route));
  return Status::Ok();
}

bool Router::Match(const Route& route, const ParsedTarget& target,
                   std::vector<std::pair<std::string, std::string>>* params, std::string* rest) {
  const auto& segs = target.segments;
  params->clear();
  rest->clear();
  size_t i = 0;
  for (const Part& part : route.parts) {
    if (part.kind == Part::kWildcard) {
      if (i < segs.size()) *rest = target.path.substr(target.segment_offsets[i] - 1);
      return true;
    }
    if (i >= segs.size()) return false;
    if (part.kind == Part::kLiteral) {
      if (segs[i] != part.text) return false;
    } else {
      if (segs[i].empty()) return false;
      params->emplace_back(part.text, segs[i]);
    }
    ++i;
  }
  return i == segs.size();
}

bool Router::MoreSpecific(const Route& a, const Route& b) {
  const size_t n = std::min(a.parts.size(), b.parts.size());
  for (size_t i = 0; i < n; ++i) {
    if (a.parts[i].kind != b.parts[i].kind) return a.parts[i].kind > b.parts[i].kind;
  }
  // Both matched the same path: the longer one consumed more with exact parts.
  return a.parts.size() > b.parts.size();
}

Router::Lookup Router::Find(Method method, const ParsedTarget& target) const {
  Lookup out;
  const Route* best = nullptr;
  std::vector<std::pair<std::string, std::string>> params;
  std::string rest;
  for (const Route& r : routes_) {
    if (!Match(r, target, &params, &rest)) continue;
    out.allowed |= r.methods;
    if (!r.methods.Contains(method)) continue;
    if (best == nullptr || MoreSpecific(r, *best)) {
      best = &r;
      out.params = params;
      out.rest = rest;
    }
  }
  if (best != nullptr) out.handler = &best->handler;
  return out;
}

void Router::Dispatch(Request& req, ResponseWriter& res) const {
  Lookup found = Find(req.method(), req.parsed_target());
  if (found.handler != nullptr) {
    req.SetRouteMatch(std::move(found.params), std::move(found.rest));
    (*found.handler)(req, res);
    return;
  }
  if (!found.allowed.empty()) {
    (void)res.SetHeader("Allow", found.allowed.ToAllowHeader());
    (void)SendError(res, ErrorCode::kMethodNotAllowed, "method not allowed");
    return;
  }
  (void)SendError(res, ErrorCode::kNotFound, "not found");
}

}  // namespace keycell::broker::http

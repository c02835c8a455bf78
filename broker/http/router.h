#pragma once
// Routes: (set of methods, path pattern) -> handler.
//
// Pattern syntax (matched against the *decoded* path segments, so "%61gents" matches the
// literal "agents" and "%2F" never splits a segment):
//   "/api/v1/agents"                 exact
//   "/api/v1/agents/:id/credentials" ":name" matches one non-empty segment; read it with
//                                    Request::Param("id") (decoded)
//   "/r/:route/*"                    a final "*" matches zero or more segments; read the
//                                    raw remainder with Request::rest()
// A pattern starts with "/", has no empty segments ("/a//b", "/a/") and no "%", ".", "..".
//
// Choosing: among the routes whose pattern matches the path and whose methods include
// the request's, the most specific wins (segment by segment: literal > ":param" > "*").
// A path that matches only routes for other methods gets 405 with "Allow"; a path that
// matches nothing gets 404. HEAD is not implied by GET: name it where wanted.
//
// Threads: build the router first (Add is not thread-safe), then hand it to the Server;
// lookups are const and run concurrently. Handlers run on connection threads, several at
// once: they must be thread-safe.

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "broker/http/request.h"
#include "broker/http/response.h"
#include "common/result.h"

namespace keycell::broker::http {

class MethodSet {
 public:
  constexpr MethodSet() = default;
  constexpr MethodSet(Method m) : bits_(Bit(m)) {}  // NOLINT: implicit, so Add(Method::kGet, ...)
  constexpr MethodSet(std::initializer_list<Method> ms) {
    for (const Method m : ms) bits_ |= Bit(m);
  }
  constexpr bool Contains(Method m) const { return (bits_ & Bit(m)) != 0; }
  constexpr bool empty() const { return bits_ == 0; }
  constexpr bool Overlaps(MethodSet o) const { return (bits_ & o.bits_) != 0; }
  constexpr MethodSet& operator|=(MethodSet o) {
    bits_ |= o.bits_;
    return *this;
  }
  // "GET, HEAD, POST": the value of an Allow header, in Method order.
  std::string ToAllowHeader() const;

 private:
  static constexpr uint32_t Bit(Method m) {
    return m == Method::kOther ? 0 : uint32_t{1} << static_cast<int>(m);
  }
  uint32_t bits_ = 0;
};

// A handler answers through `res`. If it returns without writing a response head, the
// server answers 500; if it started a body without finishing it, the connection is
// closed (the client sees a truncated response). Exceptions are caught the same way.
using Handler = std::function<void(Request& req, ResponseWriter& res)>;

class Router {
 public:
  // Errors (kInvalidArgument): empty method set, malformed pattern (see above), a ":name"
  // repeated in one pattern, or a route with the same shape and an overlapping method.
  Status Add(MethodSet methods, std::string_view pattern, Handler handler);

  struct Lookup {
    const Handler* handler = nullptr;  // set when a route takes the request
    MethodSet allowed;                 // without handler: methods the path supports (405)
    std::vector<std::pair<std::string, std::string>> params;
    std::string rest;
  };
  // Pure lookup; never blocks.
  Lookup Find(Method method, const ParsedTarget& target) const;

  // Finds the route for `req`, stores its params and rest in `req` and calls the
  // handler, or answers 404 / 405 (with Allow) itself as keycell error JSON.
  void Dispatch(Request& req, ResponseWriter& res) const;

  size_t size() const { return routes_.size(); }

 private:
  struct Part {
    enum Kind : uint8_t { kWildcard = 0, kParam = 1, kLiteral = 2 } kind;
    std::string text;  // literal text or param name
  };
  struct Route {
    MethodSet methods;
    std::vector<Part> parts;
    Handler handler;
  };
  // Whether `route` matches; fills params/rest when it does.
  static bool Match(const Route& route, const ParsedTarget& target,
                    std::vector<std::pair<std::string, std::string>>* params, std::string* rest);
  static bool MoreSpecific(const Route& a, const Route& b);

  std::vector<Route> routes_;
};

}  // namespace keycell::broker::http

#include "broker/http/request.h"

#include <algorithm>
#include <cstring>

#include "common/secure_buffer.h"

namespace keycell::broker::http {
namespace {

constexpr const char* kMethodNames[kMethodCount] = {"GET",   "HEAD",   "POST",   "PUT",
                                                    "PATCH", "DELETE", "OPTIONS"};
constexpr size_t kReadAllChunkBytes = 16384;

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

Method ParseMethod(std::string_view name) {
  for (int i = 0; i < kMethodCount; ++i) {
    if (name == kMethodNames[i]) return static_cast<Method>(i);
  }
  return Method::kOther;
}

const char* MethodName(Method m) {
  const int i = static_cast<int>(m);
  return i < kMethodCount ? kMethodNames[i] : "OTHER";
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (Lower(a[i]) != Lower(b[i])) return false;
  }
  return true;
}

Result<std::string> BodyReader::ReadAll(size_t limit) {
  const std::optional<uint64_t> declared = content_length();
  // Refuse before reading a byte: the client said how much it will send.
  if (declared && *declared > limit) return Status(Err::kTooLarge, "http: body too large");
  // A body may carry a secret on its way through (an MCP tool's value argument): the
  // string never reallocates behind our back (growth copies, then wipes the old buffer)
  // and is wiped on every error. One byte more than declared tells "exactly" from "more".
  std::string out;
  out.reserve(declared ? static_cast<size_t>(*declared) + 1 : kReadAllChunkBytes);
  for (;;) {
    const size_t before = out.size();
    if (before == out.capacity()) ReserveWiping(out, 1);
    // Read straight into the string's spare room, one byte past the limit at most so
    // "exactly limit" and "limit + 1" are told apart.
    const size_t room = limit - before;  // before <= limit: checked below
    const size_t want = std::min(out.capacity() - before,
                                 room >= kReadAllChunkBytes ? kReadAllChunkBytes : room + 1);
    out.resize(before + want);
    auto got = Read(out.data() + before, want);
    if (!got.ok()) {
      WipeString(out);
      return got.status();
    }
    out.resize(before + *got);
    if (*got == 0) return out;
    if (out.size() > limit) {
      WipeString(out);
      return Status(Err::kTooLarge, "http: body too large");
    }
  }
}

Result<size_t> StringBodyReader::Read(char* buf, size_t n) {
  const size_t take = std::min(n, body_.size() - pos_);
  if (take > 0) std::memcpy(buf, body_.data() + pos_, take);
  pos_ += take;
  return take;
}

Request::Request(std::string method, std::string target, ParsedTarget parsed, int version,
                 std::vector<HeaderField> headers, PeerAddress peer, BodyReader* body,
                 const std::atomic<bool>* stopping)
    : method_name_(std::move(method)),
      method_(ParseMethod(method_name_)),
      target_(std::move(target)),
      parsed_(std::move(parsed)),
      version_(version),
      headers_(std::move(headers)),
      peer_(std::move(peer)),
      body_(body),
      stopping_(stopping) {}

std::optional<std::string_view> Request::Header(std::string_view name) const {
  for (const HeaderField& h : headers_) {
    if (EqualsIgnoreCase(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

size_t Request::HeaderCount(std::string_view name) const {
  return static_cast<size_t>(
      std::count_if(headers_.begin(), headers_.end(),
                    [&](const HeaderField& h) { return EqualsIgnoreCase(h.name, name); }));
}

std::optional<std::string_view> Request::Param(std::string_view name) const {
  for (const auto& [key, value] : params_) {
    if (key == name) return std::string_view(value);
  }
  return std::nullopt;
}

void Request::SetRouteMatch(std::vector<std::pair<std::string, std::string>> params,
                            std::string rest) {
  params_ = std::move(params);
  rest_ = std::move(rest);
}

}  // namespace keycell::broker::http

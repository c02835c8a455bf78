#include "broker/daemon/unlock_page.h"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "broker/daemon/mcp_http.h"
#include "broker/http/auth.h"
#include "broker/http/errors.h"
#include "common/secure_buffer.h"
#include "common/unique_fd.h"
#include "mbedtls/platform_util.h"

namespace keycell::broker::daemon {
namespace {

using Clock = std::chrono::steady_clock;
using http::ErrorCode;
using http::Request;
using http::ResponseWriter;

constexpr size_t kTokenBytes = 32;  // 256 bits
// A PIN is at most a few dozen characters; "pin=" plus its %-encoding (x3) fits easily.
constexpr size_t kMaxBody = 1024;

// No script at all; the form posts only back here; no framing (clickjacking).
constexpr char kCsp[] =
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'";

std::string Hex(const uint8_t* p, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[p[i] >> 4]);
    out.push_back(kDigits[p[i] & 15]);
  }
  return out;
}

bool IsToken(std::string_view t) {
  return t.size() == kTokenBytes * 2 &&
         std::all_of(t.begin(), t.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

int HexValue(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void SendPage(ResponseWriter& res, int status, std::string_view title, std::string_view body) {
  (void)res.SetHeader("Cache-Control", "no-store");
  (void)res.SetHeader("Content-Security-Policy", kCsp);
  (void)res.SetHeader("X-Frame-Options", "DENY");
  (void)res.SetHeader("X-Content-Type-Options", "nosniff");
  (void)res.SetHeader("Referrer-Policy", "no-referrer");
  std::string html =
      "<!doctype html><html><head><meta charset=\"utf-8\"><title>keycell: ";
  html.append(title).append(
      "</title><style>body{font-family:sans-serif;max-width:28em;margin:4em auto}"
      "input{font-size:1.2em}</style></head><body><h1>");
  html.append(title).append("</h1>").append(body).append("</body></html>");
  (void)res.Send(status, "text/html; charset=utf-8", html);
}

void SendForm(ResponseWriter& res, int status, std::string_view note) {
  // The form posts to its own URL (no action attribute), so the token is never
  // written into the page a second time.
  std::string body;
  if (!note.empty()) body.append("<p><strong>").append(note).append("</strong></p>");
  body.append(
      "<p>An agent asked to unlock keycell's vault. Enter the token PIN to unlock it. The PIN "
      "goes to keycell's enclave only: the agent never sees it.</p>"
      "<form method=\"post\"><input type=\"password\" name=\"pin\" autocomplete=\"off\" "
      "autofocus required> <button type=\"submit\">Unlock</button></form>");
  SendPage(res, status, "unlock the vault", body);
}

// Reads the form body into a locked buffer, never a std::string. Errors: kTooLarge,
// the reader's.
Result<SecureBuffer> ReadBody(Request& req) {
  KC_ASSIGN_OR_RETURN(SecureBuffer buf, SecureBuffer::Allocate(kMaxBody + 1));
  size_t used = 0;
  while (true) {
    if (used == buf.size()) return Status(Err::kTooLarge, "unlock page: body too large");
    KC_ASSIGN_OR_RETURN(size_t n, req.body().Read(reinterpret_cast<char*>(buf.data()) + used,
                                                  buf.size() - used));
    if (n == 0) break;
    used += n;
  }
  buf.resize(used);
  return buf;
}

// The decoded value of the form's `pin` field followed by "\n" (the line the enclave
// reads), in a locked buffer. Err::kInvalidArgument when there is no non-empty pin, or
// it holds a line break or bad %-escape.
Result<SecureBuffer> PinLine(const SecureBuffer& body) {
  KC_ASSIGN_OR_RETURN(SecureBuffer out, SecureBuffer::Allocate(body.size() + 1));
  const uint8_t* p = body.data();
  const size_t n = body.size();
  size_t i = 0;
  while (i < n) {
    size_t end = i;
    while (end < n && p[end] != '&') ++end;
    if (end - i > 4 && std::string_view(reinterpret_cast<const char*>(p + i), 4) == "pin=") {
      size_t len = 0;
      for (size_t j = i + 4; j < end; ++j) {
        uint8_t c = p[j];
        if (c == '+') {
          c = ' ';
        } else if (c == '%') {
          if (j + 2 >= end) {
            return Status(Err::kInvalidArgument, "unlock page: bad escape");
          }
          const int hi = HexValue(p[j + 1]), lo = HexValue(p[j + 2]);
          if (hi < 0 || lo < 0) return Status(Err::kInvalidArgument, "unlock page: bad escape");
          c = static_cast<uint8_t>(hi * 16 + lo);
          j += 2;
        }
        if (c == '\n' || c == '\r' || c == 0)
          return Status(Err::kInvalidArgument, "unlock page: bad character");
        out.data()[len++] = c;
      }
      if (len == 0) break;
      out.data()[len++] = '\n';
      out.resize(len);
      return out;
    }
    i = end + 1;
  }
  return Status(Err::kInvalidArgument, "unlock page: no pin");
}

}  // namespace

UnlockPages::UnlockPages(Vault& vault, UnlockPageOptions options)
    : vault_(vault), options_(std::move(options)) {}

Status UnlockPages::Register(http::Router& router) {
  KC_RETURN_IF_ERROR(router.Add(http::Method::kGet, "/unlock/:token",
                                [this](Request& req, ResponseWriter& res) { Get(req, res); }));
  return router.Add(http::Method::kPost, "/unlock/:token",
                    [this](Request& req, ResponseWriter& res) { Post(req, res); });
}

void UnlockPages::SetBaseUrl(std::string base) {
  std::lock_guard<std::mutex> lock(mu_);
  base_url_ = std::move(base);
}

size_t UnlockPages::page_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pages_.size();
}

Result<UnlockPages::Page> UnlockPages::Create(std::string_view requester) {
  uint8_t raw[kTokenBytes];
  if (getrandom(raw, sizeof(raw), 0) != static_cast<ssize_t>(sizeof(raw)))
    return Status(Err::kInternal, "unlock page: getrandom", errno);
  Page page;
  page.token = Hex(raw, sizeof(raw));
  mbedtls_platform_zeroize(raw, sizeof(raw));
  std::lock_guard<std::mutex> lock(mu_);
  if (base_url_.empty()) return Status(Err::kUnavailable, "unlock page: no HTTP listener");
  SweepLocked();
  while (pages_.size() >= std::max<size_t>(1, options_.max_pages)) {
    auto oldest = std::min_element(pages_.begin(), pages_.end(), [](const auto& a, const auto& b) {
      return a.second.expires < b.second.expires;
    });
    spent_.emplace(oldest->first, false);
    pages_.erase(oldest);
  }
  Entry e;
  e.expires = options_.now() + options_.ttl;
  e.requester = std::string(requester);
  pages_.emplace(page.token, std::move(e));
  page.url = base_url_ + "/unlock/" + page.token;
  return page;
}

void UnlockPages::SweepLocked() {
  const Clock::time_point now = options_.now();
  for (auto it = pages_.begin(); it != pages_.end();) {
    if (it->second.expires <= now) {
      spent_.emplace(it->first, false);
      it = pages_.erase(it);
      cv_.notify_all();
    } else {
      ++it;
    }
  }
  // Spent tokens are remembered only to answer 410 instead of 404; bounded.
  while (spent_.size() > 4 * std::max<size_t>(1, options_.max_pages)) spent_.erase(spent_.begin());
}

bool UnlockPages::Gate(Request& req, ResponseWriter& res) {
  auto host = req.Header("Host");
  if (req.HeaderCount("Host") != 1 || !host || !http::IsLoopbackHostHeader(*host)) {
    (void)http::SendError(res, ErrorCode::kForbidden, "Host must name this machine's loopback");
    return false;
  }
  if (req.HeaderCount("Origin") > 0) {
    auto origin = req.Header("Origin");
    if (req.HeaderCount("Origin") != 1 || !McpHttp::IsLoopbackOrigin(*origin)) {
      (void)http::SendError(res, ErrorCode::kForbidden, "Origin not allowed");
      return false;
    }
  }
  return true;
}

bool UnlockPages::Lookup(Request& req, ResponseWriter& res, std::string* requester) {
  const std::string_view token = req.Param("token").value_or("");
  std::lock_guard<std::mutex> lock(mu_);
  SweepLocked();
  auto it = IsToken(token) ? pages_.find(token) : pages_.end();
  if (it != pages_.end()) {
    if (requester != nullptr) *requester = it->second.requester;
    return true;
  }
  res.CloseAfterResponse();  // an unread form body must not become the next request
  if (IsToken(token) && spent_.count(token) > 0) {
    SendPage(res, 410, "link used up",
             "<p>This unlock link has been used or has expired. Ask the agent for a new one, "
             "or run <code>keycell unlock</code> in a terminal.</p>");
  } else {
    SendPage(res, 404, "no such link", "<p>This unlock link is not known to keycell.</p>");
  }
  return false;
}

void UnlockPages::Get(Request& req, ResponseWriter& res) {
  if (!Gate(req, res) || !Lookup(req, res, nullptr)) return;
  if (vault_.enclave().unlocked()) {
    SendPage(res, 200, "already unlocked", "<p>The vault is already unlocked.</p>");
    return;
  }
  SendForm(res, 200, "");
}

void UnlockPages::Post(Request& req, ResponseWriter& res) {
  if (!Gate(req, res)) return;
  // The body first, whatever the token: read into locked memory (and so out of the
  // connection's buffer, which wipes what it hands over) even when the answer is 410.
  auto body = ReadBody(req);
  if (!body.ok()) {
    res.CloseAfterResponse();
    (void)http::SendBodyReadError(res, body.status());
    return;
  }
  std::string requester;
  if (!Lookup(req, res, &requester)) return;
  auto line = PinLine(*body);
  if (!line.ok()) {
    SendForm(res, 400, "Enter the PIN.");
    return;
  }
  const std::string token(req.Param("token").value_or(""));
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pages_.find(token);
    if (it == pages_.end()) {
      SendPage(res, 410, "link used up", "<p>This unlock link has been used or has expired.</p>");
      return;
    }
    if (++it->second.attempts > kMaxAttemptsPerPage) {
      spent_.emplace(token, false);
      pages_.erase(it);
      cv_.notify_all();
      SendPage(res, 410, "too many attempts",
               "<p>Too many wrong PINs for this link. Run <code>keycell unlock</code> in a "
               "terminal.</p>");
      return;
    }
  }

  // The PIN line goes into a pipe (it is far below the pipe's capacity, so the write
  // cannot block) whose read end the enclave reads, as it reads `keycell unlock`'s.
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    (void)http::SendError(res, ErrorCode::kInternal, "could not unlock");
    return;
  }
  UniqueFd read_end(fds[0]);
  {
    UniqueFd write_end(fds[1]);
    const ssize_t w = write(write_end.get(), line->data(), line->size());
    if (w != static_cast<ssize_t>(line->size())) {
      (void)http::SendError(res, ErrorCode::kInternal, "could not unlock");
      return;
    }
  }
  // Wipe what keycelld holds before the enclave even starts reading.
  *line = SecureBuffer();
  *body = SecureBuffer();

  identity::Principal human = identity::OwnerPrincipal(static_cast<uint32_t>(getuid()));
  human.id = "unlock-page:" + requester;
  OpResult r = vault_.Dispatch(human, "unlock", nullptr, std::move(read_end));
  if (r.ok) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      pages_.erase(token);
      spent_[token] = true;
      cv_.notify_all();
    }
    SendPage(res, 200, "unlocked",
             "<p>The vault is unlocked. You can close this tab and go back to the agent.</p>");
    return;
  }
  if (r.error.code == "rate_limited") {
    SendForm(res, 429, "Too many unlock attempts; wait a minute and try again.");
    return;
  }
  SendForm(res, 403, r.error.code == "bad_pin" ? "Wrong PIN." : "The vault did not unlock.");
}

UnlockPages::Outcome UnlockPages::Wait(std::string_view token, std::chrono::milliseconds timeout,
                                       const std::function<bool()>& cancelled) {
  const Clock::time_point deadline = Clock::now() + timeout;
  constexpr std::chrono::milliseconds kPoll{100};  // cancellation is an unsignalled flag
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    SweepLocked();
    if (auto s = spent_.find(token); s != spent_.end())
      return s->second ? Outcome::kUnlocked : Outcome::kExpired;
    if (pages_.find(token) == pages_.end()) return Outcome::kExpired;
    const Clock::time_point now = Clock::now();
    if (now >= deadline || (cancelled && cancelled())) {
      pages_.erase(std::string(token));
      spent_.emplace(std::string(token), false);
      return Outcome::kGaveUp;
    }
    cv_.wait_for(lock, std::min<Clock::duration>(kPoll, deadline - now));
  }
}

}  // namespace keycell::broker::daemon

// libFuzzer harness for kc_broker_webhooks' untrusted-input parsers: the webhook URL
// parser (a URL comes from the CLI or the REST API) with the delivery policy, and the
// response-head parser (a receiver is any host a user typed). Every input goes through
// all three; properties checked, aborting on violation:
//   - ParseWebhookUrl: an accepted URL has a non-empty host and a target starting with
//     '/', neither holding a byte outside printable ASCII (no CR/LF/space can reach the
//     request line or Host header), a non-zero port; its canonical form parses back to
//     the same canonical form; CheckUrlPolicy never lets http:// leave loopback;
//   - ParseStatusLine: an accepted status is 100..599;
//   - ParseResponseHead: a complete head has 100..599 and fits in the input and the cap;
//     fed the same bytes in two pieces, the first piece never yields a different answer
//     than the whole (incremental reads agree).

#include <stdint.h>
#include <stdlib.h>

#include <string>
#include <string_view>

#include "broker/webhooks/http_response.h"
#include "broker/webhooks/webhook_url.h"

namespace keycell::broker::webhooks {
namespace {

void Require(bool cond) {
  if (!cond) abort();
}

bool Printable(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
      return false;
  return true;
}

void CheckUrl(std::string_view in) {
  auto url = ParseWebhookUrl(in);
  if (!url.ok()) return;
  Require(!url->host.empty() && Printable(url->host) && url->port != 0);
  Require(!url->target.empty() && url->target.front() == '/' && Printable(url->target));
  Require(Printable(HostHeader(*url)));
  const std::string canonical = FormatWebhookUrl(*url);
  auto again = ParseWebhookUrl(canonical);
  Require(again.ok() && FormatWebhookUrl(*again) == canonical);
  Require(again->host == url->host && again->port == url->port && again->target == url->target);
  if (CheckUrlPolicy(*url).ok() && url->scheme == UrlScheme::kHttp) Require(IsLoopbackHost(*url));
}

void CheckResponse(std::string_view in) {
  auto line = ParseStatusLine(in);
  if (line.ok()) Require(line->status >= 100 && line->status <= 599);

  auto whole = ParseResponseHead(in);
  if (whole.ok() && whole->has_value()) {
    const ResponseHead& h = **whole;
    Require(h.status >= 100 && h.status <= 599);
    Require(h.head_bytes <= in.size() && h.head_bytes <= kMaxResponseHeadBytes);
  }
  // A prefix may be "need more" where the whole is complete, but it never disagrees:
  // a complete head in the prefix is the same head in the whole, and an error in the
  // prefix (other than hitting the cap) is an error in the whole.
  const std::string_view prefix = in.substr(0, in.size() / 2);
  auto part = ParseResponseHead(prefix);
  if (part.ok() && part->has_value()) {
    Require(whole.ok() && whole->has_value());
    Require((*part)->status == (**whole).status && (*part)->head_bytes == (**whole).head_bytes);
  } else if (!part.ok() && part.status().code() == Err::kBadFrame) {
    Require(!whole.ok());
  }
}

}  // namespace
}  // namespace keycell::broker::webhooks

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  keycell::broker::webhooks::CheckUrl(in);
  keycell::broker::webhooks::CheckResponse(in);
  return 0;
}

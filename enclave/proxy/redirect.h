#pragma once
// Redirects on the proxy path: returned to the caller, never followed (DESIGN.md §4).
//
// The enclave answers a 3xx exactly like any other response: status, headers (values
// through the redactor, Location included: a QUERY-recipe secret the upstream echoes in
// a Location is percent-encoded and caught there) and body go back to the broker, and
// the TLS connection is done with that request. It never opens a request to the
// Location, so the credential is never re-sent to a host the redirect names, even one
// the policy allows: a caller that wants to follow makes a new proxied request, which
// goes through the full policy check again (CheckTarget). Nothing in kc_enclave_proxy
// follows anything; this helper exists so the wiring can log or flag redirects.

namespace keycell::enclave::proxy {

// Whether `status` is a redirect a user agent would follow automatically with a new
// request: 301, 302, 303, 307, 308. (300 and 304 are not; 305/306 are obsolete.)
bool IsRedirect(int status);

}  // namespace keycell::enclave::proxy

#include "enclave/tls/session_cache.h"

#include <algorithm>

namespace keycell::enclave::tls {
namespace {

auto KeyIs(std::string_view host, uint16_t port) {
  return [host, port](const std::shared_ptr<const SavedSession>& s) {
    return s->port() == port && s->host() == host;
  };
}

}  // namespace

void SessionCache::Store(SavedSession session) {
  auto entry = std::make_shared<const SavedSession>(std::move(session));
  std::lock_guard<std::mutex> lock(mu_);
  ForgetLocked(entry->host(), entry->port());
  if (limits_.max_entries == 0) return;
  if (entries_.size() >= limits_.max_entries) entries_.erase(entries_.begin());
  entries_.push_back(std::move(entry));
}

std::shared_ptr<const SavedSession> SessionCache::Find(std::string_view host, uint16_t port,
                                                       Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = std::find_if(entries_.begin(), entries_.end(), KeyIs(host, port));
  if (it == entries_.end()) return nullptr;
  if (now - (*it)->saved_at() >= limits_.max_age) {
    entries_.erase(it);
    return nullptr;
  }
  return *it;
}

void SessionCache::Forget(std::string_view host, uint16_t port) {
  std::lock_guard<std::mutex> lock(mu_);
  ForgetLocked(host, port);
}

void SessionCache::ForgetLocked(std::string_view host, uint16_t port) {
  std::erase_if(entries_, KeyIs(host, port));
}

size_t SessionCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

}  // namespace keycell::enclave::tls

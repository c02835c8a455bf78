#include "enclave/tls/upstream_pool.h"

namespace keycell::enclave::tls {
namespace {

bool SameKey(const TlsConnection& c, std::string_view host, uint16_t port) {
  return c.port() == port && c.host() == host;
}

}  // namespace

void UpstreamPool::DropLocked(size_t i, Dropped* dropped) {
  dropped->push_back(std::move(idle_[i].conn));
  idle_.erase(idle_.begin() + static_cast<std::ptrdiff_t>(i));
}

void UpstreamPool::Close(Dropped* dropped) {
  for (std::unique_ptr<TlsConnection>& conn : *dropped) {
    if (conn != nullptr) conn->CloseNotify();
  }
  dropped->clear();
}

std::unique_ptr<TlsConnection> UpstreamPool::Take(std::string_view host, uint16_t port,
                                                  Clock::time_point now) {
  Dropped dropped;
  std::unique_ptr<TlsConnection> found;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Newest first: the most recently used connection is the likeliest to be alive.
    for (size_t i = idle_.size(); i-- > 0;) {
      if (!SameKey(*idle_[i].conn, host, port)) continue;
      if (Expired(idle_[i], now) || !idle_[i].conn->IdleAndAlive()) {
        DropLocked(i, &dropped);
        continue;
      }
      found = std::move(idle_[i].conn);
      idle_.erase(idle_.begin() + static_cast<std::ptrdiff_t>(i));
      break;
    }
  }
  Close(&dropped);
  return found;
}

bool UpstreamPool::Put(std::unique_ptr<TlsConnection> conn, Clock::time_point now) {
  if (conn == nullptr) return false;
  Dropped dropped;
  bool parked = false;
  if (limits_.max_per_host == 0 || limits_.max_total == 0 || !conn->IdleAndAlive()) {
    dropped.push_back(std::move(conn));
  } else {
    std::lock_guard<std::mutex> lock(mu_);
    if (SizeLocked(conn->host(), conn->port()) >= limits_.max_per_host) {
      for (size_t i = 0; i < idle_.size(); ++i) {
        if (SameKey(*idle_[i].conn, conn->host(), conn->port())) {
          DropLocked(i, &dropped);  // the oldest of this host:port
          break;
        }
      }
    }
    if (idle_.size() >= limits_.max_total) DropLocked(0, &dropped);
    idle_.push_back(Idle{std::move(conn), now});
    parked = true;
  }
  Close(&dropped);
  return parked;
}

size_t UpstreamPool::EvictIdle(Clock::time_point now) {
  Dropped dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = idle_.size(); i-- > 0;) {
      if (Expired(idle_[i], now)) DropLocked(i, &dropped);
    }
  }
  const size_t n = dropped.size();
  Close(&dropped);
  return n;
}

void UpstreamPool::Clear() {
  Dropped dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    while (!idle_.empty()) DropLocked(idle_.size() - 1, &dropped);
  }
  Close(&dropped);
}

size_t UpstreamPool::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return idle_.size();
}

size_t UpstreamPool::size(std::string_view host, uint16_t port) const {
  std::lock_guard<std::mutex> lock(mu_);
  return SizeLocked(host, port);
}

size_t UpstreamPool::SizeLocked(std::string_view host, uint16_t port) const {
  size_t n = 0;
  for (const Idle& e : idle_) n += SameKey(*e.conn, host, port) ? 1 : 0;
  return n;
}

}  // namespace keycell::enclave::tls

#include "agent/peer_watch.h"

namespace imwatch::agent {

void PeerWatch::set_self(const std::string& nick, double now) {
  self_ = nick;
  peers_.erase(nick);
  watching_.clear();
  (void)now;
}

void PeerWatch::clear() {
  peers_.clear();
  watching_.clear();
  self_.clear();
  link_pending_ = -1;
  link_ok_ = true;
}

// A quarter interval: a ping answered later than that is a slow server
// (a loopback or LAN server answers in milliseconds).
void PeerWatch::link_ping(double now) {
  if (link_pending_ < 0) link_pending_ = now;
}

void PeerWatch::link_pong(double now) {
  // Any answer: what was sent before it has come through or is lost with the link.
  link_ok_ = link_pending_ < 0 || now - link_pending_ < 0.25 * interval_;
  link_pending_ = -1;
}

bool PeerWatch::link_in_doubt(double now) const {
  return !link_ok_ || (link_pending_ >= 0 && now - link_pending_ >= 0.25 * interval_);
}

std::string PeerWatch::successor_of(const std::string& nick) const {
  // The next live agent after `nick`, cyclically; never `nick` itself.
  for (auto it = peers_.upper_bound(nick); it != peers_.end(); ++it)
    if (!it->second.vanished && it->first != nick) return it->first;
  for (auto it = peers_.begin(); it != peers_.end() && it->first < nick; ++it)
    if (!it->second.vanished) return it->first;
  return "";
}

std::string PeerWatch::predecessor_of(const std::string& nick) const {
  // Among the live agents and us, the one before `nick`, cyclically.
  std::set<std::string> live{self_};
  for (const auto& [n, p] : peers_)
    if (!p.vanished) live.insert(n);
  live.erase(nick);
  if (live.empty()) return "";
  auto it = live.lower_bound(nick);
  return it == live.begin() ? *live.rbegin() : *std::prev(it);
}

std::string PeerWatch::target() const { return self_.empty() ? "" : successor_of(self_); }

std::optional<PeerNews> PeerWatch::present(const std::string& nick, double boot, double now, double wall) {
  if (nick == self_ || nick.empty()) return std::nullopt;
  departed_.erase(nick);  // back before we said anything: never gone
  auto it = peers_.find(nick);
  const bool was_vanished = it != peers_.end() && it->second.vanished;
  if (it == peers_.end()) {
    if (peers_.size() >= max_) return std::nullopt;
    it = peers_.emplace(nick, Peer{}).first;
  } else if (!was_vanished) {
    if (boot > 0) it->second.boot = boot;  // a presence update of a live peer
    return std::nullopt;
  }
  Peer& p = it->second;
  p = Peer{boot, now, wall, false};
  std::optional<PeerNews> news;
  auto away = away_.find(nick);
  // Said once: by whoever declared it gone, else by its predecessor.
  const bool ours = was_vanished || (away != away_.end() && away->second.by_us);
  if (away != away_.end() && (ours || (!self_.empty() && predecessor_of(nick) == self_)))
    news = PeerNews{PeerNews::back, nick, 0, -1, wall - away->second.since};
  if (was_vanished && away == away_.end()) news.reset();
  if (away != away_.end()) away_.erase(away);
  return news;
}

PeerNews PeerWatch::declare(std::string nick, Peer& p) {
  // `nick` by value: it may be watching_, cleared below.
  p.vanished = true;
  if (away_.size() < max_ || away_.count(nick)) away_[nick] = Away{p.last_seen, true};
  if (watching_ == nick) watching_.clear();
  return PeerNews{PeerNews::vanished, nick, p.last_seen, p.boot > 0 ? p.last_seen - p.boot : -1, 0};
}

void PeerWatch::left(const std::string& nick, bool goodbye, double now, double wall) {
  auto it = peers_.find(nick);
  if (it == peers_.end()) return;
  if (!it->second.vanished) {
    // Without a goodbye its watcher says so, at a later tick; with one the
    // host said it.
    const bool ours = !self_.empty() && predecessor_of(nick) == self_;
    if (!goodbye && ours) {
      if (departed_.size() < max_) departed_[nick] = Departure{now, wall, it->second.boot};
    } else if (away_.size() < max_) {
      away_[nick] = Away{wall, false};
    }
  }
  if (watching_ == nick) watching_.clear();
  peers_.erase(it);
}

void PeerWatch::answered(const std::string& nick, double now, double wall) {
  auto it = peers_.find(nick);
  if (it == peers_.end() || it->second.vanished) return;
  it->second.last_answer = now;
  it->second.last_seen = wall;
  it->second.deferred = false;
}

std::optional<PeerNews> PeerWatch::gone(const std::string& nick, double now, double wall) {
  (void)now;
  (void)wall;
  auto it = peers_.find(nick);
  // Only the watched peer: an error to a ping of someone else's peer is not ours to say.
  if (it == peers_.end() || it->second.vanished || nick != watching_) return std::nullopt;
  return declare(nick, it->second);
}

bool PeerWatch::verdict(Peer& p, double now) {
  // Gone: silent for 1.5 intervals while our own link answers promptly.
  if (now - p.last_answer < 1.5 * interval_) return false;
  if (link_in_doubt(now)) {
    p.deferred = true;  // the server is slow, not (necessarily) the peer
    return false;
  }
  if (p.deferred) {
    // Our link is back: the peer gets the ping sent with this tick, and the
    // next tick's verdict, before anything is said.
    p.deferred = false;
    return false;
  }
  return true;
}

PeerWatch::Tick PeerWatch::tick(double now, double wall) {
  (void)wall;
  Tick t;
  if (self_.empty()) return t;
  // Departures waited for: a full interval, and our own link prompt.
  for (auto it = departed_.begin(); it != departed_.end();) {
    const Departure& d = it->second;
    if (now - d.at < interval_ || link_in_doubt(now) || peers_.count(it->first)) {
      ++it;
      continue;
    }
    if (away_.size() < max_ || away_.count(it->first)) away_[it->first] = Away{d.last_seen, true};
    t.news.push_back(PeerNews{PeerNews::vanished, it->first, d.last_seen, d.boot > 0 ? d.last_seen - d.boot : -1, 0});
    it = departed_.erase(it);
  }
  // Declare the watched one gone first: the next one is watched from now.
  for (int i = 0; i < 2 && !watching_.empty(); ++i) {
    auto it = peers_.find(watching_);
    if (it == peers_.end() || it->second.vanished) break;
    if (!verdict(it->second, now)) break;
    t.news.push_back(declare(watching_, it->second));
  }
  const std::string next = target();
  if (next != watching_) {
    watching_ = next;
    // A new watch starts with a full grace period: its silence so far was not ours to time.
    if (auto it = peers_.find(next); it != peers_.end()) it->second.last_answer = now;
  }
  if (!watching_.empty()) t.ping = watching_;
  return t;
}

}  // namespace imwatch::agent

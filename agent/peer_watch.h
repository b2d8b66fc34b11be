// Hosts that notice each other vanish: which peer this agent watches, and
// what it says when that peer stops answering. Pure logic on times the
// caller passes (monotonic `now`, Unix `wall`), fed by the transport with
// the room's agent occupants and the answers to its pings; no XMPP here.
//
// Room presence alone cannot tell that a host died: a server keeps a
// killed client's stream-management session "present" for minutes (600 s
// on prosody), a half-open socket far longer. So each agent pings one peer
// (XEP-0199, to its occupant JID) every interval: its successor in the
// sorted list of the agents present (itself included, cyclically). Each
// host is watched by exactly one peer, the cost per agent does not grow
// with the fleet, and when a watched host is declared gone its watcher
// moves on to the next one, so a watcher's own death hands its watch over.
//
// A peer is gone when no answer came for 1.5 intervals (checked at each
// tick, once an interval: declared within 2.5 intervals of its last
// answer, under the 3 intervals the fleet promises), or at once on an
// error answer (the server says there is no such occupant or session), or
// when the room says it left without a goodbye. One announcement per
// disappearance: only its watcher says it, and only once until it returns;
// a return is announced by its predecessor in the list, which every agent
// computes alike from the room, or by the agent that declared it gone.
//
// A busy server delays every stanza alike: a burst in a room of 200 agents
// made peers' answers late and their watchers announced live hosts. So the
// watcher also times its own link (its pings to the server and to its own
// occupant JID): while one of them is unanswered for a quarter interval, or
// the last one came back that late, the silence of its peer says nothing
// about the peer and no verdict is given. Once our link answers promptly
// again the peer is pinged once more, and only a peer still silent at the
// next tick is declared gone. On a healthy server nothing changes.
//
// The room saying a peer left without a goodbye is not announced at once
// either: an agent whose own link was starved declares it dead and
// reconnects, and the room reports the old session's end exactly so. Its
// watcher waits a full interval and until its own link answers promptly;
// a peer back in the room by then was never gone, and nothing is said,
// neither its vanishing nor its return. Announced within two intervals of
// the room's word, under the three the fleet promises.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace imwatch::agent {

struct PeerNews {
  enum Kind { vanished, back };
  Kind kind = vanished;
  std::string nick;
  double last_seen = 0;  // vanished: wall of the last sign of life
  double up = -1;        // vanished: its uptime then, seconds; -1 unknown
  double away = 0;       // back: seconds it was away
};

class PeerWatch {
 public:
  // `interval` is the ping interval; at most `max_peers` agents are tracked
  // (what a room can make us store is bounded).
  explicit PeerWatch(double interval, size_t max_peers = 1024) : interval_(interval), max_(max_peers) {}

  void set_interval(double interval) { interval_ = interval; }
  // Our own nick in the room (joined); empty: not in the room, watch nobody.
  void set_self(const std::string& nick, double now);
  // An agent occupant is present (available presence); `boot` its boot
  // time (wall), or 0. Returns a return to announce, if it was away.
  std::optional<PeerNews> present(const std::string& nick, double boot, double now, double wall);
  // It left the room: with its goodbye (a clean stop: nothing to say), or
  // without one (the server removed it): announced by its watcher, from a
  // later tick (see above).
  void left(const std::string& nick, bool goodbye, double now, double wall);
  // The answer to a ping of `nick`: alive, or an error saying it is gone.
  void answered(const std::string& nick, double now, double wall);
  std::optional<PeerNews> gone(const std::string& nick, double now, double wall);
  // We left the room (or the link): nothing we know of others is current.
  void clear();
  // Our own link: a ping of ours sent (to the server, or to our own
  // occupant JID), and an answer (of any type) to one of them.
  void link_ping(double now);
  void link_pong(double now);
  // Our own ping is late (or the last one was): the server is slow.
  bool link_in_doubt(double now) const;

  // Once per interval: the peer to ping now (if any), and what to announce.
  struct Tick {
    std::optional<std::string> ping;
    std::vector<PeerNews> news;
  };
  Tick tick(double now, double wall);

  // The peer watched now ("" for none).
  std::string target() const;
  size_t tracked() const { return peers_.size(); }

 private:
  struct Peer {
    double boot = 0;
    double last_answer = 0;  // monotonic
    double last_seen = 0;    // wall
    bool vanished = false;   // declared gone by us, still shown by the room
    bool deferred = false;   // silent while our own link was in doubt
  };
  struct Away {
    double since = 0;  // wall
    bool by_us = false;
  };
  struct Departure {
    double at = 0;         // monotonic: when the room said it left
    double last_seen = 0;  // wall
    double boot = 0;
  };
  std::string successor_of(const std::string& nick) const;
  std::string predecessor_of(const std::string& nick) const;
  PeerNews declare(std::string nick, Peer& p);
  bool verdict(Peer& p, double now);

  double interval_;
  size_t max_;
  std::string self_;
  std::map<std::string, Peer> peers_;  // present agents but us, sorted by nick
  std::map<std::string, Away> away_;   // agents gone, for "back after" (bounded as peers_)
  // Ours to announce, left without a goodbye, waiting (see above); kept
  // across clear(): a host that died while we were out of the room is
  // still ours to announce once we are back and it is not.
  std::map<std::string, Departure> departed_;
  std::string watching_;
  double link_pending_ = -1;  // monotonic send time of our oldest unanswered ping; -1 none
  bool link_ok_ = true;       // our last answer came back promptly
};

}  // namespace imwatch::agent

// The fleet's room (XEP-0045) on the wire: joining and rejoining, the
// occupants, groupchat and private messages, pings to occupants.
//
// gloox's MUCRoom is not used: it cannot rejoin after a kick or a lost
// link without leaving stale handlers registered, it hides the status
// codes and <delay/> a caller needs to decide, and it answers the room's
// queries itself. The room's stanzas are few and simple; GuardedClient
// hands every stanza from the room's JID here before gloox sees it.
//
// What a room can make us store is bounded: at most kMaxOccupants
// occupants, kMaxPings pings in flight.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "agent/config.h"
#include "agent/event_loop.h"

namespace gloox {
class Tag;
}

namespace imwatch::agent {

class GuardedClient;

class Room {
 public:
  static constexpr size_t kMaxOccupants = 1024;
  static constexpr size_t kMaxPings = 64;

  struct Occupant {
    std::string real;   // bare JID as ChatHandler::bare, or "" when the room hides it
    bool agent = false;  // shows the fleet's element: an imwatch agent
    double boot = 0;     // its boot time (wall), when an agent says it
  };
  struct Events {
    std::function<void()> joined;                 // after every join
    std::function<void(const std::string&)> left;  // out of the room, and why
    // A message in the room (not from history, not our own), or a private
    // one through it; `who` is null for an occupant we do not know.
    std::function<void(const std::string& nick, const Occupant* who, const std::string& body, bool priv)> message;
    std::function<void(const std::string& id)> reflected;  // our groupchat message, as the room sent it to all
    // An occupant came or changed (present) or left; `goodbye` when its
    // unavailable presence carried the fleet's goodbye mark.
    std::function<void(const std::string& nick, const Occupant& o, bool present, bool goodbye)> occupant;
    // The answer to ping(nick): true alive, false an error saying it is not there.
    std::function<void(const std::string& nick, bool alive)> pong;
    // An answer (of any type) to self_ping(): our link to the room carries.
    std::function<void()> self_pong;
  };

  Room(GuardedClient& client, EventLoop& loop, Clock& clock, Events events);
  ~Room();
  Room(const Room&) = delete;
  Room& operator=(const Room&) = delete;

  // The [xmpp] room settings (again after a reload): a new room or nick rejoins.
  void configure(const XmppConfig& cfg, double boot_wall);
  // After every connect: join. `resumed`: the stream was resumed (XEP-0198),
  // so the server still has us in the room, and a join would be a mere
  // presence update: no occupant list, no status codes. We leave first
  // (without a goodbye: peers hold such a departure, and a return within
  // their ping interval is no news) and join afresh.
  void on_session(bool resumed = false);
  // The link went down: no longer in the room; on_session() rejoins.
  void link_lost();
  // Leave with a status (a clean stop); `goodbye` marks it so peers do not
  // announce us vanished.
  void leave(const std::string& status);

  // Every stanza from the room's JID: handled here (true), or not ours.
  bool on_tag(const gloox::Tag& tag);

  bool joined() const { return joined_; }
  const std::string& nick() const { return nick_; }
  const std::string& jid() const { return room_; }
  // Whether the room shows us occupants' real JIDs (non-anonymous, or we
  // moderate it): without that no command is answered.
  bool real_jids_visible() const { return real_jids_; }
  const std::map<std::string, Occupant>& occupants() const { return occupants_; }

  void send(const std::string& id, const std::string& text);
  void send_private(const std::string& nick, const std::string& text);
  // XEP-0199 to an occupant; the answer comes through Events::pong.
  void ping(const std::string& nick);
  // XEP-0410: a ping to our own occupant JID; an error means we are no
  // longer in the room (the answer rejoins).
  void self_ping();
  // Health for our room presence, as for the account's.
  void set_status(const std::string& show, const std::string& status);

 private:
  void join();
  void schedule_rejoin(const std::string& why, bool log);
  void on_presence(const gloox::Tag& tag, const std::string& from_nick);
  void on_self_presence(const gloox::Tag& tag, const std::string& type, const std::string& from_nick);
  void on_join_error(const gloox::Tag& tag);
  void on_message(const gloox::Tag& tag, const std::string& from_nick);
  void on_iq(const gloox::Tag& tag, const std::string& from);
  void send_presence(bool with_muc);

  GuardedClient& client_;
  EventLoop& loop_;
  Clock& clock_;
  Events ev_;
  std::string room_, wanted_nick_, password_;
  double boot_ = 0;
  std::string nick_;  // the nick we are joining as, or joined with
  int suffix_ = 1;    // web1, then web1-2, web1-3 ...
  bool wanted_ = false, joining_ = false, joined_ = false, real_jids_ = false;
  bool hidden_logged_ = false;
  bool rejoining_ = false;  // our own leave before a rejoin: its echo is not a removal
  std::string last_failure_;  // logged once until the next join
  double backoff_ = 1;
  EventLoop::JobId rejoin_job_ = 0;
  std::string show_, status_ = "OK";
  std::map<std::string, Occupant> occupants_;
  bool full_logged_ = false;
  std::map<uint64_t, std::string> pings_;  // iq id "rpN" -> nick; the oldest go first
  uint64_t next_ping_ = 1;
};

}  // namespace imwatch::agent

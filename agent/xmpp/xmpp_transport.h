// The XMPP side of the agent: one gloox client driven from the event loop.
//
// Alerts go out through the outbox and leave it only once the server has
// answered a ping sent after them. The link is kept up forever: exponential
// backoff with jitter (1 s to 60 s), XEP-0199 pings to notice dead links,
// XEP-0198 stream management where the server offers it. Presence shows the
// agent's health. Admins' subscriptions are approved and returned; everyone
// else's are refused, and at each connect RosterGuard revokes every contact
// that is not an admin. What strangers may ask and what it costs is
// GuardedClient's business. Only this directory includes gloox.
#pragma once

#include <deque>
#include <map>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>

#include "agent/commands.h"
#include "agent/config.h"
#include "agent/event_loop.h"
#include "agent/notifier.h"
#include "agent/outbox.h"
#include "agent/peer_watch.h"
#include "agent/refusal_log.h"
#include "agent/xmpp/tcp_connect.h"

namespace imwatch::agent {

enum class PresenceShow { available, away, dnd };

class XmppTransport final : public Notifier {
 public:
  // Answers a chat message from `from` (full JID): the reply, or nothing.
  using ChatFn = std::function<std::optional<std::string>(const std::string& from, const std::string& body)>;

  XmppTransport(const XmppConfig& cfg, const std::string& host, const std::string& state_dir, EventLoop& loop,
                Clock& clock, ChatFn on_chat);
  ~XmppTransport() override;
  XmppTransport(const XmppTransport&) = delete;
  XmppTransport& operator=(const XmppTransport&) = delete;

  // Answers a command addressed to every agent in the fleet's room
  // (`all: status`): one line, or nothing (ChatContext::brief). Without
  // one, `all:` is answered as a private command would be.
  void set_brief_chat(ChatFn fn) { on_brief_ = std::move(fn); }

  void start();  // connects, and keeps connecting
  // Disconnects; the outbox stays saved. With a `status`, first goes
  // unavailable with it ("stopping: SIGTERM") and waits, briefly, until the
  // server confirms it, so that admins see why the agent left.
  void stop(const std::string& status = "");
  // The [xmpp] section after a reload. Admins added are welcomed (their
  // subscription approved, ours asked); admins removed are revoked
  // (unsubscribed both ways, removed from the roster). A new account,
  // password, host, port, resource, CA or pin reconnects with it. The
  // outbox stays: it goes to whoever is an admin when it is sent.
  void reload(const XmppConfig& next);

  // XEP-0050 ad-hoc commands (agent/xmpp/adhoc.h): `fn` calls its argument
  // with the live context of the registry's commands. Without it, none.
  using CommandsFn = std::function<void(const std::function<void(ChatContext&)>&)>;
  void set_commands(CommandsFn fn) { commands_fn_ = std::move(fn); }

  void notify(const Notification& n) override;
  // A chat reply that comes later than the message it answers (`check
  // NAME`), to the full JID that asked. Sent only to an admin, and only while
  // connected: a late answer lost with the link is asked for again, not kept.
  void send_chat(const std::string& to, const std::string& body);
  // Health for presence; sent only when it changes (and at each connect).
  void set_presence(PresenceShow show, const std::string& status);

  bool connected() const;
  bool in_room() const;
  size_t room_pending() const { return room_outbox_.size(); }
  size_t pending() const { return outbox_.size(); }
  // The reason of the last failure, for --test-alert.
  const std::string& last_error() const { return last_error_; }
  // Round trips the server has answered (acknowledged outbox messages go with them).
  uint64_t acknowledged_round_trips() const { return acked_rt_; }

 private:
  struct Impl;  // the gloox listeners
  friend struct Impl;

  void connect();
  void on_tcp_connected(int fd, const std::string& error);
  void arm_ping();
  void drop_connection();
  void welcome(const std::string& admin);
  void revoke(const std::string& former_admin);
  void say_goodbye(const std::string& status);
  bool is_admin(const std::string& bare_jid) const;
  void on_connected();
  void after_connect();
  void on_disconnected(const std::string& reason, bool fatal);
  void schedule_reconnect(double delay);
  void flush_outbox();
  void round_trip();
  void on_pong();
  void send_presence();
  // The fleet's room (agent/xmpp/room.h, agent/peer_watch.h).
  void flush_room();
  void on_room_joined();
  void on_room_left(const std::string& why);
  void on_room_message(const std::string& nick, const std::string& real, bool agent, const std::string& body,
                       bool priv);
  void on_room_occupant(const std::string& nick, bool agent, double boot, bool present, bool goodbye);
  void on_room_pong(const std::string& nick, bool alive);
  void watch_peers();
  void announce(const PeerNews& news);

  XmppConfig cfg_;                // a copy of the daemon's, kept current by reload()
  std::set<std::string> admins_;  // cfg_'s admins, compared as ChatHandler::bare forms
  TcpConnector connector_;
  std::string host_;
  std::string outbox_path_;
  EventLoop& loop_;
  Clock& clock_;
  ChatFn on_chat_;
  CommandsFn commands_fn_;
  Outbox outbox_;
  ChatFn on_brief_;
  // What goes to the room waits here, apart from the private outbox: it is
  // delivered when the room reflects it to its occupants (us included),
  // and made due again whenever we are out of the room.
  std::string room_outbox_path_;
  Outbox room_outbox_;
  std::map<std::string, uint64_t> room_sent_;  // id -> its round trip, until reflected
  uint64_t room_next_rt_ = 1;
  PeerWatch peers_;
  RefusalLog room_refusals_{"room command"};
  double boot_wall_ = 0;
  std::unique_ptr<Impl> impl_;

  bool connecting_ = false, connected_ = false, stopped_ = false;
  bool dropping_ = false;                                   // reload() is closing the session on purpose
  std::set<std::string> pending_welcome_, pending_revoke_;  // bare JIDs, for the next session
  int fd_ = -1;
  double backoff_ = 1;
  double connect_started_ = 0;  // monotonic, of the attempt in progress
  int resume_failures_ = 0;     // since the last session
  bool resumed_ = false;        // this session is a resumed one (XEP-0198), until after_connect()
  std::mt19937 rng_;
  EventLoop::JobId reconnect_job_ = 0, ping_job_ = 0;
  uint64_t next_rt_ = 1, acked_rt_ = 0;
  uint64_t session_ = 0;                                     // counts sessions, so a late after_connect() knows its own
  std::deque<std::pair<uint64_t, double>> pings_in_flight_;  // round trip, sent at (monotonic)
  PresenceShow show_ = PresenceShow::available;
  std::string status_ = "OK";
  std::string last_error_;
};

}  // namespace imwatch::agent

#include "agent/xmpp/room.h"

#include <gloox/jid.h>
#include <gloox/tag.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <random>

#include "agent/chat.h"
#include "agent/text_util.h"
#include "agent/xmpp/guarded_client.h"

namespace imwatch::agent {

namespace {

constexpr const char* kMuc = "http://jabber.org/protocol/muc";
constexpr const char* kMucUser = "http://jabber.org/protocol/muc#user";
constexpr const char* kPing = "urn:xmpp:ping";
constexpr const char* kStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas";
// Our own element in room presence: how agents tell each other from
// humans, with the boot time for "up 12d", and the mark of a goodbye.
constexpr const char* kFleet = "urn:imwatch:fleet:0";
constexpr double kMaxBackoff = 60;
constexpr int kMaxSuffix = 9;

bool has_status(const gloox::Tag* x, const std::string& code) {
  if (!x) return false;
  for (const gloox::Tag* s : x->findChildren("status"))
    if (s->findAttribute("code") == code) return true;
  return false;
}

// The defined condition of an <error/>: "conflict", "not-authorized"...
std::string error_condition(const gloox::Tag& stanza) {
  const gloox::Tag* e = stanza.findChild("error");
  if (!e) return "undefined-condition";
  for (const gloox::Tag* c : e->children())
    if (c->xmlns() == kStanzas && c->name() != "text") return c->name();
  return "undefined-condition";
}

std::string why_refused(const std::string& condition) {
  if (condition == "not-authorized") return "wrong or missing room password";
  if (condition == "registration-required") return "members only, and the agent is no member";
  if (condition == "forbidden") return "the agent is banned";
  if (condition == "item-not-found") return "no such room (or it is locked)";
  if (condition == "not-allowed") return "no such room, and the agent may not create it";
  if (condition == "service-unavailable") return "the room is full or the service is down";
  if (condition == "remote-server-not-found") return "no such conference service";
  return condition;
}

bool delayed(const gloox::Tag& t) {
  return t.findChild("delay", "xmlns", "urn:xmpp:delay") || t.findChild("x", "xmlns", "jabber:x:delay");
}

}  // namespace

Room::Room(GuardedClient& client, EventLoop& loop, Clock& clock, Events events)
    : client_(client), loop_(loop), clock_(clock), ev_(std::move(events)) {}

Room::~Room() {
  if (rejoin_job_) loop_.cancel(rejoin_job_);
}

void Room::configure(const XmppConfig& cfg, double boot_wall) {
  boot_ = boot_wall;
  const bool changed = cfg.room != room_ || cfg.room_nick != wanted_nick_;
  password_ = cfg.room_password;
  if (!changed) return;
  if (joined_ || joining_) leave("");
  room_ = cfg.room;
  wanted_nick_ = cfg.room_nick;
  wanted_ = !room_.empty();
  suffix_ = 1;
  backoff_ = 1;
  if (wanted_ && client_.state() == gloox::StateConnected) join();
}

void Room::on_session(bool resumed) {
  if (!wanted_) return;
  // A fresh session: the server removed our old occupant, a join is a join.
  // A resumed one is still in the room as far as the server goes, and the
  // fault test saw what a join is then: a presence update answered without
  // the occupant list or status 100, which left the agent watching no peer
  // and taking the room for semi-anonymous.
  joined_ = joining_ = false;
  suffix_ = 1;
  if (rejoin_job_) loop_.cancel(rejoin_job_);
  rejoin_job_ = 0;
  if (resumed && !nick_.empty()) {
    auto* p = new gloox::Tag("presence");
    p->addAttribute("to", room_ + "/" + nick_);
    p->addAttribute("type", "unavailable");
    client_.send(p);
    rejoining_ = true;
  }
  join();
}

void Room::link_lost() {
  const bool was = joined_;
  joined_ = joining_ = rejoining_ = false;
  occupants_.clear();
  pings_.clear();
  if (rejoin_job_) loop_.cancel(rejoin_job_);
  rejoin_job_ = 0;
  if (was && ev_.left) ev_.left("the link was lost");
}

void Room::join() {
  rejoin_job_ = 0;
  if (!wanted_ || client_.state() != gloox::StateConnected) return;
  nick_ = suffix_ == 1 ? wanted_nick_ : wanted_nick_ + "-" + std::to_string(suffix_);
  joining_ = true;
  occupants_.clear();
  send_presence(true);
}

void Room::send_presence(bool with_muc) {
  auto* p = new gloox::Tag("presence");
  p->addAttribute("to", room_ + "/" + nick_);
  if (!show_.empty()) new gloox::Tag(p, "show", show_);
  if (!status_.empty()) new gloox::Tag(p, "status", status_);
  if (with_muc) {
    auto* x = new gloox::Tag(p, "x");
    x->setXmlns(kMuc);
    auto* h = new gloox::Tag(x, "history");
    h->addAttribute("maxstanzas", "0");  // history never runs a command, and costs nothing to skip
    if (!password_.empty()) new gloox::Tag(x, "password", password_);
  }
  auto* f = new gloox::Tag(p, "agent");
  f->setXmlns(kFleet);
  if (boot_ > 0) f->addAttribute("boot", std::to_string(static_cast<long long>(boot_)));
  client_.send(p);
}

void Room::set_status(const std::string& show, const std::string& status) {
  if (show == show_ && status == status_) return;
  show_ = show;
  status_ = status;
  if (joined_) send_presence(false);
}

void Room::leave(const std::string& status) {
  if (!joined_ && !joining_) return;
  auto* p = new gloox::Tag("presence");
  p->addAttribute("to", room_ + "/" + nick_);
  p->addAttribute("type", "unavailable");
  if (!status.empty()) new gloox::Tag(p, "status", status);
  auto* f = new gloox::Tag(p, "agent");
  f->setXmlns(kFleet);
  f->addAttribute("goodbye", "1");
  client_.send(p);
  joined_ = joining_ = false;
  wanted_ = false;  // until configure() or a new start
  occupants_.clear();
}

void Room::schedule_rejoin(const std::string& why, bool log) {
  joined_ = joining_ = false;
  occupants_.clear();
  pings_.clear();
  if (rejoin_job_ || !wanted_) return;
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  static std::mt19937 rng{std::random_device{}()};
  const double delay = std::min(backoff_ * jitter(rng), kMaxBackoff);
  backoff_ = std::min(backoff_ * 2, kMaxBackoff);
  if (log && why != last_failure_)
    spdlog::warn("xmpp: room {}: {}; rejoining in {:.1f} s (again at back-off, said once)", room_, why, delay);
  last_failure_ = why;
  rejoin_job_ = loop_.add_timer(delay, [this] { join(); });
}

bool Room::on_tag(const gloox::Tag& tag) {
  if (room_.empty()) return false;
  const gloox::JID from(tag.findAttribute("from"));
  if (ChatHandler::bare(from.bare()) != room_) return false;
  const std::string& name = tag.name();
  if (name == "presence")
    on_presence(tag, from.resource());
  else if (name == "message")
    on_message(tag, from.resource());
  else if (name == "iq")
    on_iq(tag, from.full());
  return true;
}

void Room::on_join_error(const gloox::Tag& tag) {
  const std::string cond = error_condition(tag);
  if (cond == "conflict" && suffix_ < kMaxSuffix) {
    ++suffix_;
    spdlog::info("xmpp: room {}: the nick {} is taken; trying {}-{}", room_, quote(nick_), wanted_nick_, suffix_);
    join();
    return;
  }
  schedule_rejoin("cannot join: " + why_refused(cond), true);
}

namespace {

// Why the room sent us our own unavailable presence, with the actor's
// reason (cut short, quoted: it is anyone's text).
std::string leave_reason(const gloox::Tag* x) {
  std::string why = "removed from the room";
  if (x && x->findChild("destroy"))
    why = "the room was destroyed";
  else if (has_status(x, "307"))
    why = "kicked";
  else if (has_status(x, "301"))
    why = "banned";
  else if (has_status(x, "321") || has_status(x, "322"))
    why = "no longer a member";
  else if (has_status(x, "332"))
    why = "the conference service is shutting down";
  const gloox::Tag* item = x ? x->findChild("item") : nullptr;
  const gloox::Tag* reason = item ? item->findChild("reason") : nullptr;
  if (reason && !reason->cdata().empty()) why += " (" + quote(reason->cdata().substr(0, 100)) + ")";
  return why;
}

}  // namespace

void Room::on_self_presence(const gloox::Tag& tag, const std::string& type, const std::string& from_nick) {
  const gloox::Tag* x = tag.findChild("x", "xmlns", kMucUser);
  if (type == "unavailable") {
    if (has_status(x, "303")) return;  // a nick change: the new nick's presence follows
    if (rejoining_) {
      rejoining_ = false;  // the echo of our own leave (on_session): the join follows
      return;
    }
    const bool was = joined_;
    const std::string why = leave_reason(x);
    schedule_rejoin(why, true);
    if (was && ev_.left) ev_.left(why);
    return;
  }
  nick_ = from_nick;  // the server may have assigned another (status 210)
  rejoining_ = false;  // joined: a removal from now on is one, echo or not
  const gloox::Tag* item = x ? x->findChild("item") : nullptr;
  // Status 100 (real JIDs for all) comes only with the join; a later update
  // of ours carries no codes and changes nothing of it.
  if (joined_) return;
  real_jids_ = has_status(x, "100") || has_status(x, "172") || (item && item->findAttribute("role") == "moderator");
  joined_ = true;
  joining_ = false;
  backoff_ = 1;
  last_failure_.clear();
  spdlog::info("xmpp: joined room {} as {}", room_, quote(nick_));
  if (!real_jids_ && !hidden_logged_) {
    hidden_logged_ = true;
    spdlog::warn("xmpp: room {} hides real JIDs from the agent (semi-anonymous, and the agent is no moderator): "
                 "commands in the room are not answered",
                 room_);
  }
  if (ev_.joined) ev_.joined();
}

void Room::on_presence(const gloox::Tag& tag, const std::string& from_nick) {
  const std::string& type = tag.findAttribute("type");
  if (type == "error") {
    if (joining_ && from_nick == nick_) on_join_error(tag);
    return;
  }
  const gloox::Tag* x = tag.findChild("x", "xmlns", kMucUser);
  if (from_nick.empty()) return;
  // Status 110 marks our own presence (prosody and ejabberd send it, also when kicking us).
  if (has_status(x, "110")) return on_self_presence(tag, type, from_nick);
  const gloox::Tag* fleet = tag.findChild("agent", "xmlns", kFleet);
  Occupant o;
  if (const gloox::Tag* item = x ? x->findChild("item") : nullptr; item && item->hasAttribute("jid"))
    o.real = ChatHandler::bare(gloox::JID(item->findAttribute("jid")).bare());
  o.agent = fleet != nullptr;
  if (fleet) o.boot = std::atof(fleet->findAttribute("boot").c_str());
  if (type == "unavailable") {
    auto it = occupants_.find(from_nick);
    if (it != occupants_.end()) o = it->second;
    occupants_.erase(from_nick);
    const bool goodbye = fleet && fleet->findAttribute("goodbye") == "1";
    if (ev_.occupant && joined_) ev_.occupant(from_nick, o, false, goodbye);
    return;
  }
  if (!occupants_.count(from_nick) && occupants_.size() >= kMaxOccupants) {
    if (!full_logged_) spdlog::warn("xmpp: room {}: more than {} occupants; the rest are not tracked", room_, kMaxOccupants);
    full_logged_ = true;
    return;
  }
  occupants_[from_nick] = o;
  if (ev_.occupant && joined_) ev_.occupant(from_nick, o, true, false);
}

void Room::on_message(const gloox::Tag& tag, const std::string& from_nick) {
  const std::string& type = tag.findAttribute("type");
  const std::string& id = tag.findAttribute("id");
  if (type == "error") {
    // A groupchat message refused: we are not (or no longer) in the room.
    if (joined_ && error_condition(tag) == "not-acceptable") {
      schedule_rejoin("not in the room any more", true);
      if (ev_.left) ev_.left("not in the room");
    }
    return;
  }
  if (from_nick.empty() || delayed(tag)) return;  // the room's own, or its history: never a command
  const gloox::Tag* body = tag.findChild("body");
  if (type == "groupchat" && from_nick == nick_) {
    if (ev_.reflected && !id.empty()) ev_.reflected(id);
    return;
  }
  if (!body || body->cdata().empty() || !ev_.message) return;
  auto it = occupants_.find(from_nick);
  ev_.message(from_nick, it == occupants_.end() ? nullptr : &it->second, body->cdata(), type != "groupchat");
}

void Room::on_iq(const gloox::Tag& tag, const std::string& from) {
  const std::string& type = tag.findAttribute("type");
  const std::string& id = tag.findAttribute("id");
  if (type == "get" || type == "set") {
    // A peer's ping through the room is answered; anything else is refused, unqueued.
    const bool ping = type == "get" && tag.findChild("ping", "xmlns", kPing);
    auto* re = new gloox::Tag("iq");
    re->addAttribute("to", from);
    re->addAttribute("id", id);
    re->addAttribute("type", ping ? "result" : "error");
    if (!ping) {
      auto* e = new gloox::Tag(re, "error");
      e->addAttribute("type", "cancel");
      new gloox::Tag(e, "service-unavailable", "xmlns", kStanzas);
    }
    client_.send_unqueued(re);
    return;
  }
  if (!id.starts_with("rp")) return;
  auto it = pings_.find(std::strtoull(id.c_str() + 2, nullptr, 10));
  if (it == pings_.end()) return;
  const std::string nick = it->second;
  pings_.erase(it);
  const bool alive = type == "result";
  if (nick == nick_) {
    if (ev_.self_pong) ev_.self_pong();
    // XEP-0410: not-acceptable (or item-not-found) says we are no longer an occupant.
    const std::string cond = alive ? "" : error_condition(tag);
    if (joined_ && (cond == "not-acceptable" || cond == "item-not-found")) {
      schedule_rejoin("no longer in the room (self-ping)", true);
      if (ev_.left) ev_.left("self-ping");
    }
    return;
  }
  if (ev_.pong) ev_.pong(nick, alive);
}

void Room::send(const std::string& id, const std::string& text) {
  auto* m = new gloox::Tag("message");
  m->addAttribute("to", room_);
  m->addAttribute("type", "groupchat");
  m->addAttribute("id", id);
  new gloox::Tag(m, "body", text);
  client_.send(m);
}

void Room::send_private(const std::string& nick, const std::string& text) {
  auto* m = new gloox::Tag("message");
  m->addAttribute("to", room_ + "/" + nick);
  m->addAttribute("type", "chat");
  new gloox::Tag(m, "body", text);
  new gloox::Tag(m, "x", "xmlns", kMucUser);
  client_.send(m);
}

void Room::ping(const std::string& nick) {
  if (!joined_) return;
  if (pings_.size() >= kMaxPings) pings_.erase(pings_.begin());  // never answered: forgotten
  const uint64_t n = next_ping_++;
  const std::string id = "rp" + std::to_string(n);
  pings_[n] = nick;
  auto* iq = new gloox::Tag("iq");
  iq->addAttribute("to", room_ + "/" + nick);
  iq->addAttribute("type", "get");
  iq->addAttribute("id", id);
  new gloox::Tag(iq, "ping", "xmlns", kPing);
  client_.send_unqueued(iq);  // a ping lost with the link is simply not answered
}

void Room::self_ping() { ping(nick_); }

}  // namespace imwatch::agent

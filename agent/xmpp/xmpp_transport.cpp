#include "agent/xmpp/xmpp_transport.h"

#include <gloox/client.h>
#include <gloox/connectionlistener.h>
#include <gloox/connectiontcpclient.h>
#include <gloox/delayeddelivery.h>
#include <gloox/disco.h>
#include <gloox/eventhandler.h>
#include <gloox/message.h>
#include <gloox/messagehandler.h>
#include <gloox/presence.h>
#include <gloox/subscription.h>
#include <gloox/subscriptionhandler.h>
#include <gloox/tag.h>
#include <fmt/format.h>
#include <gnutls/crypto.h>
#include <spdlog/spdlog.h>
#include <sys/utsname.h>
#include <time.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <limits>
#include <random>
#include <set>

#include "agent/chat.h"
#include "agent/xmpp/adhoc.h"
#include "agent/messages.h"
#include "agent/refusal_log.h"
#include "agent/text_util.h"
#include "agent/fleet.h"
#include "agent/xmpp/guarded_client.h"
#include "agent/xmpp/room.h"
#include "agent/xmpp/roster_guard.h"
#include "agent/xmpp/tcp_nodelay.h"
#include "agent/xmpp/tls_gnutls.h"

namespace imwatch::agent {

namespace {

constexpr double kMaxBackoff = 60;
// The longest a connection may take to become a session (TCP, TLS, SASL,
// bind), unless ping_interval is longer.
constexpr double kMaxHandshake = 10;
// The longest the TCP connect may take (all addresses together). A
// blackholed server never answers; the kernel alone would wait minutes.
constexpr double kConnectTimeout = 10;
// How long a stop waits for the server to confirm the goodbye presence.
constexpr double kGoodbyeWait = 3;

// gloox's TCP connection, handed a socket that TcpConnector has already
// connected. gloox's setSocket() marks the connection as connected, so the
// client's connect() would then return at once without ever opening the
// stream (tried with gloox 1.0.24: connect(false) returned true and the
// peer received nothing); connect() here opens it on the adopted socket instead, and never
// falls back to gloox's blocking connect(2). gloox still owns the socket
// from then on: its disconnect closes it.
class AdoptedConnection final : public gloox::ConnectionTCPClient {
 public:
  AdoptedConnection(gloox::ConnectionDataHandler* cdh, const gloox::LogSink& log, const std::string& server)
      : ConnectionTCPClient(cdh, log, server) {}
  void adopt(int fd) { m_socket = fd; }
  gloox::ConnectionError connect() override {
    if (m_socket < 0) return gloox::ConnNotConnected;
    if (m_state != gloox::StateDisconnected) return gloox::ConnNoError;
    m_state = gloox::StateConnected;
    m_cancel = false;
    m_handler->handleConnect(this);
    return gloox::ConnNoError;
  }
};

// gloox's client, with a way to free the stanzas it keeps for XEP-0198.

std::set<std::string> admin_set(const XmppConfig& c) {
  std::set<std::string> out;
  for (const auto& a : c.admins) out.insert(ChatHandler::bare(a.value));
  return out;
}

std::string xep0082(double wall) {
  time_t t = static_cast<time_t>(wall);
  tm u{};
  gmtime_r(&t, &u);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &u);
  return buf;
}

std::string describe(gloox::ConnectionError e, gloox::Client& c) {
  switch (e) {
    case gloox::ConnStreamError: return "stream error " + std::to_string(static_cast<int>(c.streamError()));
    case gloox::ConnStreamClosed: return "the server closed the stream";
    case gloox::ConnConnectionRefused: return "connection refused";
    case gloox::ConnDnsError: return "DNS lookup failed";
    case gloox::ConnOutOfMemory: return "out of memory";
    case gloox::ConnNoSupportedAuth: return "no supported authentication mechanism (plaintext is never used)";
    case gloox::ConnTlsFailed: return "TLS failed";
    case gloox::ConnTlsNotAvailable: return "the server offers no TLS";
    case gloox::ConnAuthenticationFailed: return "authentication failed: wrong JID or password";
    case gloox::ConnUserDisconnected: return "disconnected";
    case gloox::ConnNotConnected: return "not connected";
    case gloox::ConnIoError: return "I/O error";
    case gloox::ConnParseError: return "XML parse error";
    default: return "connection error " + std::to_string(static_cast<int>(e));
  }
}

// The resource when none is configured. Not the host name: every reply
// shows our full JID, also the one "not authorised" a stranger gets, and a
// host name tells an attacker which machine this is. Stable across restarts
// (a new resource after a crash would leave the old session hibernating
// beside the new one) and distinct per machine (agents sharing an account
// must not take each other's resource): derived from /etc/machine-id with a
// keyed hash, as systemd asks for IDs shown to others, so it reveals neither
// the machine ID nor the host. Random per start when there is no machine ID.
std::string default_resource() {
  std::string id;
  std::ifstream("/etc/machine-id") >> id;
  unsigned char mac[32];
  static const char kApp[] = "imwatch xmpp resource";
  if (id.size() < 16 || gnutls_hmac_fast(GNUTLS_MAC_SHA256, id.data(), id.size(), kApp, sizeof kApp - 1, mac) != 0) {
    std::random_device rd;
    for (auto& b : mac) b = static_cast<unsigned char>(rd());
  }
  std::string out = "imwatch-";
  for (int i = 0; i < 4; ++i) out += fmt::format("{:02x}", mac[i]);
  return out;
}

std::string os_name() {
  utsname u{};
  if (uname(&u) != 0) return "";
  return std::string(u.sysname) + " " + u.release;
}

}  // namespace

struct XmppTransport::Impl final : gloox::ConnectionListener,
                                   gloox::MessageHandler,
                                   gloox::SubscriptionHandler,
                                   gloox::EventHandler {
  XmppTransport& t;
  std::unique_ptr<GuardedClient> client;
  AdoptedConnection* tcp = nullptr;  // owned by client
  TlsGnutls* tls = nullptr;          // owned by client
  // One line per stranger and hour for whatever they send that is refused
  // here (subscriptions, queries); chat refusals are ChatHandler's.
  RefusalLog refusals{"xmpp"};
  std::unique_ptr<RosterGuard> roster;
  std::unique_ptr<AdhocCommands> adhoc;  // after client: goes before it
  std::unique_ptr<Room> room;

  // Everything comes from the transport's configuration at the time: a
  // reload that changes the account or the server builds a new Impl.
  explicit Impl(XmppTransport& owner) : t(owner) {
    gloox::JID jid(t.cfg_.jid);
    jid.setResource(t.cfg_.resource.empty() ? default_resource() : t.cfg_.resource);
    // Admins as the live configuration says at the time of each stanza.
    auto is_admin = [this](const gloox::JID& bare) { return t.is_admin(bare.bare()); };
    client = std::make_unique<GuardedClient>(
        jid, t.cfg_.password, is_admin,
        [this](const gloox::JID& bare, const std::string& what) { refused(bare.bare(), "query " + quote(what)); });
    // gloox's roster kept every push, spoofed or not; RosterGuard keeps nothing.
    client->disableRoster();
    roster = std::make_unique<RosterGuard>(*client, is_admin);
    adhoc = std::make_unique<AdhocCommands>(
        *client, is_admin,
        [this](const std::function<void(ChatContext&)>& visit) {
          if (t.commands_fn_) t.commands_fn_(visit);
        },
        t.clock_);
    // What admins' clients show as "who is this" (strangers are refused
    // these queries by GuardedClient, the version even the server).
    client->disco()->setVersion("imwatch", IMWATCH_VERSION, os_name());
    client->disco()->setIdentity("client", "bot", "imwatch on " + t.host_);
    // Where to dial is TcpConnector's business (see XmppTransport::connect).
    tcp = new AdoptedConnection(client.get(), client->logInstance(), jid.server());
    client->setConnectionImpl(tcp);
    TlsOptions o;
    o.domain = jid.server();
    o.ca_file = t.cfg_.ca_file;
    o.pin = t.cfg_.pin;
    tls = new TlsGnutls(client.get(), std::move(o));
    if (!tls->init()) spdlog::error("xmpp: {}", tls->failure_reason());
    client->setEncryptionImpl(tls);
    client->setTls(gloox::TLSRequired);  // verified TLS only, never plaintext
    client->setCompression(false);
    client->setStreamManagement(true, true);
    // No DelayedDelivery registration: we only add <delay/> to what we send,
    // and a registered extension makes gloox match its filter against every
    // incoming stanza.
    client->registerConnectionListener(this);
    client->registerMessageHandler(this);
    client->registerSubscriptionHandler(this);
    client->setPresence(gloox::Presence::Available, 0, "OK");
    Room::Events ev;
    ev.joined = [this] { t.on_room_joined(); };
    ev.left = [this](const std::string& why) { t.on_room_left(why); };
    ev.message = [this](const std::string& nick, const Room::Occupant* o, const std::string& body, bool priv) {
      t.on_room_message(nick, o ? o->real : "", o && o->agent, body, priv);
    };
    ev.reflected = [this](const std::string& id) {
      auto it = t.room_sent_.find(id);
      if (it == t.room_sent_.end()) return;
      const uint64_t rt = it->second;  // `it` goes with the erase below
      if (t.room_outbox_.acknowledge(rt) > 0) t.room_outbox_.save(t.room_outbox_path_);
      std::erase_if(t.room_sent_, [rt](const auto& e) { return e.second <= rt; });
    };
    ev.occupant = [this](const std::string& nick, const Room::Occupant& o, bool present, bool goodbye) {
      t.on_room_occupant(nick, o.agent, o.boot, present, goodbye);
    };
    ev.pong = [this](const std::string& nick, bool alive) { t.on_room_pong(nick, alive); };
    ev.self_pong = [this] { t.peers_.link_pong(t.clock_.now()); };
    room = std::make_unique<Room>(*client, t.loop_, t.clock_, std::move(ev));
    client->set_intercept([this](const gloox::Tag& tag) { return room->on_tag(tag); });
    room->configure(t.cfg_, t.boot_wall_);
  }

  void onConnect() override { t.on_connected(); }
  void refused(const std::string& who, const std::string& what) {
    if (auto dropped = refusals.admit(who, t.clock_.now()))
      spdlog::warn("xmpp: refused {} from {}: not an admin{}", what, quote(who), RefusalLog::dropped_note(*dropped));
  }
  void onDisconnect(gloox::ConnectionError e) override {
    // What this session left unacknowledged is the outbox's business
    // (link_lost() makes it due again). gloox's own copies would go out a
    // second time at a later resumption, even one of a newer session,
    // since a fresh session numbers its stanzas from 1 again (the fault
    // tests saw alerts delivered twice).
    client->forget_unacknowledged();
    // A refused certificate, a TLS setup that fails (a missing CA file) and
    // wrong credentials are retried at the slowest pace, with their reason.
    bool tls_reason = tls->certificate_refused() || tls->setup_failed();
    bool fatal = tls_reason || e == gloox::ConnAuthenticationFailed;
    std::string why = tls_reason ? tls->failure_reason() : describe(e, *client);
    t.on_disconnected(why, fatal);
  }
  bool onTLSConnect(const gloox::CertInfo& info) override {
    // TlsGnutls has already verified the chain and the name, or the pin.
    return info.status == gloox::CertOk;
  }
  void onStreamEvent(gloox::StreamEvent e) override {
    if (e == gloox::StreamEventSMResumed) {
      spdlog::info("xmpp: stream resumed (XEP-0198)");
      t.resumed_ = true;
    }
    if (e == gloox::StreamEventSMResumeFailed) {
      // After a server restart the session is gone; gloox would hang on
      // prosody or drop SM on ejabberd. Start a fresh stream instead.
      spdlog::info("xmpp: stream resumption failed; starting a new session");
      ++t.resume_failures_;
      client->forget_unacknowledged();  // the outbox re-sends its own messages
      client->disconnect();
      client->setStreamManagement(true, true);
    }
  }
  void handleMessage(const gloox::Message& msg, gloox::MessageSession*) override {
    if (msg.body().empty()) return;
    if (msg.subtype() != gloox::Message::Chat && msg.subtype() != gloox::Message::Normal) return;
    auto reply = t.on_chat_(msg.from().full(), msg.body());
    if (!reply) return;
    gloox::Message r(gloox::Message::Chat, msg.from(), *reply);
    r.setID(t.outbox_.new_id());
    // A stranger's refusal is not kept for resending; an admin's reply is,
    // and GuardedClient asks the server to ack it soon.
    if (t.is_admin(msg.from().bare()))
      client->send(r);
    else
      client->send_unqueued(r.tag());
  }
  void handleSubscription(const gloox::Subscription& s) override {
    std::string who = ChatHandler::bare(s.from().bare());
    if (s.subtype() != gloox::Subscription::Subscribe) return;
    if (t.is_admin(who)) {
      client->send(gloox::Subscription(gloox::Subscription::Subscribed, s.from().bareJID()));
      client->send(gloox::Subscription(gloox::Subscription::Subscribe, s.from().bareJID()));
      spdlog::info("xmpp: approved the subscription of admin {}", who);
    } else {
      // Refused every time (the server then forgets the request), logged once an hour.
      client->send_unqueued(gloox::Subscription(gloox::Subscription::Unsubscribed, s.from().bareJID()).tag());
      refused(who, "a subscription request");
    }
  }
  void handleEvent(const gloox::Event& e) override {
    if (e.eventType() == gloox::Event::PingPong || e.eventType() == gloox::Event::PingError) t.on_pong();
  }
};

XmppTransport::XmppTransport(const XmppConfig& cfg, const std::string& host, const std::string& state_dir,
                             EventLoop& loop, Clock& clock, ChatFn on_chat)
    : cfg_(cfg),
      connector_(loop),
      host_(host),
      outbox_path_(state_dir.empty() ? std::string() : state_dir + "/outbox"),
      loop_(loop),
      clock_(clock),
      on_chat_(std::move(on_chat)),
      outbox_(host, cfg.outbox_max, random_id_prefix()),
      room_outbox_path_(state_dir.empty() ? std::string() : state_dir + "/room-outbox"),
      room_outbox_(host, cfg.outbox_max, random_id_prefix()),
      peers_(cfg.ping_interval),
      rng_(std::random_device{}()) {
  admins_ = admin_set(cfg_);
  outbox_.load(outbox_path_);
  room_outbox_.load(room_outbox_path_);
  timespec up{};
  if (clock_gettime(CLOCK_BOOTTIME, &up) == 0) boot_wall_ = clock_.wall() - static_cast<double>(up.tv_sec);
  impl_ = std::make_unique<Impl>(*this);
}

XmppTransport::~XmppTransport() { stop(); }

bool XmppTransport::connected() const { return connected_; }

void XmppTransport::send_chat(const std::string& to, const std::string& body) {
  gloox::JID jid(to);
  if (!connected_ || !impl_ || !impl_->client || !is_admin(jid.bare())) {
    spdlog::info("xmpp: late reply to {} not sent: {}", to, connected_ ? "not an admin" : "not connected");
    return;
  }
  gloox::Message r(gloox::Message::Chat, jid, body);
  r.setID(outbox_.new_id());
  impl_->client->send(r);
}

bool XmppTransport::is_admin(const std::string& bare_jid) const {
  return admins_.count(ChatHandler::bare(bare_jid)) > 0;
}

void XmppTransport::start() {
  stopped_ = false;
  connect();
  arm_ping();
}

void XmppTransport::arm_ping() {
  if (ping_job_) loop_.cancel(ping_job_);
  ping_job_ = loop_.add_job(
      cfg_.ping_interval,
      [this] {
        // A handshake that never finishes (the link died while connecting) would
        // otherwise keep us "connecting" forever: pings only run once connected.
        // The TCP connect has its own timeout (TcpConnector).
        if (connecting_ && !connector_.busy() &&
            clock_.now() - connect_started_ >= std::max(cfg_.ping_interval, kMaxHandshake)) {
          spdlog::warn("xmpp: no session after {}: giving up on this attempt",
                       format_duration(std::max(cfg_.ping_interval, kMaxHandshake)));
          impl_->client->disconnect();
          if (connecting_) on_disconnected("handshake timed out", false);
          return;
        }
        if (!connected_) return;
        // A ping unanswered for a whole interval means a dead link (no FIN).
        if (!pings_in_flight_.empty() && clock_.now() - pings_in_flight_.front().second >= cfg_.ping_interval) {
          spdlog::warn("xmpp: no answer to a ping for {}: the link is dead", format_duration(cfg_.ping_interval));
          impl_->client->disconnect();
          return;
        }
        round_trip();
        watch_peers();
      },
      cfg_.ping_interval);
}

void XmppTransport::stop(const std::string& status) {
  if (stopped_) return;
  stopped_ = true;
  if (reconnect_job_) loop_.cancel(reconnect_job_);
  if (ping_job_) loop_.cancel(ping_job_);
  reconnect_job_ = ping_job_ = 0;
  connector_.cancel();
  if (connected_ && !status.empty() && impl_->room->joined()) {
    // Said in the room by the host itself, and its leaving marked as a
    // goodbye: its watcher announces nothing.
    impl_->room->send(outbox_.new_id(), host_ + " " + status);
    impl_->room->leave(status);
  }
  if (connected_ && !status.empty()) say_goodbye(status);
  if (impl_) impl_->client->forget_unacknowledged();  // see drop_connection()
  if (impl_ && impl_->client->state() != gloox::StateDisconnected) impl_->client->disconnect();
  if (fd_ >= 0) loop_.remove_fd(fd_);
  fd_ = -1;
  outbox_.link_lost();
  outbox_.save(outbox_path_);
  room_outbox_.link_lost();
  room_outbox_.save(room_outbox_path_);
}

void XmppTransport::say_goodbye(const std::string& status) {
  // Closing the stream at once could lose the presence: a close() with
  // unread input resets the connection and the kernel drops what it has not
  // sent. A ping sent after the presence and answered proves the server
  // has processed it (it answers in order); only then is the stream closed.
  impl_->client->setPresence(gloox::Presence::Unavailable, 0, status);
  round_trip();
  const uint64_t rt = next_rt_ - 1;
  const double deadline = clock_.now() + kGoodbyeWait;
  while (connected_ && acked_rt_ < rt && clock_.now() < deadline) impl_->client->recv(100'000);
  if (acked_rt_ >= rt)
    spdlog::info("xmpp: went unavailable: {}", status);
  else
    spdlog::warn("xmpp: the server did not confirm the unavailable presence within {}", format_duration(kGoodbyeWait));
}

void XmppTransport::connect() {
  reconnect_job_ = 0;
  if (stopped_ || connecting_ || connected_) return;
  connecting_ = true;
  resumed_ = false;
  connect_started_ = clock_.now();
  spdlog::debug("xmpp: connecting as {}", cfg_.jid);
  // Never blocks on the network (only, briefly, on DNS: see tcp_connect.h).
  connector_.start(xmpp_endpoints(cfg_.host, cfg_.port, gloox::JID(cfg_.jid).server()), kConnectTimeout,
                   [this](int fd, const std::string& error) { on_tcp_connected(fd, error); });
}

void XmppTransport::on_tcp_connected(int fd, const std::string& error) {
  if (fd < 0) {
    on_disconnected(error, false);
    return;
  }
  connect_started_ = clock_.now();  // the handshake's own bound starts now
  impl_->tcp->adopt(fd);
  // Every new session asks for XEP-0198 again, whatever the last one ended
  // with (ejabberd silently drops it after a failed resumption).
  impl_->client->setStreamManagement(true, true);
  if (!impl_->client->connect(false)) {
    // onDisconnect has run and scheduled the next try.
    if (connecting_) on_disconnected("connection failed", false);
    return;
  }
  set_tcp_nodelay(*impl_->tcp);
  fd_ = impl_->tcp->socket();
  loop_.add_fd(fd_, [this] {
    // Everything gloox can read without blocking; GnuTLS may hold more
    // records than the socket shows, so TlsGnutls drains them itself.
    if (impl_->client->recv(0) != gloox::ConnNoError && fd_ >= 0) {
      // onDisconnect already handled it.
    }
  });
}

void XmppTransport::on_connected() {
  connecting_ = false;
  // (resumed_ was set by the stream event that came before this.)
  connected_ = true;
  backoff_ = 1;
  resume_failures_ = 0;
  last_error_.clear();
  spdlog::info("xmpp: connected as {} ({})", impl_->client->jid().full(), impl_->tls->protocol());
  // Nothing is sent from inside gloox's onConnect: on a resumed stream
  // gloox calls it first and only then re-sends what it still holds
  // unacknowledged, which would include what we sent here (the fault tests
  // saw alerts delivered twice in one session). The next pass is early
  // enough.
  const uint64_t session = ++session_;
  loop_.add_timer(0, [this, session] {
    if (connected_ && session == session_) after_connect();
  });
}

void XmppTransport::after_connect() {
  // Non-admins leave the roster at every session (a removed admin kept
  // seeing the server's health).
  impl_->roster->on_session();
  for (const auto& a : cfg_.admins)
    impl_->client->send(gloox::Subscription(gloox::Subscription::Subscribe, gloox::JID(a.value)));
  // What a reload decided while there was no session.
  for (const auto& a : pending_welcome_) welcome(a);
  for (const auto& r : pending_revoke_) revoke(r);
  pending_welcome_.clear();
  pending_revoke_.clear();
  send_presence();
  flush_outbox();
  impl_->room->on_session(resumed_);
  resumed_ = false;
}

void XmppTransport::on_disconnected(const std::string& reason, bool fatal) {
  // gloox may report one failed attempt twice (an I/O error, then the stream
  // error); the first report already scheduled the retry.
  if (!connected_ && !connecting_ && reconnect_job_ != 0) return;
  if (dropping_) return;  // a reload is replacing the connection on purpose
  bool was = connected_;
  connected_ = connecting_ = false;
  if (fd_ >= 0) loop_.remove_fd(fd_);
  fd_ = -1;
  pings_in_flight_.clear();
  outbox_.link_lost();
  impl_->room->link_lost();
  last_error_ = reason;
  if (stopped_) return;
  // A failed resumption is the server answering (the normal case after it
  // restarted): start the fresh session at once instead of backing off, or
  // one server restart costs a back-off step. Only once in a row, so that
  // it can never become a tight loop.
  if (resume_failures_ == 1 && !fatal) {
    schedule_reconnect(0);
    return;
  }
  // Credentials and certificates do not fix themselves in a second: retry
  // at the slowest pace, but retry (they may be fixed by the admin).
  double delay = fatal ? kMaxBackoff : backoff_;
  if (!fatal) backoff_ = std::min(backoff_ * 2, kMaxBackoff);
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  delay = std::min(delay * jitter(rng_), kMaxBackoff);
  if (fatal)
    spdlog::error("xmpp: {}; retrying in {:.0f} s", reason, delay);
  else if (was)
    spdlog::warn("xmpp: link lost ({}); reconnecting in {:.1f} s", reason, delay);
  else
    spdlog::warn("xmpp: cannot connect ({}); retrying in {:.1f} s", reason, delay);
  schedule_reconnect(delay);
}

void XmppTransport::schedule_reconnect(double delay) {
  if (reconnect_job_) return;
  reconnect_job_ = loop_.add_timer(delay, [this] { connect(); });
}

void XmppTransport::drop_connection() {
  connector_.cancel();
  if (reconnect_job_) loop_.cancel(reconnect_job_);
  reconnect_job_ = 0;
  // This client is about to be destroyed: free the stanzas it still keeps
  // for XEP-0198 (gloox frees them only when the server acknowledges them,
  // never in its destructor; valgrind showed them lost). Outbox messages
  // among them are not lost: link_lost() below makes them due again.
  impl_->client->forget_unacknowledged();
  if (impl_->client->state() != gloox::StateDisconnected) {
    dropping_ = true;
    impl_->client->disconnect();
    dropping_ = false;
  }
  if (fd_ >= 0) loop_.remove_fd(fd_);
  fd_ = -1;
  connected_ = connecting_ = false;
  pings_in_flight_.clear();
  outbox_.link_lost();
  impl_->room->link_lost();
}

void XmppTransport::reload(const XmppConfig& next) {
  const XmppConfig& c = cfg_;
  const bool reconnect = next.jid != c.jid || next.password != c.password || next.host != c.host ||
                         next.port != c.port || next.resource != c.resource || next.ca_file != c.ca_file ||
                         next.pin != c.pin;
  const bool same_account = ChatHandler::bare(next.jid) == ChatHandler::bare(c.jid);
  const auto before = admin_set(c), after = admin_set(next);
  std::vector<std::string> added, removed;
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(), std::back_inserter(added));
  std::set_difference(before.begin(), before.end(), after.begin(), after.end(), std::back_inserter(removed));
  const bool new_ping = next.ping_interval != c.ping_interval;
  if (next.outbox_max != c.outbox_max) spdlog::warn("xmpp: outbox_max changes take effect at the next start");
  cfg_ = next;  // from here on every send and every check uses the new list
  admins_ = after;
  for (const auto& a : added) spdlog::info("xmpp: reload: {} is now an admin", a);
  for (const auto& r : removed) spdlog::info("xmpp: reload: {} is no longer an admin", r);
  for (const auto& a : added) {
    pending_revoke_.erase(a);
    pending_welcome_.insert(a);
  }
  for (const auto& r : removed) {
    pending_welcome_.erase(r);
    // A new account's roster never had him: nothing to revoke there.
    if (same_account) pending_revoke_.insert(r);
  }
  if (!same_account) pending_revoke_.clear();
  if (new_ping && ping_job_) arm_ping();
  peers_.set_interval(next.ping_interval);
  if (reconnect) {
    spdlog::info("xmpp: reload: account or server settings changed; reconnecting as {}", cfg_.jid);
    drop_connection();
    impl_ = std::make_unique<Impl>(*this);
    backoff_ = 1;
    resume_failures_ = 0;
    if (!stopped_) connect();
    return;
  }
  impl_->room->configure(cfg_, boot_wall_);
  if (!connected_) return;  // on_connected does the rest
  for (const auto& a : pending_welcome_) welcome(a);
  for (const auto& r : pending_revoke_) revoke(r);
  pending_welcome_.clear();
  pending_revoke_.clear();
  flush_outbox();
}

void XmppTransport::welcome(const std::string& admin) {
  // Approves her subscription (or pre-approves it, RFC 6121 3.4) and asks
  // for hers, as at every connect.
  gloox::JID jid(admin);
  impl_->client->send(gloox::Subscription(gloox::Subscription::Subscribed, jid));
  impl_->client->send(gloox::Subscription(gloox::Subscription::Subscribe, jid));
}

void XmppTransport::revoke(const std::string& former) {
  // He no longer sees our presence, we no longer ask for his, and he leaves
  // the roster (RFC 6121 2.5: an item set to subscription='remove').
  gloox::JID jid(former);
  impl_->client->send(gloox::Subscription(gloox::Subscription::Unsubscribed, jid));
  impl_->client->send(gloox::Subscription(gloox::Subscription::Unsubscribe, jid));
  auto* iq = new gloox::Tag("iq");
  iq->addAttribute("type", "set");
  iq->addAttribute("id", outbox_.new_id());
  auto* query = new gloox::Tag(iq, "query");
  query->setXmlns("jabber:iq:roster");
  auto* item = new gloox::Tag(query, "item");
  item->addAttribute("jid", jid.bare());
  item->addAttribute("subscription", "remove");
  impl_->client->send(iq);  // gloox takes the tag
  spdlog::info("xmpp: revoked the subscription of {}", former);
}

void XmppTransport::notify(const Notification& n) {
  outbox_.add(n);
  outbox_.save(outbox_path_);
  if (!cfg_.room.empty()) {
    Notification for_room = routed(n, cfg_.room_min);
    if (!for_room.events.empty()) {
      room_outbox_.add(for_room);
      room_outbox_.save(room_outbox_path_);
    }
  }
  flush_outbox();
}

void XmppTransport::flush_outbox() {
  if (!connected_) return;
  flush_room();
  auto msgs = outbox_.to_send(clock_.wall());
  if (msgs.empty()) return;
  // Saved before sending: a summary that to_send made must go out under the
  // id it is saved with, or a kill -9 right after sending would have it sent
  // again, after the restart, as a second summary with a new id.
  outbox_.save(outbox_path_);
  uint64_t rt = next_rt_;
  const double wall = clock_.wall();
  for (OutboxMessage* m : msgs) {
    for (const auto& a : cfg_.admins) {
      // Each admin gets the lines at or above the least severity asked for.
      const std::string text = routed_text(*m, cfg_.min_of(a.value));
      if (text.empty() || a.value == m->except) continue;
      gloox::Message msg(gloox::Message::Chat, gloox::JID(a.value), text);
      msg.setID(m->id);
      // Late delivery carries the time it was raised (XEP-0203).
      if (wall - m->wall > 2) msg.addExtension(new gloox::DelayedDelivery(gloox::JID(cfg_.jid), xep0082(m->wall)));
      impl_->client->send(msg);
    }
    outbox_.mark_sent(m->id, rt);
  }
  round_trip();
}

bool XmppTransport::in_room() const { return connected_ && impl_->room->joined(); }

void XmppTransport::flush_room() {
  if (!in_room()) return;
  auto msgs = room_outbox_.to_send(clock_.wall());
  if (msgs.empty()) return;
  room_outbox_.save(room_outbox_path_);  // as flush_outbox(): summaries keep their ids
  for (OutboxMessage* m : msgs) {
    // Delivered once the room reflects it: a groupchat message carries no
    // <delay/> of ours (the room stamps its own), so its text says when.
    const uint64_t rt = room_next_rt_++;
    impl_->room->send(m->id, m->text);
    room_outbox_.mark_sent(m->id, rt);
    room_sent_[m->id] = rt;
  }
}

void XmppTransport::on_room_joined() {
  peers_.clear();
  peers_.set_self(impl_->room->nick(), clock_.now());
  for (const auto& [nick, o] : impl_->room->occupants())
    if (o.agent)
      if (auto news = peers_.present(nick, o.boot, clock_.now(), clock_.wall())) announce(*news);
  flush_room();
}

void XmppTransport::on_room_left(const std::string& why) {
  spdlog::debug("xmpp: out of the room: {}", why);
  room_outbox_.link_lost();  // whatever was not reflected goes again after the rejoin
  room_sent_.clear();
  peers_.clear();
}

void XmppTransport::on_room_message(const std::string& nick, const std::string& real, bool agent,
                                    const std::string& body, bool priv) {
  if (agent && !priv) return;  // the other agents' alerts and answers
  std::string command = body;
  bool all = false;
  if (!priv) {
    Addressed a = addressed(body, impl_->room->nick(), cfg_.room_nick);
    if (a.to == Addressed::nobody) return;
    all = a.to == Addressed::all;
    command = a.command;
  }
  // Authority by real JID only: a nick proves nothing.
  if (!impl_->room->real_jids_visible() || real.empty()) return;  // said once, at the join
  if (!is_admin(real)) {
    if (auto dropped = room_refusals_.admit(real, clock_.now()))
      spdlog::warn("xmpp: room command from {} ({}) refused: not an admin{}", quote(real), quote(nick.substr(0, 64)),
                   RefusalLog::dropped_note(*dropped));
    return;
  }
  auto reply = all && on_brief_ ? on_brief_(real, command) : on_chat_(real, command);
  spdlog::debug("xmpp: room command {} from {}: {}", quote(command.substr(0, 64)), real, reply ? "answered" : "nothing to say");
  if (!reply || reply->empty()) return;
  if (priv)
    impl_->room->send_private(nick, *reply);
  else
    impl_->room->send(outbox_.new_id(), *reply);
}

void XmppTransport::on_room_occupant(const std::string& nick, bool agent, double boot, bool present, bool goodbye) {
  if (!agent) return;
  if (!present) return peers_.left(nick, goodbye, clock_.now(), clock_.wall());
  if (auto news = peers_.present(nick, boot, clock_.now(), clock_.wall())) announce(*news);
}

void XmppTransport::on_room_pong(const std::string& nick, bool alive) {
  if (alive) return peers_.answered(nick, clock_.now(), clock_.wall());
  if (auto news = peers_.gone(nick, clock_.now(), clock_.wall())) announce(*news);
}

void XmppTransport::watch_peers() {
  if (!in_room()) return;
  auto tick = peers_.tick(clock_.now(), clock_.wall());
  impl_->room->self_ping();
  peers_.link_ping(clock_.now());
  for (const auto& n : tick.news) announce(n);
  if (tick.ping) impl_->room->ping(*tick.ping);
}

void XmppTransport::announce(const PeerNews& news) {
  Event e;
  e.kind = news.kind == PeerNews::vanished ? Event::peer_vanished : Event::peer_back;
  e.rule = news.nick;
  e.severity = Severity::critical;
  if (news.kind == PeerNews::vanished) {
    e.value = news.last_seen;
    e.duration = news.up;
  } else {
    e.duration = news.away;
  }
  spdlog::info("xmpp: room: {}", event_line(e));
  notify(Notification{clock_.wall(), host_, {e}});
}

void XmppTransport::round_trip() {
  uint64_t rt = next_rt_++;
  pings_in_flight_.emplace_back(rt, clock_.now());
  peers_.link_ping(clock_.now());  // our own link, timed for the peer watch
  impl_->client->xmppPing(gloox::JID(impl_->client->jid().server()), impl_.get());
  impl_->client->reqStreamManagement();  // lets gloox free what the server has (see handleMessage)
}

void XmppTransport::on_pong() {
  if (pings_in_flight_.empty()) return;
  peers_.link_pong(clock_.now());
  // The server answers in order: this is the oldest ping in flight.
  uint64_t rt = pings_in_flight_.front().first;
  pings_in_flight_.pop_front();
  acked_rt_ = rt;
  if (outbox_.acknowledge(rt) > 0) outbox_.save(outbox_path_);
}

void XmppTransport::set_presence(PresenceShow show, const std::string& status) {
  if (show == show_ && status == status_) return;
  show_ = show;
  status_ = status;
  send_presence();
}

void XmppTransport::send_presence() {
  auto type = show_ == PresenceShow::dnd    ? gloox::Presence::DND
              : show_ == PresenceShow::away ? gloox::Presence::Away
                                            : gloox::Presence::Available;
  impl_->client->setPresence(type, 0, status_);
  impl_->room->set_status(show_ == PresenceShow::dnd ? "dnd" : show_ == PresenceShow::away ? "away" : "", status_);
}

}  // namespace imwatch::agent

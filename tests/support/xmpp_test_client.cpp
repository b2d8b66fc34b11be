#include "tests/support/xmpp_test_client.h"

#include <unistd.h>

#include <atomic>
#include <random>
#include <thread>

#include <gloox/connectiontcpclient.h>
#include <gloox/delayeddelivery.h>
#include <gloox/message.h>
#include <gloox/presence.h>
#include <gloox/rostermanager.h>
#include <gloox/subscription.h>

#include "agent/xmpp/tcp_nodelay.h"

namespace imwatch::test {

namespace {

using Clock = std::chrono::steady_clock;

// gloox's own ids are seeded from time(0) and collide between processes
// started in the same second; tests need ids that are unique for real.
std::string unique_token() {
  static std::atomic<unsigned> counter{0};
  static const unsigned salt = std::random_device{}();
  return std::to_string(getpid()) + "-" + std::to_string(salt) + "-" + std::to_string(++counter);
}

const char* show_name(gloox::Presence::PresenceType t) {
  switch (t) {
    case gloox::Presence::Available: return "available";
    case gloox::Presence::Chat: return "chat";
    case gloox::Presence::Away: return "away";
    case gloox::Presence::DND: return "dnd";
    case gloox::Presence::XA: return "xa";
    case gloox::Presence::Unavailable: return "unavailable";
    case gloox::Presence::Probe: return "probe";
    case gloox::Presence::Error: return "error";
    case gloox::Presence::Invalid: return "invalid";
  }
  return "invalid";
}

const char* message_type_name(gloox::Message::MessageType t) {
  switch (t) {
    case gloox::Message::Chat: return "chat";
    case gloox::Message::Error: return "error";
    case gloox::Message::Groupchat: return "groupchat";
    case gloox::Message::Headline: return "headline";
    case gloox::Message::Normal: return "normal";
    case gloox::Message::Invalid: return "invalid";
  }
  return "invalid";
}

// One recv() slice. Short so that waits end close to their deadline; recv()
// takes microseconds.
constexpr int kRecvSliceUs = 20'000;

}  // namespace

TestClient::TestClient(const std::string& jid, const std::string& password, ProsodyServer& server, TestClientTls tls) {
  gloox::JID full(jid);
  if (full.resource().empty()) full.setResource("test-" + unique_token());
  jid_ = full.full();
  client_ = std::make_unique<gloox::Client>(full, password);
  // Dial the loopback address but keep the JID's domain for the stream and
  // the certificate check.
  connection_ = new gloox::ConnectionTCPClient(client_.get(), client_->logInstance(), "127.0.0.1", server.port());
  client_->setConnectionImpl(connection_);
  agent::TlsOptions options;
  options.domain = full.server();
  options.ca_file = tls.ca_file.value_or(server.ca_file());
  options.pin = tls.pin;
  options.max_version = tls.max_version;
  tls_ = new agent::TlsGnutls(client_.get(), std::move(options));
  tls_ready_ = tls_->init();
  client_->setEncryptionImpl(tls_);
  client_->setTls(gloox::TLSRequired);
  client_->setCompression(false);
  client_->registerStanzaExtension(new gloox::DelayedDelivery());
  client_->registerConnectionListener(this);
  client_->registerMessageHandler(this);
  client_->registerPresenceHandler(this);
  client_->registerSubscriptionHandler(this);
}

TestClient::~TestClient() {
  disconnect();
  client_.reset();  // deletes connection_ and tls_ too
}

bool TestClient::connect(Duration timeout) {
  if (connected_) return true;
  connected_ = false;
  disconnected_ = false;
  disconnect_reason_ = gloox::ConnNoError;
  auth_error_ = gloox::AuthErrorUndefined;
  stream_error_ = gloox::StreamErrorUndefined;
  presences_.clear();  // presence is per session; a new one starts from nothing
  if (!tls_ready_) {
    // TLS is required: without a usable verifier, never even dial.
    disconnect_reason_ = gloox::ConnTlsNotAvailable;
    return false;
  }
  if (!client_->connect(false)) {
    if (disconnect_reason_ == gloox::ConnNoError) disconnect_reason_ = gloox::ConnConnectionRefused;
    return false;
  }
  agent::set_tcp_nodelay(*connection_);
  const auto deadline = Clock::now() + timeout;
  while (!connected_ && !disconnected_ && Clock::now() < deadline) {
    client_->recv(kRecvSliceUs);
  }
  if (!connected_ && !disconnected_) {
    client_->disconnect();  // timed out: leave no half-open stream behind
    disconnect_reason_ = gloox::ConnNotConnected;
  }
  return connected_;
}

void TestClient::disconnect() {
  if (client_ && client_->state() != gloox::StateDisconnected) client_->disconnect();
  connected_ = false;
}

std::string TestClient::send_chat(const std::string& to_bare_jid, const std::string& body) {
  if (!connected_) return {};
  gloox::Message msg(gloox::Message::Chat, gloox::JID(to_bare_jid), body);
  std::string id = "tc-" + unique_token();
  msg.setID(id);
  client_->send(msg);
  return id;
}

std::optional<ReceivedMessage> TestClient::wait_for_message(
    const std::function<bool(const ReceivedMessage&)>& predicate, Duration timeout) {
  size_t checked = 0;
  std::optional<ReceivedMessage> found;
  wait_until(
      [&] {
        for (; checked < messages_.size(); ++checked) {
          if (predicate(messages_[checked])) {
            found = messages_[checked];
            return true;
          }
        }
        return false;
      },
      timeout);
  return found;
}

bool TestClient::wait_until(const std::function<bool()>& condition, Duration timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (Clock::now() >= deadline) return false;
    if (client_->state() == gloox::StateDisconnected) {
      // Nothing can arrive; just let the time pass without spinning.
      std::this_thread::sleep_for(std::min<Clock::duration>(deadline - Clock::now(), std::chrono::milliseconds(10)));
    } else {
      client_->recv(kRecvSliceUs);
    }
  }
}

void TestClient::pump(Duration duration) {
  wait_until([] { return false; }, duration);
}

std::optional<ReceivedPresence> TestClient::last_presence(const std::string& bare_jid) const {
  auto it = presences_.find(gloox::JID(bare_jid).bare());
  if (it == presences_.end()) return std::nullopt;
  return it->second;
}

void TestClient::subscribe(const std::string& bare_jid) {
  if (auto* roster = client_->rosterManager()) {
    roster->subscribe(gloox::JID(bare_jid));
  } else {
    client_->send(gloox::Subscription(gloox::Subscription::Subscribe, gloox::JID(bare_jid)));
  }
}

std::string TestClient::tls_failure() const { return tls_ ? tls_->failure_reason() : ""; }

bool TestClient::tls_certificate_refused() const { return tls_ && tls_->certificate_refused(); }

std::string TestClient::tls_protocol() const { return tls_ ? tls_->protocol() : ""; }

void TestClient::onConnect() {
  connected_ = true;
  ++connect_count_;
}

void TestClient::onDisconnect(gloox::ConnectionError e) {
  connected_ = false;
  disconnected_ = true;
  disconnect_reason_ = e;
  auth_error_ = client_->authError();
  stream_error_ = client_->streamError();
}

bool TestClient::onTLSConnect(const gloox::CertInfo& info) {
  // TlsGnutls only completes a handshake it accepted; checking the status
  // again guards against a TLS layer that reports without deciding.
  return info.status == gloox::CertOk;
}

void TestClient::handleMessage(const gloox::Message& msg, gloox::MessageSession*) {
  if (msg.body().empty()) return;  // chat states, receipts, carbons wrappers
  ReceivedMessage m;
  m.from = msg.from().full();
  m.body = msg.body();
  m.id = msg.id();
  if (const gloox::DelayedDelivery* d = msg.when()) m.delay_stamp = d->stamp();
  m.type = message_type_name(msg.subtype());
  messages_.push_back(std::move(m));
}

void TestClient::handlePresence(const gloox::Presence& presence) {
  ReceivedPresence p;
  p.show = show_name(presence.subtype());
  p.status = presence.status();
  presence_history_.emplace_back(presence.from().full(), p);
  presences_[presence.from().bare()] = std::move(p);
}

std::vector<std::string> TestClient::subscriptions_from(const std::string& bare_jid) const {
  std::vector<std::string> out;
  for (const auto& [from, type] : subscriptions_)
    if (from == bare_jid) out.push_back(type);
  return out;
}

void TestClient::handleSubscription(const gloox::Subscription& subscription) {
  static const std::map<gloox::Subscription::S10nType, std::string> names = {
      {gloox::Subscription::Subscribe, "subscribe"},
      {gloox::Subscription::Subscribed, "subscribed"},
      {gloox::Subscription::Unsubscribe, "unsubscribe"},
      {gloox::Subscription::Unsubscribed, "unsubscribed"}};
  auto name = names.find(subscription.subtype());
  subscriptions_.emplace_back(subscription.from().bare(), name == names.end() ? "other" : name->second);
  if (subscription.subtype() == gloox::Subscription::Subscribe) {
    client_->send(gloox::Subscription(gloox::Subscription::Subscribed, subscription.from().bareJID()));
  }
}

}  // namespace imwatch::test

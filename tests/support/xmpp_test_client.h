// The admin side of XMPP tests: a gloox client that talks to a ProsodyServer
// the way a real admin's client would, and records what it receives.
//
// It dials 127.0.0.1:server.port() (ConnectionTCPClient) while keeping the
// JID's domain, so the certificate is checked against test.local; TLS is
// agent::TlsGnutls verifying against the test CA (or whatever TestClientTls
// says, for the refusal tests). TCP_NODELAY is set after every connect.
//
// Everything is driven from the calling thread: each wait_*() pumps
// Client::recv() in short slices until its condition holds or its timeout
// (always bounded) expires. The same gloox::Client is reused across
// connect()/disconnect() cycles, as the agent does.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gloox/client.h>
#include <gloox/connectionlistener.h>
#include <gloox/messagehandler.h>
#include <gloox/presencehandler.h>
#include <gloox/subscriptionhandler.h>

#include "agent/xmpp/tls_gnutls.h"
#include "tests/support/prosody_server.h"

namespace gloox {
class ConnectionTCPClient;
}

namespace imwatch::test {

struct ReceivedMessage {
  std::string from;  // full JID
  std::string body;
  std::string id;
  std::string delay_stamp;  // XEP-0203 stamp, empty when delivered live
  std::string type;         // "chat", "normal", ...
};

struct ReceivedPresence {
  std::string show;    // "available", "chat", "away", "dnd", "xa", "unavailable"
  std::string status;  // free text, may be empty
};

// TLS settings of a TestClient; by default it trusts the server's test CA.
struct TestClientTls {
  std::optional<std::string> ca_file;  // default: server.ca_file()
  std::string pin;                     // "sha256:..." to pin instead
  agent::TlsMaxVersion max_version = agent::TlsMaxVersion::tls13;
};

class TestClient : gloox::ConnectionListener,
                   gloox::MessageHandler,
                   gloox::PresenceHandler,
                   gloox::SubscriptionHandler {
 public:
  using Duration = std::chrono::milliseconds;

  // `jid` may be bare ("admin@test.local"); a unique resource is added.
  TestClient(const std::string& jid, const std::string& password, ProsodyServer& server, TestClientTls tls = {});
  ~TestClient() override;
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  // Connects and waits at most `timeout` for onConnect (stream up,
  // authenticated, resource bound). False on failure or timeout; then
  // disconnect_reason(), auth_error() and tls_failure() say why.
  bool connect(Duration timeout = std::chrono::seconds(10));
  // Closes the stream (a no-op when not connected).
  void disconnect();
  bool connected() const { return connected_; }

  // Sends a chat message with a process-unique id and returns that id (empty
  // if not connected).
  std::string send_chat(const std::string& to_bare_jid, const std::string& body);

  // Drives the client until a received chat message matching `predicate`
  // arrives (messages already recorded count too), or `timeout` passes.
  std::optional<ReceivedMessage> wait_for_message(const std::function<bool(const ReceivedMessage&)>& predicate,
                                                  Duration timeout = std::chrono::seconds(5));
  // Drives the client until `condition()` holds or `timeout` passes.
  bool wait_until(const std::function<bool()>& condition, Duration timeout = std::chrono::seconds(5));
  // Drives the client for `duration` (e.g. to prove that nothing arrives).
  void pump(Duration duration);

  // Every message with a body received since construction, oldest first.
  const std::vector<ReceivedMessage>& messages() const { return messages_; }
  // The last presence received from `bare_jid` (any resource) during the
  // current session; connect() forgets what earlier sessions saw.
  std::optional<ReceivedPresence> last_presence(const std::string& bare_jid) const;

  // Subscription stanzas received ("subscribe", "subscribed",
  // "unsubscribe", "unsubscribed") from `bare_jid`, oldest first.
  std::vector<std::string> subscriptions_from(const std::string& bare_jid) const;

  // Every presence received (full JID of the sender, what it said), oldest
  // first, across sessions.
  const std::vector<std::pair<std::string, ReceivedPresence>>& presence_history() const { return presence_history_; }

  // Asks `bare_jid` for a presence subscription (adds it to the roster).
  // Incoming subscription requests are always accepted.
  void subscribe(const std::string& bare_jid);

  gloox::ConnectionError disconnect_reason() const { return disconnect_reason_; }
  gloox::AuthenticationError auth_error() const { return auth_error_; }
  // Captured in onDisconnect: gloox resets its own copy right after.
  gloox::StreamError stream_error() const { return stream_error_; }
  // The TLS layer's reason for the last failure, e.g. "TLS certificate of
  // test.local refused: self-signed"; empty if none.
  std::string tls_failure() const;
  bool tls_certificate_refused() const;
  // Protocol of the current TLS session ("TLS1.3"); empty when not secure.
  std::string tls_protocol() const;
  int connect_count() const { return connect_count_; }
  const std::string& jid() const { return jid_; }
  gloox::Client& client() { return *client_; }

 private:
  void onConnect() override;
  void onDisconnect(gloox::ConnectionError e) override;
  bool onTLSConnect(const gloox::CertInfo& info) override;
  void handleMessage(const gloox::Message& msg, gloox::MessageSession* session) override;
  void handlePresence(const gloox::Presence& presence) override;
  void handleSubscription(const gloox::Subscription& subscription) override;

  std::string jid_;
  std::unique_ptr<gloox::Client> client_;
  gloox::ConnectionTCPClient* connection_ = nullptr;  // owned by client_
  agent::TlsGnutls* tls_ = nullptr;                   // owned by client_
  bool tls_ready_ = false;
  bool connected_ = false;
  bool disconnected_ = false;
  int connect_count_ = 0;
  gloox::ConnectionError disconnect_reason_ = gloox::ConnNoError;
  gloox::AuthenticationError auth_error_ = gloox::AuthErrorUndefined;
  gloox::StreamError stream_error_ = gloox::StreamErrorUndefined;
  std::vector<ReceivedMessage> messages_;
  std::map<std::string, ReceivedPresence> presences_;
  std::vector<std::pair<std::string, ReceivedPresence>> presence_history_;
  std::vector<std::pair<std::string, std::string>> subscriptions_;  // bare JID, type
};

}  // namespace imwatch::test

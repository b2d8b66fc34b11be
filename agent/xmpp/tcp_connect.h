// Opening the XMPP server's TCP connection without stalling the loop.
//
// gloox's own connect() is a blocking connect(2): against a blackholed
// server it held the whole agent (probes, rules, chat) until the kernel gave
// up, minutes later. Here the socket connects in the background: a
// non-blocking connect(), the loop waits for it to become writable, and a
// one-shot timer bounds the wait. The connected socket is then handed to
// gloox (see AdoptedConnection in xmpp_transport.cpp).
//
// Name resolution still blocks: getaddrinfo(3) and the DNS SRV query have no
// asynchronous form in glibc that fits one thread without helper threads.
// It is brief against a working resolver and bounded by resolv.conf's
// timeout and attempts (5 s x 2 by default) against a dead one; with
// `host = ADDRESS` in [xmpp] there is no lookup at all.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "agent/event_loop.h"

namespace imwatch::agent {

struct TcpEndpoint {
  std::string host;
  int port = 0;
};

// Where to dial for an XMPP domain. With `host` set: host:port (port 5222
// if not given). Without: the domain's DNS SRV records for _xmpp-client._tcp
// in priority order (RFC 6120 3.2.1), else domain:5222 (or domain:port).
std::vector<TcpEndpoint> xmpp_endpoints(const std::string& host, int port, const std::string& domain);

// Parses a DNS answer to an SRV query into endpoints sorted by priority
// (then weight, heaviest first). Empty on anything malformed, or for the
// "service not offered" answer (a single target ".").
std::vector<TcpEndpoint> parse_srv_answer(const unsigned char* answer, int length);

class TcpConnector {
 public:
  // `fd` is a connected, blocking socket now owned by the callee; or -1 and
  // `error` says why.
  using Done = std::function<void(int fd, const std::string& error)>;

  explicit TcpConnector(EventLoop& loop) : loop_(loop) {}
  ~TcpConnector() { cancel(); }
  TcpConnector(const TcpConnector&) = delete;
  TcpConnector& operator=(const TcpConnector&) = delete;

  // Tries every address of every endpoint in turn, all within `timeout`
  // seconds; `done` is called exactly once, from the loop (never from
  // inside start()), unless cancel() comes first.
  void start(const std::vector<TcpEndpoint>& endpoints, double timeout, Done done);
  // Abandons the attempt in progress (closing its socket); `done` is not called.
  void cancel();
  bool busy() const { return static_cast<bool>(done_); }

 private:
  void try_next();
  void on_writable();
  void finish(int fd, const std::string& error);
  void close_socket();

  EventLoop& loop_;
  Done done_;
  std::vector<std::pair<std::vector<unsigned char>, std::string>> addresses_;  // sockaddr, "host:port"
  size_t next_ = 0;
  int fd_ = -1;
  std::string last_error_;
  double timeout_ = 0;
  EventLoop::JobId timer_ = 0, kick_ = 0;
};

}  // namespace imwatch::agent

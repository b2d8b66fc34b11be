#include "agent/xmpp/tcp_connect.h"

#include <arpa/nameser.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "agent/config.h"
#include "agent/text_util.h"

namespace imwatch::agent {

namespace {

constexpr int kXmppPort = 5222;

struct Srv {
  int priority, weight;
  TcpEndpoint endpoint;
};

}  // namespace

std::vector<TcpEndpoint> parse_srv_answer(const unsigned char* answer, int length) {
  ns_msg msg;
  if (length <= 0 || ns_initparse(answer, length, &msg) != 0) return {};
  std::vector<Srv> found;
  for (int i = 0; i < ns_msg_count(msg, ns_s_an); ++i) {
    ns_rr rr;
    if (ns_parserr(&msg, ns_s_an, i, &rr) != 0) return {};
    if (ns_rr_type(rr) != ns_t_srv || ns_rr_rdlen(rr) < 7) continue;
    const unsigned char* rd = ns_rr_rdata(rr);
    Srv s{static_cast<int>(ns_get16(rd)), static_cast<int>(ns_get16(rd + 2)), {}};
    s.endpoint.port = static_cast<int>(ns_get16(rd + 4));
    char name[NS_MAXDNAME];
    if (ns_name_uncompress(ns_msg_base(msg), ns_msg_end(msg), rd + 6, name, sizeof name) < 0) return {};
    s.endpoint.host = name;
    found.push_back(std::move(s));
  }
  // RFC 2782: a single target "." means the service is decidedly not here.
  if (found.size() == 1 && (found[0].endpoint.host.empty() || found[0].endpoint.host == ".")) return {};
  std::stable_sort(found.begin(), found.end(), [](const Srv& a, const Srv& b) {
    return a.priority != b.priority ? a.priority < b.priority : a.weight > b.weight;
  });
  std::vector<TcpEndpoint> out;
  for (auto& s : found) out.push_back(std::move(s.endpoint));
  return out;
}

std::vector<TcpEndpoint> xmpp_endpoints(const std::string& host, int port, const std::string& domain) {
  if (!host.empty()) return {{host, port > 0 ? port : kXmppPort}};
  if (port <= 0) {
    // The query blocks like getaddrinfo does (see the header); res_query is
    // the plain libresolv call, no thread of its own.
    unsigned char answer[4096];
    std::string name = "_xmpp-client._tcp." + domain;
    int n = res_query(name.c_str(), ns_c_in, ns_t_srv, answer, sizeof answer);
    auto srv = parse_srv_answer(answer, n);
    if (!srv.empty()) return srv;
  }
  return {{domain, port > 0 ? port : kXmppPort}};
}

void TcpConnector::start(const std::vector<TcpEndpoint>& endpoints, double timeout, Done done) {
  cancel();
  done_ = std::move(done);
  addresses_.clear();
  next_ = 0;
  last_error_.clear();
  timeout_ = timeout;
  for (const auto& e : endpoints) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(e.host.c_str(), std::to_string(e.port).c_str(), &hints, &res);
    if (rc != 0) {
      last_error_ = "cannot resolve " + quote(e.host) + ": " + gai_strerror(rc);
      continue;
    }
    for (addrinfo* a = res; a; a = a->ai_next) {
      auto* p = reinterpret_cast<const unsigned char*>(a->ai_addr);
      addresses_.emplace_back(std::vector<unsigned char>(p, p + a->ai_addrlen), e.host + ":" + std::to_string(e.port));
    }
    freeaddrinfo(res);
  }
  // The whole attempt, every address included, has one deadline.
  timer_ = loop_.add_timer(timeout, [this] {
    timer_ = 0;
    finish(-1, "no TCP connection within " + format_duration(timeout_) +
                   (last_error_.empty() ? "" : " (" + last_error_ + ")"));
  });
  // The first try runs from the loop too, so `done` never runs inside start().
  kick_ = loop_.add_timer(0, [this] {
    kick_ = 0;
    try_next();
  });
}

void TcpConnector::try_next() {
  while (next_ < addresses_.size()) {
    const auto& [addr, name] = addresses_[next_++];
    const auto* sa = reinterpret_cast<const sockaddr*>(addr.data());
    fd_ = ::socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
      last_error_ = std::string("socket: ") + std::strerror(errno);
      continue;
    }
    spdlog::debug("xmpp: TCP connect to {}", name);
    if (::connect(fd_, sa, static_cast<socklen_t>(addr.size())) == 0 || errno == EINPROGRESS) {
      loop_.add_fd(
          fd_, [this] { on_writable(); }, FdEvent::writable);
      return;
    }
    last_error_ = name + ": " + std::strerror(errno);
    close_socket();
  }
  finish(-1, last_error_.empty() ? "no address to connect to" : last_error_);
}

void TcpConnector::on_writable() {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) {
    last_error_ = addresses_[next_ - 1].second + ": " + std::strerror(err);
    loop_.remove_fd(fd_);
    close_socket();
    try_next();
    return;
  }
  loop_.remove_fd(fd_);
  // gloox reads and writes as on a blocking socket (select, then recv/send).
  int flags = ::fcntl(fd_, F_GETFL);
  if (flags >= 0) ::fcntl(fd_, F_SETFL, flags & ~O_NONBLOCK);
  int fd = fd_;
  fd_ = -1;
  finish(fd, "");
}

void TcpConnector::finish(int fd, const std::string& error) {
  if (!done_) {
    if (fd >= 0) ::close(fd);
    return;
  }
  Done done = std::move(done_);
  done_ = nullptr;
  if (fd_ >= 0) loop_.remove_fd(fd_);
  close_socket();
  if (timer_) loop_.cancel(timer_);
  if (kick_) loop_.cancel(kick_);
  timer_ = kick_ = 0;
  done(fd, error);
}

void TcpConnector::cancel() {
  if (timer_) loop_.cancel(timer_);
  if (kick_) loop_.cancel(kick_);
  timer_ = kick_ = 0;
  if (fd_ >= 0) loop_.remove_fd(fd_);
  close_socket();
  done_ = nullptr;
}

void TcpConnector::close_socket() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace imwatch::agent

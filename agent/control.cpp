#include "agent/control.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "agent/text_util.h"

namespace imwatch::agent {

namespace {

std::string check_line(std::string_view line) {
  for (size_t i = 0; i < line.size();) {
    const auto c = static_cast<unsigned char>(line[i]);
    if ((c < 0x20 && c != '\t') || c == 0x7F) return "a control character in the request";
    ++i;
  }
  return valid_utf8(line) ? "" : "the request is not UTF-8";
}

std::string user_name(uid_t uid) {
  // getpwuid_r: the agent's loop is single-threaded, but the C library's
  // static buffer is shared with anything else that calls getpwuid.
  std::vector<char> buf(16384);
  passwd pw{}, *found = nullptr;
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found) return pw.pw_name;
  return "uid " + std::to_string(uid);
}

// The connection's credentials, as the kernel recorded them at connect():
// nothing the client says can change them.
bool peer_of(int fd, Peer& peer) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
  peer.pid = cred.pid;
  peer.uid = cred.uid;
  peer.gid = cred.gid;
  // SO_PEERGROUPS (Linux 4.13): the supplementary groups, also as of
  // connect(), and mapped into our user namespace (under the unit's
  // PrivateUsers= the control group is mapped, being the service's own).
  // ERANGE says how much room they need; a group list is at most
  // NGROUPS_MAX (65536) entries.
  std::vector<gid_t> groups(64);
  for (int tries = 0; tries < 2; ++tries) {
    len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) == 0) {
      groups.resize(len / sizeof(gid_t));
      peer.groups = std::move(groups);
      break;
    }
    if (errno != ERANGE || len / sizeof(gid_t) > 65536) break;
    groups.resize(len / sizeof(gid_t));
  }
  peer.user = user_name(peer.uid);
  return true;
}

// The socket's dir: where nobody but root or us could swap the socket for
// another (or a symlink to one).
std::string check_dir(const std::string& path) {
  const std::string dir = path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/'));
  struct stat st {};
  if (::lstat(dir.empty() ? "/" : dir.c_str(), &st) != 0) return quote(dir) + ": " + std::strerror(errno);
  if (!S_ISDIR(st.st_mode)) return quote(dir) + ": not a directory";
  if (st.st_uid != 0 && st.st_uid != ::geteuid()) return quote(dir) + ": owned by another user";
  if (st.st_mode & (S_IWGRP | S_IWOTH)) return quote(dir) + ": writable by group or others";
  return "";
}

// Removes a socket left by an agent that is gone; refuses to take over one
// that still answers, and anything that is not a socket.
std::string clear_stale(const std::string& path, const sockaddr_un& addr) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return errno == ENOENT ? "" : quote(path) + ": " + std::strerror(errno);
  if (!S_ISSOCK(st.st_mode)) return quote(path) + ": exists and is not a socket";
  int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) return std::string("socket: ") + std::strerror(errno);
  bool alive = ::connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  ::close(probe);
  if (alive) return quote(path) + ": another agent listens there";
  ::unlink(path.c_str());
  return "";
}

// Best effort and never blocking: for the one-line answers (refused, busy)
// to a client that gets nothing else.
void tell(int fd, const std::string& response) {
  ssize_t n = ::send(fd, response.data(), response.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  (void)n;
}

}  // namespace

Request parse_request(std::string_view data, size_t max) {
  Request r;
  size_t nl = data.find('\n');
  if (nl == std::string_view::npos || nl >= max) {
    if (data.size() >= max || nl != std::string_view::npos) {
      r.state = Request::State::bad;
      r.error = "request over " + std::to_string(max) + " bytes";
    }
    return r;
  }
  std::string_view line = data.substr(0, nl);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (auto err = check_line(line); !err.empty()) {
    r.state = Request::State::bad;
    r.error = std::move(err);
    return r;
  }
  r.state = Request::State::complete;
  r.line = std::string(line);
  return r;
}

std::string format_response(std::string_view status, std::string_view text) {
  std::string out(status);
  out += '\n';
  out += text;
  if (!text.empty() && text.back() != '\n') out += '\n';
  return out;
}

std::optional<Response> parse_response(std::string_view data) {
  size_t nl = data.find('\n');
  if (nl == std::string_view::npos || nl == 0 || nl > 16) return std::nullopt;
  return Response{std::string(data.substr(0, nl)), std::string(data.substr(nl + 1))};
}

std::string_view status_word(Outcome o) {
  switch (o) {
    case Outcome::usage: return "usage";
    case Outcome::failed: return "failed";
    case Outcome::ok: break;
  }
  return "ok";
}

bool may_run(const Peer& peer, std::optional<gid_t> group) {
  if (peer.uid == 0) return true;
  if (!group) return false;
  return peer.gid == *group || std::find(peer.groups.begin(), peer.groups.end(), *group) != peer.groups.end();
}

ControlServer::ControlServer(EventLoop& loop, Handler handler, ControlLimits limits)
    : loop_(loop), handler_(std::move(handler)), limits_(limits) {}

ControlServer::~ControlServer() {
  while (!clients_.empty()) drop(clients_.begin()->first);
  if (listen_fd_ >= 0) {
    loop_.remove_fd(listen_fd_);
    ::close(listen_fd_);
    ::unlink(path_.c_str());
  }
}

std::string ControlServer::listen(const std::string& path, const std::string& group) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) return quote(path) + ": not a usable socket path";
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (auto err = check_dir(path); !err.empty()) return err;
  if (auto err = clear_stale(path, addr); !err.empty()) return err;
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("socket: ") + std::strerror(errno);
  // Anyone who reaches the socket may connect (0666): the credentials of
  // the connection decide, and the refusal says why. The unit's
  // RuntimeDirectory (0750, the imwatch group) keeps others out before that.
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 || ::chmod(path.c_str(), 0666) != 0 ||
      ::listen(fd, 16) != 0) {
    std::string err = quote(path) + ": " + std::strerror(errno);
    ::close(fd);
    return err;
  }
  listen_fd_ = fd;
  path_ = path;
  group_name_ = group;
  // Looked up once, at start: NSS may block (LDAP), the loop must not.
  if (const struct group* g = ::getgrnam(group.c_str()))
    group_ = g->gr_gid;
  else
    spdlog::warn("control: no group {}: only root may run local commands", quote(group));
  loop_.add_fd(listen_fd_, [this] { on_accept(); });
  return "";
}

void ControlServer::on_accept() {
  // A bounded number per pass: a flood of connections waits in the backlog
  // while probes and chat get their turn.
  for (int i = 0; i < 16; ++i) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    admit(fd);
  }
}

void ControlServer::admit(int fd) {
  Peer peer;
  if (!peer_of(fd, peer)) {
    ::close(fd);
    return;
  }
  if (clients_.size() >= limits_.max_clients) {
    // What the client sent is read first: closing a Unix socket with data
    // unread resets the connection, and the client would see that instead.
    char sink[kMaxRequest];
    ssize_t n = ::recv(fd, sink, sizeof sink, MSG_DONTWAIT);
    (void)n;
    tell(fd, format_response("busy", "the agent is answering " + std::to_string(clients_.size()) +
                                         " other commands; try again"));
    ::shutdown(fd, SHUT_WR);
    ::close(fd);
    return;
  }
  const uint64_t id = next_id_++;
  Client& c = clients_[id];
  c.fd = fd;
  // Refused or not, the request is read (bounded, under the deadline) and
  // then answered: nothing it asks is run for someone refused.
  c.refused = !may_run(peer, group_);
  if (c.refused)
    spdlog::warn("control: {} (uid {}) refused: not root nor in group {}", quote(peer.user), peer.uid,
                 quote(group_name_));
  c.peer = std::move(peer);
  c.deadline = loop_.add_timer(limits_.deadline, [this, id] { drop(id); });
  loop_.add_fd(fd, [this, id] { on_readable(id); });
}

void ControlServer::on_readable(uint64_t id) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  Client& c = it->second;
  char buf[512];
  ssize_t n = ::recv(c.fd, buf, std::min(sizeof buf, kMaxRequest + 1 - c.in.size()), 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n < 0) return drop(id);
  c.in.append(buf, static_cast<size_t>(n));
  const Request r = parse_request(c.in);
  const bool more = r.state == Request::State::incomplete;
  if (c.refused) {
    if (more && n > 0) return;  // told once it has sent its line, or stopped sending
    loop_.remove_fd(c.fd);
    return answer(id, format_response("refused", "not authorised: only root and members of the group " +
                                                     quote(group_name_) + " may run imwatch commands"));
  }
  if (more) {
    if (n == 0) drop(id);  // gone before a whole line
    return;
  }
  loop_.remove_fd(c.fd);
  if (r.state == Request::State::bad) return answer(id, format_response("usage", r.error));
  Reply reply = handler_(c.peer, r.line);
  answer(id, format_response(status_word(reply.outcome), reply.text));
}

void ControlServer::answer(uint64_t id, std::string response) {
  Client& c = clients_[id];
  c.out = std::move(response);
  c.sent = 0;
  on_writable(id);
  if (clients_.count(id)) loop_.add_fd(c.fd, [this, id] { on_writable(id); }, FdEvent::writable);
}

void ControlServer::on_writable(uint64_t id) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  Client& c = it->second;
  while (c.sent < c.out.size()) {
    ssize_t n = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;  // the rest when it is writable, before the deadline
    if (n <= 0) break;
    c.sent += static_cast<size_t>(n);
  }
  drop(id);
}

void ControlServer::drop(uint64_t id) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  loop_.remove_fd(it->second.fd);
  loop_.cancel(it->second.deadline);
  ::close(it->second.fd);
  clients_.erase(it);
}

}  // namespace imwatch::agent

#include "tests/fault/proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tests/support/test_net.h"

namespace imwatch::test {

namespace {

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Reads what is there into `buf`; false on EOF or a hard error.
bool pull(int fd, std::string& buf) {
  char tmp[16384];
  for (int i = 0; i < 16; ++i) {  // bounded: the other side gets its turn
    ssize_t n = ::read(fd, tmp, sizeof tmp);
    if (n > 0) {
      buf.append(tmp, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) return false;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  }
  return true;
}

bool push(int fd, std::string& buf) {
  while (!buf.empty()) {
    ssize_t n = ::send(fd, buf.data(), buf.size(), MSG_NOSIGNAL);
    if (n > 0) {
      buf.erase(0, static_cast<size_t>(n));
      continue;
    }
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
  }
  return true;
}

}  // namespace

FaultProxy::FaultProxy(int upstream_port) : upstream_(upstream_port) {}

FaultProxy::~FaultProxy() {
  quit_ = true;
  if (wake_[1] >= 0) (void)!::write(wake_[1], "q", 1);
  if (thread_.joinable()) thread_.join();
  for (auto& p : pairs_) close_pair(p, true);
  for (int fd : {listen_fd_, wake_[0], wake_[1]})
    if (fd >= 0) ::close(fd);
}

bool FaultProxy::start() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = loopback_address(0);  // the kernel picks a free, non-default port
  socklen_t len = sizeof a;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(listen_fd_, 16) != 0 || ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0 ||
      ::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) {
    error_ = std::string("proxy: ") + std::strerror(errno);
    return false;
  }
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] { run(); });
  return true;
}

void FaultProxy::stall() {
  std::lock_guard<std::mutex> l(mu_);
  cmds_.push_back(Cmd::stall);
  (void)!::write(wake_[1], "c", 1);
}

void FaultProxy::drop() {
  std::lock_guard<std::mutex> l(mu_);
  cmds_.push_back(Cmd::drop);
  (void)!::write(wake_[1], "c", 1);
}

void FaultProxy::release_stalled() {
  std::lock_guard<std::mutex> l(mu_);
  cmds_.push_back(Cmd::release);
  (void)!::write(wake_[1], "c", 1);
}

void FaultProxy::close_pair(Pair& p, bool reset) {
  for (int* fd : {&p.a, &p.b}) {
    if (*fd < 0) continue;
    if (reset) {
      linger lg{1, 0};  // close() sends RST and discards the buffers
      ::setsockopt(*fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    ::close(*fd);
    *fd = -1;
  }
}

void FaultProxy::accept_one() {
  int a = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (a < 0) return;
  ++accepted_;
  if (refuse_) {
    Pair cut{a, -1, {}, {}, false};
    close_pair(cut, true);
    return;
  }
  int b = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in up = loopback_address(upstream_);
  // A blocking connect on loopback answers at once: accepted or refused.
  if (b < 0 || ::connect(b, reinterpret_cast<sockaddr*>(&up), sizeof up) != 0) {
    Pair dead{a, b, {}, {}, false};
    close_pair(dead, true);  // the server is down: the client sees a reset
    return;
  }
  set_nonblocking(b);
  int one = 1;
  ::setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::setsockopt(b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  pairs_.push_back(Pair{a, b, {}, {}, false});
}

void FaultProxy::run() {
  while (!quit_) {
    {
      std::lock_guard<std::mutex> l(mu_);
      for (Cmd c : cmds_) {
        for (auto& p : pairs_) {
          if (c == Cmd::stall)
            p.stalled = true;
          else if (c == Cmd::drop || p.stalled)
            close_pair(p, true);
        }
      }
      cmds_.clear();
    }
    std::erase_if(pairs_, [](const Pair& p) { return p.a < 0; });
    int stalled = 0;
    std::vector<pollfd> fds = {{wake_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    std::vector<size_t> owner;  // pair index of fds[2 + 2k]
    for (size_t i = 0; i < pairs_.size(); ++i) {
      Pair& p = pairs_[i];
      if (p.stalled) {  // not even polled: its data sits in the kernel's buffers
        ++stalled;
        continue;
      }
      short ea = static_cast<short>((p.a2b.size() < (1 << 20) ? POLLIN : 0) | (p.b2a.empty() ? 0 : POLLOUT));
      short eb = static_cast<short>((p.b2a.size() < (1 << 20) ? POLLIN : 0) | (p.a2b.empty() ? 0 : POLLOUT));
      fds.push_back({p.a, ea, 0});
      fds.push_back({p.b, eb, 0});
      owner.push_back(i);
    }
    stalled_now_ = stalled;
    if (::poll(fds.data(), fds.size(), 100) < 0 && errno != EINTR) break;
    if (fds[0].revents) {
      char buf[64];
      while (::read(wake_[0], buf, sizeof buf) > 0) {
      }
    }
    if (fds[1].revents & POLLIN) accept_one();
    for (size_t k = 0; k < owner.size(); ++k) {
      Pair& p = pairs_[owner[k]];
      const pollfd& fa = fds[2 + 2 * k];
      const pollfd& fb = fds[3 + 2 * k];
      bool ok = true;
      if (fa.revents & (POLLIN | POLLHUP | POLLERR)) ok = pull(p.a, p.a2b) && ok;
      if (fb.revents & (POLLIN | POLLHUP | POLLERR)) ok = pull(p.b, p.b2a) && ok;
      ok = push(p.b, p.a2b) && ok;
      ok = push(p.a, p.b2a) && ok;
      if (!ok) {
        // One side closed or failed: pass on what we have, then close both
        // normally (a FIN), as a transparent path would.
        set_nonblocking(p.a);
        push(p.b, p.a2b);
        push(p.a, p.b2a);
        close_pair(p, false);
      }
    }
  }
}

}  // namespace imwatch::test

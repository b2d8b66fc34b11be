// What the XMPP benchmarks share (tests/bench/chat_rtt_bench.cpp and
// tests/load/chat_load.cpp): an admin-side gloox client driven from the
// caller's thread, child processes that die with the benchmark and are
// stopped by their PID, and the /proc figures of a process. Header-only:
// benchmark support, never linked into the agent.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gloox/client.h>
#include <gloox/connectionlistener.h>
#include <gloox/connectiontcpclient.h>
#include <gloox/message.h>
#include <gloox/messagehandler.h>

#include "agent/xmpp/tcp_nodelay.h"
#include "agent/xmpp/tls_gnutls.h"

namespace imwatch::bench {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------
// A gloox client for 127.0.0.1:port, TLS verified against the test CA,
// TCP_NODELAY, driven by recv() from the caller's thread. Received chat
// messages are time-stamped in the handler, or handed to on_message.

struct Received {
  std::string from_bare;
  std::string body;
  Clock::time_point at;
};

class BenchClient : gloox::ConnectionListener, gloox::MessageHandler {
 public:
  BenchClient(const std::string& bare_jid, const std::string& password, int port, const std::string& ca_file,
              const std::string& resource) {
    gloox::JID jid(bare_jid);
    jid.setResource(resource);
    client_ = std::make_unique<gloox::Client>(jid, password);
    tcp_ = new gloox::ConnectionTCPClient(client_.get(), client_->logInstance(), "127.0.0.1", port);
    client_->setConnectionImpl(tcp_);
    imwatch::agent::TlsOptions tls;
    tls.domain = jid.server();
    tls.ca_file = ca_file;
    tls_ = new imwatch::agent::TlsGnutls(client_.get(), std::move(tls));
    tls_ready_ = tls_->init();
    client_->setEncryptionImpl(tls_);
    client_->setTls(gloox::TLSRequired);
    client_->setCompression(false);
    client_->registerConnectionListener(this);
    client_->registerMessageHandler(this);
  }
  ~BenchClient() override {
    if (client_->state() != gloox::StateDisconnected) client_->disconnect();
  }
  BenchClient(const BenchClient&) = delete;
  BenchClient& operator=(const BenchClient&) = delete;

  // Starts connecting without waiting (many clients connect side by side).
  bool start_connect() {
    if (!tls_ready_ || !client_->connect(false)) return false;
    imwatch::agent::set_tcp_nodelay(*tcp_);
    return true;
  }
  // Connects and waits at most `timeout` for the session.
  bool connect(std::chrono::milliseconds timeout) {
    if (!start_connect()) return false;
    const auto deadline = Clock::now() + timeout;
    while (!connected_ && !disconnected_ && Clock::now() < deadline) client_->recv(20'000);
    return connected_;
  }
  bool up() const { return connected_; }
  bool failed() const { return disconnected_; }
  int fd() const { return tcp_->socket(); }
  // Reads what is there (or waits at most timeout_us for something).
  bool recv(int timeout_us) { return client_->recv(timeout_us) == gloox::ConnNoError; }
  void send_chat(const gloox::JID& to, const std::string& body) {
    gloox::Message m(gloox::Message::Chat, to, body);
    m.setID(id_prefix_ + std::to_string(++sent_));
    client_->send(m);
  }
  gloox::Client& client() { return *client_; }

  std::deque<Received> inbox;
  // Replaces the inbox when set; `at` is taken on entry to gloox's handler.
  std::function<void(const gloox::Message&, Clock::time_point at)> on_message;

 private:
  void onConnect() override { connected_ = true; }
  void onDisconnect(gloox::ConnectionError) override {
    connected_ = false;
    disconnected_ = true;
  }
  bool onTLSConnect(const gloox::CertInfo& info) override { return info.status == gloox::CertOk; }
  void handleMessage(const gloox::Message& msg, gloox::MessageSession*) override {
    const auto at = Clock::now();
    if (msg.body().empty()) return;
    if (on_message) return on_message(msg, at);
    inbox.push_back({msg.from().bare(), msg.body(), at});
  }

  std::unique_ptr<gloox::Client> client_;
  gloox::ConnectionTCPClient* tcp_ = nullptr;  // owned by client_
  imwatch::agent::TlsGnutls* tls_ = nullptr;   // owned by client_
  bool tls_ready_ = false, connected_ = false, disconnected_ = false;
  std::string id_prefix_ = "b" + std::to_string(::getpid()) + "-";
  unsigned long sent_ = 0;
};

// ---------------------------------------------------------------------------
// Child processes: the agent, and this binary again in a helper role.

class Child {
 public:
  Child() = default;
  ~Child() { stop(); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // stdout and stderr go to `log`; with `pipes`, stdin and stdout are pipes
  // to us instead (lines of the helper protocol), stderr still to `log`.
  bool start(const std::vector<std::string>& argv, const std::string& log, bool pipes) {
    int in[2] = {-1, -1}, out[2] = {-1, -1};
    if (pipes && (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0)) return false;
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(126);
      int logfd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (logfd < 0 || null < 0) _exit(126);
      dup2(pipes ? in[0] : null, 0);
      dup2(pipes ? out[1] : logfd, 1);
      dup2(logfd, 2);
      execv(args[0], args.data());
      _exit(127);
    }
    if (pipes) {
      close(in[0]);
      close(out[1]);
      in_w_ = in[1];
      out_r_ = out[0];
    }
    return true;
  }
  pid_t pid() const { return pid_; }
  int out_fd() const { return out_r_; }
  void write_line(const std::string& s) {
    std::string l = s + "\n";
    if (in_w_ >= 0 && write(in_w_, l.data(), l.size()) != static_cast<ssize_t>(l.size())) std::perror("write");
  }
  // A complete line from the helper if one arrives within `timeout`.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      auto nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left < 0 || out_r_ < 0) return std::nullopt;
      pollfd p{out_r_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      char b[4096];
      ssize_t n = read(out_r_, b, sizeof b);
      if (n <= 0) return std::nullopt;
      buf_.append(b, static_cast<size_t>(n));
    }
  }
  // SIGTERM by PID, SIGKILL after `grace`.
  int stop(std::chrono::milliseconds grace = 5s) {
    if (in_w_ >= 0) close(in_w_);
    if (out_r_ >= 0) close(out_r_);
    in_w_ = out_r_ = -1;
    if (pid_ <= 0) return status_;
    kill(pid_, SIGTERM);
    const auto deadline = Clock::now() + grace;
    int st = 0;
    while (waitpid(pid_, &st, WNOHANG) == 0) {
      if (Clock::now() >= deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &st, 0);
        break;
      }
      std::this_thread::sleep_for(10ms);
    }
    pid_ = -1;
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return status_;
  }

 private:
  pid_t pid_ = -1;
  int in_w_ = -1, out_r_ = -1, status_ = -1;
  std::string buf_;
};

inline bool wait_for_log(const std::string& path, const std::string& needle, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    if (ss.str().find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

// ---------------------------------------------------------------------------
// /proc figures of a process.

struct ProcFigures {
  long rss_kb = -1, hwm_kb = -1;
  double cpu_s = 0;  // user + system
};

inline ProcFigures proc_figures(pid_t pid) {
  ProcFigures f;
  std::ifstream st("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(st, line)) {
    if (line.starts_with("VmRSS:")) f.rss_kb = std::atol(line.c_str() + 6);
    if (line.starts_with("VmHWM:")) f.hwm_kb = std::atol(line.c_str() + 6);
  }
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto close_paren = s.rfind(')');
  if (close_paren != std::string::npos) {
    std::istringstream rest(s.substr(close_paren + 2));
    std::string field;
    long utime = 0, stime = 0;
    for (int i = 3; rest >> field; ++i) {  // field 3 is the state
      if (i == 14) utime = std::atol(field.c_str());
      if (i == 15) {
        stime = std::atol(field.c_str());
        break;
      }
    }
    f.cpu_s = static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  return f;
}

// Other work on the machine skews every figure: say how busy it was.
inline std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c + " (" + std::to_string(std::thread::hardware_concurrency()) + " CPUs)";
}

}  // namespace imwatch::bench

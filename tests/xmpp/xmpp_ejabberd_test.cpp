// The agent binary against a real ejabberd on 127.0.0.1 (the second server
// implementation after prosody, see xmpp_agent_test.cpp), with a real admin
// client: an alert arrives, `status` is answered, the recovery arrives.
//
// TestClient is tied to ProsodyServer, so the admin side here is a small
// gloox client of its own with the same TLS verifier (agent::TlsGnutls
// against the server's throwaway CA) and TCP_NODELAY.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include <gloox/client.h>
#include <gloox/connectionlistener.h>
#include <gloox/connectiontcpclient.h>
#include <gloox/message.h>
#include <gloox/messagehandler.h>

#include "agent/xmpp/tcp_nodelay.h"
#include "agent/xmpp/tls_gnutls.h"
#include "run_process.h"
#include "tests/support/ejabberd_server.h"

namespace fs = std::filesystem;
using namespace imwatch::test;
using namespace std::chrono_literals;

namespace {

const std::string kBinary = IMWATCH_BINARY;
const std::string kFixtures = IMWATCH_FIXTURES;
using Clock = std::chrono::steady_clock;
using Duration = std::chrono::milliseconds;

struct Received {
  std::string from, body, type;
};

// An admin's chat client for any server on 127.0.0.1:port whose certificate
// for test.local was signed by `ca_file`.
class AdminClient : gloox::ConnectionListener, gloox::MessageHandler {
 public:
  AdminClient(const std::string& bare_jid, const std::string& password, int port, const std::string& ca_file) {
    static std::atomic<unsigned> n{0};
    gloox::JID jid(bare_jid);
    jid.setResource("admin-" + std::to_string(getpid()) + "-" + std::to_string(++n));
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
  ~AdminClient() override {
    if (client_->state() != gloox::StateDisconnected) client_->disconnect();
  }

  bool connect(Duration timeout = 10s) {
    if (!tls_ready_ || !client_->connect(false)) return false;
    imwatch::agent::set_tcp_nodelay(*tcp_);
    return wait_until([&] { return connected_ || disconnected_; }, timeout) && connected_;
  }
  void send_chat(const std::string& to, const std::string& body) {
    gloox::Message m(gloox::Message::Chat, gloox::JID(to), body);
    m.setID("ejt-" + std::to_string(getpid()) + "-" + std::to_string(++sent_));
    client_->send(m);
  }
  // The first message received from index `from_index` on whose body
  // contains `needle`, waiting at most `timeout`.
  std::optional<Received> wait_for(const std::string& needle, size_t from_index, Duration timeout) {
    std::optional<Received> found;
    wait_until(
        [&] {
          for (size_t i = from_index; i < messages_.size(); ++i) {
            if (messages_[i].body.find(needle) != std::string::npos) {
              found = messages_[i];
              return true;
            }
          }
          return false;
        },
        timeout);
    return found;
  }
  void pump(Duration d) {
    wait_until([] { return false; }, d);
  }
  size_t count(const std::string& needle) const {
    size_t k = 0;
    for (const auto& m : messages_) k += m.body.find(needle) != std::string::npos;
    return k;
  }
  const std::vector<Received>& messages() const { return messages_; }
  std::string tls_protocol() const { return tls_->protocol(); }
  gloox::ConnectionError disconnect_reason() const { return reason_; }
  std::string tls_failure() const { return tls_->failure_reason(); }

 private:
  template <class F>
  bool wait_until(F condition, Duration timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      if (condition()) return true;
      if (Clock::now() >= deadline) return false;
      if (client_->state() == gloox::StateDisconnected)
        std::this_thread::sleep_for(10ms);
      else
        client_->recv(20'000);  // microseconds
    }
  }
  void onConnect() override { connected_ = true; }
  void onDisconnect(gloox::ConnectionError e) override {
    connected_ = false;
    disconnected_ = true;
    reason_ = e;
  }
  bool onTLSConnect(const gloox::CertInfo& info) override { return info.status == gloox::CertOk; }
  void handleMessage(const gloox::Message& msg, gloox::MessageSession*) override {
    if (msg.body().empty()) return;
    messages_.push_back({msg.from().full(), msg.body(), msg.subtype() == gloox::Message::Chat ? "chat" : "other"});
  }

  std::unique_ptr<gloox::Client> client_;
  gloox::ConnectionTCPClient* tcp_ = nullptr;  // owned by client_
  imwatch::agent::TlsGnutls* tls_ = nullptr;   // owned by client_
  bool tls_ready_ = false, connected_ = false, disconnected_ = false;
  gloox::ConnectionError reason_ = gloox::ConnNoError;
  unsigned sent_ = 0;
  std::vector<Received> messages_;
};

void replace(const std::string& path, const std::string& text) {
  std::ofstream(path + ".new") << text;
  fs::rename(path + ".new", path);
}

void set_memory_used(const std::string& proc, int pct) {
  long total = 1000000, avail = total - total * pct / 100;
  replace(proc + "/meminfo", "MemTotal: " + std::to_string(total) + " kB\nMemFree: " + std::to_string(avail) +
                                 " kB\nMemAvailable: " + std::to_string(avail) +
                                 " kB\nBuffers: 0 kB\nCached: 0 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n");
}

std::string log_of(const ChildProcess& p) {
  std::string s;
  for (const auto& l : p.lines()) s += l + "\n";
  return s;
}

// Local addresses of the TCP sockets `pid` listens on, as /proc/net/tcp{,6}
// print them ("0100007F:1F90").
std::set<std::string> listening_addresses(pid_t pid) {
  std::set<std::string> inodes;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    std::string target = fs::read_symlink(e.path(), ec).string();
    if (target.starts_with("socket:[")) inodes.insert(target.substr(8, target.size() - 9));
  }
  std::set<std::string> out;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream f(line);
      std::string sl, local, remote, state, queues, timer, retr, uid, timeout, inode;
      f >> sl >> local >> remote >> state >> queues >> timer >> retr >> uid >> timeout >> inode;
      if (state == "0A" && inodes.count(inode)) out.insert(local);
    }
  }
  return out;
}

std::string hex_port(int port) {
  char buf[8];
  snprintf(buf, sizeof buf, "%04X", port);
  return buf;
}

TEST(AgentEjabberd, AlertStatusAndRecovery) {
  const auto t0 = Clock::now();
  EjabberdServer server;
  ASSERT_TRUE(server.ok()) << server.error();
  ASSERT_TRUE(server.start()) << server.error();
  const pid_t beam = server.pid();
  ASSERT_GT(beam, 0);

  // Only loopback listeners: c2s and Erlang distribution, nothing public.
  auto listening = listening_addresses(beam);
  EXPECT_EQ(listening.count("0100007F:" + hex_port(server.port())), 1u);
  for (const auto& a : listening) EXPECT_TRUE(a.starts_with("0100007F:")) << a << " is not 127.0.0.1";

  ASSERT_TRUE(server.register_user("agent", "agent-pw")) << server.error();
  ASSERT_TRUE(server.register_user("alice", "alice-pw")) << server.error();

  const std::string dir = server.dir() + "/agent";
  fs::create_directories(dir);
  fs::copy(kFixtures + "/proc/no-swap", dir + "/proc", fs::copy_options::recursive);
  set_memory_used(dir + "/proc", 50);
  std::ofstream(dir + "/password") << "agent-pw\n";
  replace(dir + "/imwatch.conf",
          "proc-root = " + dir + "/proc\nstate-dir = " + dir +
              "/state\nhostname = web1\nlog-level = debug\n"
              "[probe.loadavg]\ninterval = 1s\n[probe.meminfo]\ninterval = 1s\n[probe.vmstat]\ninterval = 1s\n"
              "[probe.pressure]\ninterval = 1s\n[alert]\nrule = memory: mem_used_pct > 80 crit 95 clear 75\n"
              "[xmpp]\njid = agent@test.local\npassword_file = " +
              dir + "/password\nhost = 127.0.0.1\nport = " + std::to_string(server.port()) +
              "\nresource = web1\nadmin = alice@test.local\nca_file = " + server.ca_file() + "\nping_interval = 2s\n");

  ChildProcess agent({kBinary, "--config", dir + "/imwatch.conf"});
  ASSERT_NE(agent.wait_for_line("xmpp: connected", 15), "") << log_of(agent) << "\nejabberd:\n" << server.error();

  AdminClient alice("alice@test.local", "alice-pw", server.port(), server.ca_file());
  ASSERT_TRUE(alice.connect()) << "reason " << alice.disconnect_reason() << " " << alice.tls_failure();

  size_t mark = alice.messages().size();
  alice.send_chat("agent@test.local", "status");
  auto status = alice.wait_for("web1, up", mark, 5s);
  ASSERT_TRUE(status) << log_of(agent);
  EXPECT_NE(status->body.find("used 488 MiB of 977 MiB (50.0%)"), std::string::npos) << status->body;
  EXPECT_TRUE(status->from.starts_with("agent@test.local/web1")) << status->from;

  mark = alice.messages().size();
  set_memory_used(dir + "/proc", 85);
  auto alert = alice.wait_for("WARNING memory", mark, 10s);
  ASSERT_TRUE(alert) << log_of(agent);
  EXPECT_EQ(alert->body, "web1: WARNING memory: mem_used_pct 85 > 80 #1");
  EXPECT_EQ(alert->type, "chat");

  mark = alice.messages().size();
  set_memory_used(dir + "/proc", 40);
  auto resolved = alice.wait_for("RESOLVED memory", mark, 10s);
  ASSERT_TRUE(resolved) << log_of(agent);
  alice.pump(1s);
  EXPECT_EQ(alice.count("WARNING memory"), 1u);
  EXPECT_EQ(alice.count("RESOLVED memory"), 1u);

  agent.signal(SIGTERM);
  EXPECT_EQ(agent.wait_exit(10), 0) << log_of(agent);

  // The server goes by its own PID, with every process it started.
  server.stop();
  EXPECT_FALSE(server.running());
  EXPECT_NE(::kill(beam, 0), 0) << "beam.smp " << beam << " survived stop()";
  EXPECT_LT(Clock::now() - t0, 50s);
}

}  // namespace

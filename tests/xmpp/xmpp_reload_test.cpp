// The agent binary against a real prosody, with real admin clients: what a
// reload (SIGHUP) changes on the XMPP side, the presence a stop leaves
// behind, and a connect that a blackholed server cannot stall.
#include <fcntl.h>
#include <gloox/rostermanager.h>
#include <poll.h>

#include "tests/xmpp/agent_fixture.h"

using namespace imwatch::test;

namespace {

class AgentReload : public AgentXmpp {
 public:
  void SetUp() override {
    AgentXmpp::SetUp();
    ASSERT_TRUE(server.register_user("carol", "carol-pw"));
    ASSERT_TRUE(server.register_user("bob", "bob-pw"));
    ASSERT_TRUE(server.register_user("agent2", "agent2-pw"));
  }
  std::unique_ptr<TestClient> user(const std::string& name) {
    auto c = std::make_unique<TestClient>(name + "@test.local", name + "-pw", server);
    EXPECT_TRUE(c->connect());
    return c;
  }
  void reload(ChildProcess& agent, const std::string& expect) {
    agent.signal(SIGHUP);
    EXPECT_NE(agent.wait_for_line(expect, 10), "") << log(agent);
  }
  static std::string presences(const TestClient& c) {
    std::string out;
    for (const auto& [from, p] : c.presence_history())
      out += "presence from " + from + ": " + p.show + " '" + p.status + "'\n";
    return out;
  }
  // The agent's open sockets (files it writes now and then are not counted).
  static size_t open_sockets(int pid) {
    size_t n = 0;
    for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
      std::error_code ec;
      n += fs::read_symlink(e.path(), ec).string().rfind("socket:", 0) == 0;
    }
    return n;
  }
  bool has(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  }
};

TEST_F(AgentReload, AnAdminAddedGetsAlertsAndHerSubscriptionApproved) {
  auto agent = start_agent();
  auto carol = user("carol");
  carol->subscribe("agent@test.local");
  ASSERT_TRUE(carol->wait_until([&] { return has(carol->subscriptions_from("agent@test.local"), "unsubscribed"); }))
      << log(*agent);  // not an admin yet: refused

  admins = {"alice", "carol"};
  write_config("agent-pw");
  reload(*agent, "reload: carol@test.local is now an admin");
  // The agent asks for her presence (her client approves), and her own
  // request, asked again, is approved.
  EXPECT_TRUE(carol->wait_until([&] { return has(carol->subscriptions_from("agent@test.local"), "subscribe"); }))
      << log(*agent);
  carol->subscribe("agent@test.local");
  EXPECT_TRUE(carol->wait_until([&] { return has(carol->subscriptions_from("agent@test.local"), "subscribed"); }))
      << log(*agent);
  EXPECT_TRUE(carol->wait_until(
      [&] {
        auto p = carol->last_presence("agent@test.local");
        return p && p->show == "available";
      },
      5s))
      << log(*agent);
  // (The agent pre-approved her with <subscribed/> at the reload, so the
  // server may approve her new request without asking the agent again.)

  set_memory_used(85);
  ASSERT_TRUE(wait(*carol, "WARNING memory: mem_used_pct 85 > 80 #1")) << log(*agent);
  EXPECT_NE(ask(*carol, "status", "web1, up"), "");
}

TEST_F(AgentReload, AnAdminRemovedGetsNothingMoreAndIsUnsubscribed) {
  admins = {"alice", "bob"};
  write_config("agent-pw");
  auto agent = start_agent();
  auto alice = admin();
  auto bob = user("bob");
  bob->subscribe("agent@test.local");
  ASSERT_TRUE(bob->wait_until([&] { return bob->last_presence("agent@test.local").has_value(); }, 5s)) << log(*agent);

  admins = {"alice"};
  write_config("agent-pw");
  reload(*agent, "reload: bob@test.local is no longer an admin");
  EXPECT_TRUE(bob->wait_until(
      [&] {
        auto s = bob->subscriptions_from("agent@test.local");
        return has(s, "unsubscribed") && has(s, "unsubscribe");
      },
      5s))
      << log(*agent);
  EXPECT_NE(agent->wait_for_line("revoked the subscription of bob@test.local", 5), "") << log(*agent);
  {
    // The agent's own roster, as a second resource of its account sees it:
    // bob is gone (subscription='remove'), alice stays.
    TestClient self("agent@test.local", "agent-pw", server);
    ASSERT_TRUE(self.connect());
    auto* roster = self.client().rosterManager();
    ASSERT_NE(roster, nullptr);
    EXPECT_TRUE(self.wait_until([&] { return roster->getRosterItem(gloox::JID("alice@test.local")) != nullptr; }));
    EXPECT_EQ(roster->getRosterItem(gloox::JID("bob@test.local")), nullptr);
  }

  set_memory_used(85);
  ASSERT_TRUE(wait(*alice, "WARNING memory: mem_used_pct 85 > 80 #1")) << log(*agent);
  bob->pump(2s);
  EXPECT_EQ(count(*bob, "WARNING"), 0u);
  EXPECT_EQ(ask(*bob, "status", "not authorised"), "not authorised");
}

TEST_F(AgentReload, AChangedAccountReconnectsAsTheNewOne) {
  auto agent = start_agent();
  auto alice = admin();
  const size_t sockets = open_sockets(agent->pid());
  agent_user = "agent2";
  write_config("agent2-pw");
  reload(*agent, "xmpp: connected as agent2@test.local/web1");
  EXPECT_EQ(open_sockets(agent->pid()), sockets);  // the old client's socket is closed
  set_memory_used(85);
  auto m = wait(*alice, "WARNING memory: mem_used_pct 85 > 80 #1");
  ASSERT_TRUE(m) << log(*agent);
  EXPECT_EQ(m->from.rfind("agent2@test.local/", 0), 0u) << m->from;
  alice->send_chat("agent2@test.local", "ping");
  EXPECT_TRUE(alice->wait_for_message([](const ReceivedMessage& r) { return r.body == "pong"; }, 5s));
  for (const auto& l : agent->lines()) EXPECT_EQ(l.find("agent2-pw"), std::string::npos) << l;  // never logged
}

TEST_F(AgentReload, ABadFileKeepsTheOldConfiguration) {
  auto agent = start_agent();
  auto alice = admin();
  replace(dir + "/imwatch.conf", "[xmpp]\njid = \nfrobnicate = 1\n");
  reload(*agent, "reload rejected: keeping the configuration in force");
  EXPECT_EQ(ask(*alice, "ping", "pong"), "pong");
  set_memory_used(85);
  EXPECT_TRUE(wait(*alice, "WARNING memory: mem_used_pct 85 > 80 #1")) << log(*agent);
  EXPECT_EQ(agent->count_lines("xmpp: connected as"), 1u);  // never reconnected
}

TEST_F(AgentReload, AStopSaysWhyInThePresence) {
  for (int sig : {SIGTERM, SIGINT}) {
    auto agent = start_agent();
    auto alice = admin();
    alice->subscribe("agent@test.local");
    ASSERT_TRUE(alice->wait_until(
        [&] {
          auto p = alice->last_presence("agent@test.local");
          return p && p->show == "available";
        },
        5s))
        << log(*agent);
    agent->signal(sig);
    EXPECT_EQ(agent->wait_exit(10), 0) << log(*agent);
    const std::string why = sig == SIGTERM ? "stopping: SIGTERM" : "stopping: SIGINT";
    // The last word of the agent's session (its full JID). A presence from
    // the bare JID may follow: the server's answer to alice's probe when it
    // comes after the agent left, which says nothing about the agent.
    auto last_from_agent = [&]() -> std::optional<ReceivedPresence> {
      std::optional<ReceivedPresence> last;
      for (const auto& [from, p] : alice->presence_history())
        if (from == "agent@test.local/web1") last = p;
      return last;
    };
    EXPECT_TRUE(alice->wait_until(
        [&] {
          auto p = last_from_agent();
          return p && p->show == "unavailable" && p->status == why;
        },
        5s))
        << why << "\n"
        << presences(*alice) << log(*agent);
  }
}

// A loopback listener whose accept queue is full: the kernel drops new SYNs,
// as a blackhole does (nothing answers, not even a reset).
class Blackhole {
 public:
  Blackhole() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 0) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      return;
    port_ = ntohs(a.sin_port);
    // Fill the queue until a connect no longer completes.
    for (int i = 0; i < 16; ++i) {
      int c = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      fillers_.push_back(c);
      if (::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) continue;
      // Queued connections complete at once on loopback; one that has not
      // after a second was dropped (SYN ignored).
      pollfd p{c, POLLOUT, 0};
      if (::poll(&p, 1, 1000) == 0) {
        full_ = true;
        return;
      }
    }
  }
  ~Blackhole() {
    for (int c : fillers_) ::close(c);
    if (fd_ >= 0) ::close(fd_);
  }
  int port() const { return port_; }
  bool full() const { return full_; }

 private:
  int fd_ = -1, port_ = 0;
  bool full_ = false;
  std::vector<int> fillers_;
};

// Waits until `needle` was logged `n` times (wait_for_line finds the first).
bool wait_count(ChildProcess& p, const std::string& needle, size_t n, double timeout_s) {
  for (int i = 0; i < timeout_s * 10 && p.count_lines(needle) < n; ++i) p.drain(0.1);
  return p.count_lines(needle) >= n;
}

TEST_F(AgentReload, ABlackholedServerStallsNothing) {
  Blackhole hole;
  ASSERT_TRUE(hole.full());
  std::string conf = dir + "/imwatch.conf";
  std::ifstream in(conf);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  text.replace(text.find("log-level = debug"), 17, "log-level = trace");
  std::string port = "port = " + std::to_string(server.port());
  text.replace(text.find(port), port.size(), "port = " + std::to_string(hole.port()));
  replace(conf, text);
  ChildProcess agent({kBinary, "--config", conf});
  ASSERT_NE(agent.wait_for_line("xmpp: TCP connect to 127.0.0.1", 10), "") << log(agent);
  std::string gave_up = agent.wait_for_line("no TCP connection within 10s", 20);
  ASSERT_NE(gave_up, "") << log(agent);
  EXPECT_NE(gave_up.find("retrying in"), std::string::npos) << gave_up;
  // Between the connect and its timeout: the loadavg probe (every 1 s) kept
  // its schedule, about ten samples; a blocking connect allowed none.
  size_t samples = 0;
  bool in_connect = false;
  for (const auto& l : agent.lines()) {
    if (l.find("xmpp: TCP connect to") != std::string::npos) in_connect = true;
    if (l.find("no TCP connection within") != std::string::npos) break;
    if (in_connect && l.find("probe loadavg: sampled") != std::string::npos) ++samples;
  }
  EXPECT_GE(samples, 8u) << log(agent);
  EXPECT_LE(samples, 12u) << log(agent);
  // Rules still fire into the outbox while the link is down.
  set_memory_used(85);
  EXPECT_NE(agent.wait_for_line("notify: web1: WARNING memory", 5), "") << log(agent);
  // And it tries again, after a back-off, with a fresh timeout.
  EXPECT_TRUE(wait_count(agent, "xmpp: connecting as", 2, 5)) << log(agent);
  // The first attempt's socket was closed: only the one trying now is open.
  EXPECT_LE(open_sockets(agent.pid()), 1u);
  EXPECT_TRUE(wait_count(agent, "no TCP connection within 10s", 2, 20)) << log(agent);
  EXPECT_GE(agent.count_lines("xmpp: TCP connect to"), 2u);
  EXPECT_LE(open_sockets(agent.pid()), 1u);
}

}  // namespace

// The agent binary against a real prosody on 127.0.0.1, with a real admin
// client: alerts, recovery, presence, chat commands, access control, limits,
// outages of the server and of the agent.
#include "tests/xmpp/agent_fixture.h"

#include <ctime>
#include <filesystem>
#include <regex>
#include <thread>

#include "agent/history.h"
#include "tests/fixture_tree.h"

namespace fs = std::filesystem;
using namespace imwatch::test;

namespace {

TEST_F(AgentXmpp, AlertArrivesRecoversAndPresenceFollows) {
  auto agent = start_agent();
  auto alice = admin();
  alice->subscribe("agent@test.local");
  alice->pump(1s);
  set_memory_used(85);
  auto m = wait(*alice, "WARNING memory: mem_used_pct 85 > 80 #1");
  ASSERT_TRUE(m) << log(*agent);
  EXPECT_EQ(m->type, "chat");
  EXPECT_EQ(m->body, "web1: WARNING memory: mem_used_pct 85 > 80 #1");
  EXPECT_TRUE(alice->wait_until(
      [&] {
        auto p = alice->last_presence("agent@test.local");
        return p && p->show == "away" && p->status == "WARNING: memory";
      },
      5s));
  set_memory_used(97);
  ASSERT_TRUE(wait(*alice, "CRITICAL memory"));
  EXPECT_TRUE(alice->wait_until(
      [&] {
        auto p = alice->last_presence("agent@test.local");
        return p && p->show == "dnd" && p->status == "CRITICAL: memory";
      },
      5s));
  set_memory_used(40);
  ASSERT_TRUE(wait(*alice, "RESOLVED memory"));
  EXPECT_TRUE(alice->wait_until(
      [&] {
        auto p = alice->last_presence("agent@test.local");
        return p && p->show == "available" && p->status == "OK";
      },
      5s));
  alice->pump(2s);
  EXPECT_EQ(count(*alice, "WARNING memory: mem_used_pct 85"), 1u);
  EXPECT_EQ(count(*alice, "RESOLVED"), 1u);
}

TEST_F(AgentXmpp, EveryCommand) {
  auto agent = start_agent();
  auto alice = admin();
  EXPECT_NE(ask(*alice, "help", "commands:"), "");
  EXPECT_EQ(ask(*alice, "ping", "pong"), "pong");
  // Tables arrive as XEP-0393 preformatted blocks under a title line.
  EXPECT_EQ(ask(*alice, "  LOAD ", "load average").rfind("web1: load average\n```\nload ", 0), 0u);
  EXPECT_NE(ask(*alice, "mem", "used 488 MiB of 977 MiB (50.0%)"), "");
  EXPECT_NE(ask(*alice, "vmstat", "procs"), "");
  std::string psi = ask(*alice, "psi", "\nmemory some ");
  EXPECT_EQ(psi.rfind("web1: pressure stall information\n```\n% stalled ", 0), 0u) << psi;
  EXPECT_TRUE(psi.ends_with("\n```")) << psi;
  EXPECT_NE(ask(*alice, "status", "web1, up"), "");
  EXPECT_EQ(ask(*alice, "alerts", "no alerts"), "web1: no alerts");
  EXPECT_NE(ask(*alice, "rules", "web1: 1 rule\nmemory: mem_used_pct > 80 crit 95\n    clear 75\n  OK, now 50"), "");
  EXPECT_EQ(ask(*alice, "mute 10m memory", "muted"), "muted memory for 10m");
  EXPECT_EQ(ask(*alice, "unmute memory", "unmuted"), "unmuted memory");
  set_memory_used(85);
  ASSERT_TRUE(wait(*alice, "WARNING memory"));
  EXPECT_EQ(ask(*alice, "ack 1", "acknowledged"), "acknowledged #1:\n  no more reminders until it resolves");
  EXPECT_NE(ask(*alice, "alerts", "#1 WARNING memory"), "");
  EXPECT_EQ(ask(*alice, "frobnicate", "unknown command"), "unknown command 'frobnicate'; try help");
  EXPECT_EQ(ask(*alice, "stauts", "unknown command"), "unknown command 'stauts';\n  did you mean status?");
  EXPECT_EQ(ask(*alice, "help ack", "example"),
            "ack N\nno more reminders for alert #N until it\nresolves\nexample: ack 3");
}

TEST_F(AgentXmpp, StrangersGetNoData) {
  auto agent = start_agent();
  TestClient mallory("mallory@test.local", "mallory-pw", server);
  ASSERT_TRUE(mallory.connect());
  mallory.send_chat("agent@test.local", "status");
  auto m = mallory.wait_for_message([](const ReceivedMessage&) { return true; }, 5s);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->body, "not authorised");
  for (int i = 0; i < 5; ++i) mallory.send_chat("agent@test.local", "status");
  mallory.pump(2s);
  EXPECT_EQ(mallory.messages().size(), 1u);  // one refusal an hour, no data ever
  EXPECT_NE(agent->wait_for_line("refused: not an admin", 2), "");
}

TEST_F(AgentXmpp, RateLimitAndOversizedBodies) {
  auto agent = start_agent();
  auto alice = admin();
  alice->send_chat("agent@test.local", std::string(5000, 'x'));
  for (int i = 0; i < 30; ++i) alice->send_chat("agent@test.local", "ping");
  alice->pump(3s);
  EXPECT_EQ(count(*alice, "pong"), 19u);  // the oversized body counts against the 20
  EXPECT_EQ(count(*alice, "slow down"), 1u);
  EXPECT_EQ(count(*alice, "unknown command"), 0u);  // the 5000-byte body got nothing
  EXPECT_NE(agent->wait_for_line("byte message ignored", 2), "");
}

void outage_test(AgentXmpp& t, bool kill) {
  ProsodyServer& server = t.server;
  auto agent = t.start_agent();
  if (kill)
    server.kill();
  else
    server.stop();
  EXPECT_NE(agent->wait_for_line("link lost", 10), "") << AgentXmpp::log(*agent);
  EXPECT_EQ(::kill(agent->pid(), 0), 0);  // still alive (a SIGPIPE once ended it here)
  t.set_memory_used(85);
  EXPECT_NE(agent->wait_for_line("notify: web1: WARNING memory", 5), "") << AgentXmpp::log(*agent);
  // Over 2 s old when it goes out, whatever the back-off: only then is it
  // stamped (a reconnect right after a failed resumption can be quick).
  std::this_thread::sleep_for(2500ms);
  ASSERT_TRUE(server.start()) << server.error();
  auto alice = t.admin();
  auto m = t.wait(*alice, "WARNING memory: mem_used_pct 85 > 80 #1", 30s);
  ASSERT_TRUE(m) << AgentXmpp::log(*agent);
  EXPECT_FALSE(m->delay_stamp.empty());  // marked with the time it was raised
  alice->pump(3s);
  EXPECT_EQ(t.count(*alice, "WARNING memory"), 1u);
}

TEST_F(AgentXmpp, ServerStoppedWhileAnAlertFires) { outage_test(*this, false); }
TEST_F(AgentXmpp, ServerKilledWhileAnAlertFires) { outage_test(*this, true); }

TEST_F(AgentXmpp, AgentKilledWithAMessageInTheOutbox) {
  {
    auto agent = start_agent();
    server.stop();
    set_memory_used(85);
    EXPECT_NE(agent->wait_for_line("notify: web1: WARNING memory", 10), "");
    // Kill it only once the message is on disk: that is the case under test.
    bool persisted = false;
    for (int i = 0; i < 100 && !persisted; ++i) {
      std::ifstream in(dir + "/state/outbox");
      std::stringstream ss;
      ss << in.rdbuf();
      persisted = ss.str().find("WARNING memory") != std::string::npos;
      if (!persisted) std::this_thread::sleep_for(50ms);
    }
    ASSERT_TRUE(persisted);
    agent->signal(SIGKILL);
    agent->wait_exit(5);
  }
  ASSERT_TRUE(server.start());
  auto agent = start_agent();
  EXPECT_NE(agent->wait_for_line("1 undelivered notifications", 1), "") << log(*agent);
  auto alice = admin();
  ASSERT_TRUE(wait(*alice, "WARNING memory: mem_used_pct 85 > 80 #1", 20s)) << log(*agent);
  alice->pump(3s);
  EXPECT_EQ(count(*alice, "WARNING memory"), 1u);
}

TEST_F(AgentXmpp, AHandshakeThatNeverEndsIsAbandoned) {
  // A peer that accepts TCP (the kernel does, from the backlog) and never
  // says a word: as when the link dies during TLS. Pings only run once
  // connected, so the agent once stayed "connecting" forever (found by
  // tests/fault, a link stalled during a reconnect).
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 8), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  std::string conf = dir + "/imwatch.conf", text;
  {
    std::ifstream in(conf);
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  std::string port = "port = " + std::to_string(server.port());
  text.replace(text.find(port), port.size(), "port = " + std::to_string(ntohs(a.sin_port)));
  replace(conf, text);
  ChildProcess agent({kBinary, "--config", conf});
  EXPECT_NE(agent.wait_for_line("no session after 10s: giving up on this attempt", 15), "") << log(agent);
  EXPECT_NE(agent.wait_for_line("cannot connect", 2), "") << log(agent);  // and so retries
  agent.drain(1.5);
  EXPECT_GE(agent.count_lines("xmpp: connecting as"), 2u) << log(agent);
  ::close(fd);
}

TEST_F(AgentXmpp, WrongPasswordIsLoggedAndRetriedSlowly) {
  write_config("wrong-pw");
  ChildProcess agent({kBinary, "--config", dir + "/imwatch.conf"});
  std::string line = agent.wait_for_line("authentication failed", 15);
  ASSERT_NE(line, "");
  EXPECT_NE(line.find("retrying in"), std::string::npos);
  // At the backoff's maximum (60 s, with jitter), not in a tight loop.
  std::regex secs("retrying in ([0-9]+) s");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(line, m, secs)) << line;
  EXPECT_GE(std::stoi(m[1]), 48);
  agent.drain(2);
  EXPECT_EQ(agent.count_lines("authentication failed"), 1u);
  for (const auto& l : agent.lines()) EXPECT_EQ(l.find("wrong-pw"), std::string::npos) << l;  // never logged
}

TEST_F(AgentXmpp, AnUnusableCaFileIsSaidClearlyAndRetriedSlowly) {
  // Readable (so the config check passes) but holding no certificate: TLS
  // cannot be set up. One clear reason, no doubled prefix, and the slowest
  // pace, as for a wrong password (once every 1-60 s with a doubled
  // "TLS setup failed: TLS setup failed" before).
  const std::string empty = dir + "/empty-ca.pem";
  std::ofstream(empty) << "";
  std::string conf = dir + "/imwatch.conf", text;
  {
    std::ifstream in(conf);
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  const std::string ca = "ca_file = " + server.ca_file();
  ASSERT_NE(text.find(ca), std::string::npos);
  text.replace(text.find(ca), ca.size(), "ca_file = " + empty);
  replace(conf, text);
  ChildProcess agent({kBinary, "--config", conf});
  std::string line = agent.wait_for_line("retrying in", 15);
  ASSERT_NE(line, "") << log(agent);
  EXPECT_NE(line.find("TLS setup failed: no CA certificate could be loaded from " + empty), std::string::npos) << line;
  std::regex secs("retrying in ([0-9]+) s");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(line, m, secs)) << line;
  EXPECT_GE(std::stoi(m[1]), 48);
  agent.drain(2);
  EXPECT_EQ(agent.count_lines("retrying in"), 1u) << log(agent);
  for (const auto& l : agent.lines()) EXPECT_EQ(l.find("TLS setup failed: TLS setup failed"), std::string::npos) << l;
}

TEST_F(AgentXmpp, TestAlertExitsZeroOnceAccepted) {
  auto alice = admin();
  auto r = run_process({kBinary, "--test-alert", "--config", dir + "/imwatch.conf"}, 40);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(wait(*alice, "test alert from imwatch", 5s));

  // A CA that did not sign the server's certificate: refused, with the reason.
  write_config("agent-pw", "");
  std::string conf = dir + "/imwatch.conf";
  std::string text;
  {
    std::ifstream in(conf);
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  text.replace(text.find(server.ca_file()), server.ca_file().size(), server.other_ca_file());
  replace(conf, text);
  r = run_process({kBinary, "--test-alert", "--config", conf}, 40);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("not delivered"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("TLS certificate of test.local refused"), std::string::npos) << r.err;
}

// History across the wire: a history file left by an earlier run (memory
// rising from 10% to 40% over the last half hour) is restored at start,
// `graph` draws it, and the alert that fires carries its trend.
TEST_F(AgentXmpp, GraphAndTheTrendOfAFiringAlert) {
  imwatch::agent::History earlier;
  const double now = static_cast<double>(::time(nullptr));
  for (int i = 0; i <= 180; ++i) earlier.record("mem_used_pct", 10, now - 1800 + 10 * i, 10 + i / 6.0);
  fs::create_directories(dir + "/state");
  fs::permissions(dir + "/state", fs::perms::owner_all, fs::perm_options::replace);
  std::ofstream(dir + "/state/history", std::ios::binary) << earlier.serialize();

  auto agent = start_agent();
  auto alice = admin();
  std::string graph = ask(*alice, "graph", "```");
  EXPECT_EQ(graph.rfind("web1: last 6h, ", 0), 0u) << graph << log(*agent);
  for (const char* m : {"\n```\nload1_per_cpu\n", "\nmem_used_pct\n", "\ncpu_iowait_pct\n"})
    EXPECT_NE(graph.find(m), std::string::npos) << m << " in:\n" << graph;
  EXPECT_EQ(graph.substr(graph.size() - 4), "\n```") << graph;
  std::string mem = ask(*alice, "graph mem_used_pct 1h", "mem_used_pct");
  EXPECT_NE(mem.find("\nmin 10 avg "), std::string::npos) << mem;  // the restored half hour

  set_memory_used(85);
  auto m = wait(*alice, "WARNING memory: mem_used_pct 85 > 80 #1 ");
  ASSERT_TRUE(m) << log(*agent);
  // Rising all along, and highest now: the last cell is the full bar.
  static const std::regex trend("web1: WARNING memory: mem_used_pct 85 > 80 #1 (▁|▂|▃|▄|▅|▆|▇)+█");
  EXPECT_TRUE(std::regex_match(m->body, trend)) << m->body;
  EXPECT_EQ(m->body.find("▁"), m->body.find("#1 ") + 3) << m->body;  // starts at the lowest
}

}  // namespace

// `check NAME` over a real server: the plugin takes a second, the agent
// answers `ping` meanwhile (the loop never waits for a plugin), and the
// check's answer follows once the plugin has finished.
TEST_F(AgentXmpp, CheckNameAnswersWhenThePluginEnds) {
  write_config("agent-pw",
               "[check.slow]\ncommand = /bin/sh -c 'sleep 1; echo \"SLOW WARNING: took its time | t=1s\"; exit 1'\n"
               "interval = 1h\n");
  auto agent = start_agent();
  auto alice = admin();
  ASSERT_NE(agent->wait_for_line("check slow: WARNING: SLOW WARNING: took its time", 10), "") << log(*agent);
  EXPECT_NE(ask(*alice, "checks", "web1: 1 check\nslow: WARNING,"), "");
  size_t before = alice->messages().size();
  alice->send_chat("agent@test.local", "check slow");
  alice->send_chat("agent@test.local", "ping");
  auto reply = alice->wait_for_message(
      [&](const ReceivedMessage& r) {
        return &r - alice->messages().data() >= static_cast<long>(before) && contains(r, "web1: check slow:");
      },
      10s);
  ASSERT_TRUE(reply) << log(*agent);
  EXPECT_NE(reply->body.find("WARNING in 1."), std::string::npos) << reply->body;
  EXPECT_NE(reply->body.find("\nSLOW WARNING: took its time\ncheck.slow.t = 1s"), std::string::npos) << reply->body;
  // The pong came first: it was answered while the plugin still slept.
  size_t pong = 0, answer = 0;
  for (size_t i = before; i < alice->messages().size(); ++i) {
    if (alice->messages()[i].body == "pong" && !pong) pong = i;
    if (contains(alice->messages()[i], "web1: check slow:") && !answer) answer = i;
  }
  EXPECT_GT(pong, 0u);
  EXPECT_LT(pong, answer);
  EXPECT_EQ(ask(*alice, "check nope", "no check"), "no check 'nope'; see checks");
}

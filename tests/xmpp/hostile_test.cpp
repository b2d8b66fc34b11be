// The agent binary against a stranger who floods it through a real prosody:
// spoofed roster pushes, disco#info queries, subscription requests, chat.
// Memory and log stay bounded, every query gets the error RFC 6120 8.2.3
// asks for and nothing else, an admin is answered within a second
// throughout, and the roster holds admins only.
//
// ctest runs reduced floods; the figures of the issue (30,000 disco queries,
// 10,000 roster pushes, 2,000 subscription requests) with
//   IMWATCH_HOSTILE_FULL=1 build/tests/xmpp/xmpp_hostile_test
// Either way the figures measured are printed.
#include <gloox/disco.h>
#include <gloox/discohandler.h>
#include <gloox/error.h>
#include <gloox/iq.h>
#include <gloox/iqhandler.h>
#include <gloox/parser.h>
#include <gloox/softwareversion.h>
#include <gloox/statisticshandler.h>
#include <gloox/subscription.h>
#include <gtest/gtest.h>
#include <sys/utsname.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>

#include "fixture_tree.h"
#include "run_process.h"
#include "tests/support/prosody_server.h"
#include "tests/support/xmpp_test_client.h"

namespace fs = std::filesystem;
using namespace imwatch::test;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

namespace {

// IMWATCH_AGENT_BINARY measures another build (an older one, for figures).
const std::string kBinary = std::getenv("IMWATCH_AGENT_BINARY") ? std::getenv("IMWATCH_AGENT_BINARY") : IMWATCH_BINARY;
const std::string kFixtures = IMWATCH_FIXTURES;

bool full_run() {
  const char* f = std::getenv("IMWATCH_HOSTILE_FULL");
  return f && std::string(f) == "1";
}

// The agent's resident set, in kB (0 if it is gone).
long rss_kb(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

// A Tag from raw XML: what a hostile client sends is whatever it likes.
gloox::Tag* raw(const std::string& xml) {
  struct Catch : gloox::TagHandler {
    gloox::Tag* tag = nullptr;
    void handleTag(gloox::Tag* t) override { tag = t->clone(); }
  } c;
  gloox::Parser p(&c);
  std::string copy = xml;
  p.feed(copy);
  return c.tag;
}

// Counts the iq stanzas a client receives (the agent's answers), and among
// them the service-unavailable errors (registered for gloox's ExtError, it
// sees every iq error that no query of the client's own waits for).
struct IqCounter : gloox::StatisticsHandler, gloox::IqHandler {
  long iqs = 0, refusals = 0, results = 0;
  void handleStatistics(const gloox::StatisticsStruct s) override { iqs = s.iqStanzasReceived; }
  bool handleIq(const gloox::IQ& iq) override {
    if (iq.subtype() == gloox::IQ::Error && iq.error() && iq.error()->error() == gloox::StanzaErrorServiceUnavailable)
      ++refusals;
    return true;
  }
  void handleIqID(const gloox::IQ&, int) override {}
};

// What came back for one query of ours.
struct Answer {
  bool done = false;
  gloox::IQ::IqType type = gloox::IQ::Invalid;
  gloox::StanzaError error = gloox::StanzaErrorUndefined;
  std::string name, version, os;        // software version
  std::vector<std::string> identities;  // disco#info: "category/type/name"
};

struct Asker : gloox::IqHandler, gloox::DiscoHandler {
  std::map<int, Answer> answers;
  int next = 0;

  bool handleIq(const gloox::IQ&) override { return false; }
  void handleIqID(const gloox::IQ& iq, int context) override {
    Answer& a = answers[context];
    a.done = true;
    a.type = iq.subtype();
    if (const auto* e = iq.error()) a.error = e->error();
    if (const auto* v = iq.findExtension<gloox::SoftwareVersion>(gloox::ExtVersion)) {
      a.name = v->name();
      a.version = v->version();
      a.os = v->os();
    }
  }
  void handleDiscoInfo(const gloox::JID&, const gloox::Disco::Info& info, int context) override {
    Answer& a = answers[context];
    a.done = true;
    a.type = gloox::IQ::Result;
    for (const auto* i : info.identities()) a.identities.push_back(i->category() + "/" + i->type() + "/" + i->name());
  }
  void handleDiscoItems(const gloox::JID&, const gloox::Disco::Items&, int) override {}
  void handleDiscoError(const gloox::JID&, const gloox::Error* e, int context) override {
    Answer& a = answers[context];
    a.done = true;
    a.type = gloox::IQ::Error;
    if (e) a.error = e->error();
  }

  Answer version(TestClient& c, const std::string& to) {
    int ctx = ++next;
    gloox::IQ iq(gloox::IQ::Get, gloox::JID(to), c.client().getID());
    iq.addExtension(new gloox::SoftwareVersion("", "", ""));
    c.client().send(iq, this, ctx);
    c.wait_until([&] { return answers[ctx].done; }, 5s);
    return answers[ctx];
  }
  Answer disco(TestClient& c, const std::string& to) {
    int ctx = ++next;
    c.client().disco()->getDiscoInfo(gloox::JID(to), "", this, ctx);
    c.wait_until([&] { return answers[ctx].done; }, 5s);
    return answers[ctx];
  }
};

std::string roster_push(const std::string& to, int i) {
  // Long names and groups: what gloox's RosterManager used to keep.
  return "<iq type='set' id='push" + std::to_string(i) + "' to='" + to +
         "'><query xmlns='jabber:iq:roster'><item jid='s" + std::to_string(i) + "@evil.example' name='" +
         std::string(200, 'n') + "'><group>" + std::string(200, 'g') + "</group></item></query></iq>";
}

std::string disco_query(const std::string& to, int i) {
  return "<iq type='get' id='disco" + std::to_string(i) + "' to='" + to +
         "'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>";
}

std::string subscribe(int i) {
  return "<presence type='subscribe' id='sub" + std::to_string(i) + "' to='agent@test.local'/>";
}

class Hostile : public ::testing::Test {
 public:
  void SetUp() override {
    ASSERT_TRUE(server.ok()) << server.error();
    ASSERT_TRUE(server.start()) << server.error();
    for (const char* u : {"agent", "alice", "bob", "mallory"})
      ASSERT_TRUE(server.register_user(u, std::string(u) + "-pw"));
    dir = server.dir() + "/agent";
    fs::create_directories(dir);
    fs::copy(kFixtures + "/proc/no-swap", dir + "/proc", fs::copy_options::recursive);
    write_meminfo_used(dir + "/proc", 50);
    write_config({"alice@test.local"});
  }
  // No resource configured: the default one is part of what is tested.
  void write_config(const std::vector<std::string>& admins) {
    std::ofstream(dir + "/password") << "agent-pw\n";
    std::string conf = "proc-root = " + dir + "/proc\nstate-dir = " + dir +
                       "/state\nhostname = web1\n[probe.meminfo]\ninterval = 1s\n"
                       "[alert]\nrule = memory: mem_used_pct > 80\n[xmpp]\njid = agent@test.local\npassword_file = " +
                       dir + "/password\nhost = 127.0.0.1\nport = " + std::to_string(server.port()) +
                       "\nca_file = " + server.ca_file() + "\nping_interval = 5s\n";
    for (const auto& a : admins) conf += "admin = " + a + "\n";
    replace_file(dir + "/imwatch.conf", conf);
  }
  std::unique_ptr<ChildProcess> start_agent() {
    auto a = std::make_unique<ChildProcess>(std::vector<std::string>{kBinary, "--config", dir + "/imwatch.conf"});
    EXPECT_NE(a->wait_for_line("xmpp: connected", 15), "") << log(*a);
    return a;
  }
  std::unique_ptr<TestClient> client(const std::string& user) {
    auto c = std::make_unique<TestClient>(user + "@test.local", user + "-pw", server);
    EXPECT_TRUE(c->connect());
    return c;
  }
  // The agent's full JID, as a stranger learns it: from the one refusal.
  std::string agent_full_jid(TestClient& stranger) {
    stranger.send_chat("agent@test.local", "status");
    auto m = stranger.wait_for_message([](const ReceivedMessage& r) { return r.body == "not authorised"; }, 5s);
    EXPECT_TRUE(m);
    return m ? m->from : "";
  }
  // Round trip of an admin's ping, in seconds (99 when unanswered in 5 s).
  // At most one every 0.6 s: the agent answers an admin 20 times in 10 s.
  double ping(TestClient& admin) {
    auto since = SteadyClock::now() - last_ping;
    if (since < 600ms) admin.pump(std::chrono::duration_cast<std::chrono::milliseconds>(600ms - since));
    last_ping = SteadyClock::now();
    size_t before = admin.messages().size();
    auto t0 = SteadyClock::now();
    admin.send_chat("agent@test.local", "ping");
    auto m = admin.wait_for_message(
        [&](const ReceivedMessage& r) {
          return &r - admin.messages().data() >= static_cast<long>(before) && r.body == "pong";
        },
        5s);
    return m ? std::chrono::duration<double>(SteadyClock::now() - t0).count() : 99;
  }
  static std::string log(const ChildProcess& p) {
    std::string s;
    for (const auto& l : p.lines()) s += l + "\n";
    return s;
  }

  ProsodyServer server;
  std::string dir;
  SteadyClock::time_point last_ping;
};

TEST_F(Hostile, FloodsCostNeitherMemoryNorLogAndTheAdminIsStillAnswered) {
  const int discos = full_run() ? 30000 : 6000, pushes = full_run() ? 10000 : 2000, subs = full_run() ? 2000 : 400;
  auto agent = start_agent();
  auto alice = client("alice");
  auto mallory = client("mallory");
  IqCounter answers;
  mallory->client().registerStatisticsHandler(&answers);
  mallory->client().registerIqHandler(&answers, gloox::ExtError);
  const std::string target = agent_full_jid(*mallory);
  ASSERT_NE(target, "");
  // Warm: a few admin commands, then the figure at rest.
  for (int i = 0; i < 3; ++i) ASSERT_LT(ping(*alice), 1.0) << log(*agent);
  agent->drain(1);
  const long rest = rss_kb(agent->pid());
  const size_t lines_at_rest = agent->lines().size();
  long peak = rest;
  double slowest = 0;
  int pings = 0;

  // Sends `n` raw stanzas in batches, keeping at most kWindow queries
  // unanswered (so the flood lasts as long as the agent takes to answer it,
  // instead of waiting in the server); meanwhile the agent's RSS is sampled
  // and the admin pings every 0.6 s.
  // IMWATCH_HOSTILE_WINDOW=0 floods blindly, as fast as the stranger can send:
  // then the backlog waits in the server and the admin waits behind it.
  const char* w = std::getenv("IMWATCH_HOSTILE_WINDOW");
  const long kWindow = w ? (std::atol(w) > 0 ? std::atol(w) : 1'000'000'000) : 1000;
  const long answers_before = answers.iqs;  // gloox's own traffic
  long queries = answers_before;
  auto sample = [&] {
    peak = std::max(peak, rss_kb(agent->pid()));
    if (SteadyClock::now() - last_ping >= 500ms) {
      slowest = std::max(slowest, ping(*alice));
      ++pings;
      peak = std::max(peak, rss_kb(agent->pid()));
    }
  };
  auto flood = [&](int n, bool iq, const std::function<std::string(int)>& stanza) {
    const int batch = 250;
    for (int i = 0; i < n; i += batch) {
      for (int j = i; j < std::min(n, i + batch); ++j) mallory->client().send(raw(stanza(j)));
      if (iq) queries += std::min(n, i + batch) - i;
      auto until = SteadyClock::now() + 10s;
      do {
        mallory->pump(10ms);
        sample();
      } while (answers.iqs < queries - kWindow && SteadyClock::now() < until);
    }
  };
  const auto flood_start = SteadyClock::now();
  flood(discos, true, [&](int i) { return disco_query(target, i); });
  flood(pushes, true, [&](int i) { return roster_push(target, i); });
  flood(subs, false, [&](int i) { return subscribe(i); });
  // Every query answered (an error: see StrangersLearnNothing).
  auto until = SteadyClock::now() + 60s;
  while (answers.iqs < queries && SteadyClock::now() < until) {
    mallory->pump(10ms);
    sample();
  }
  const double flood_s = std::chrono::duration<double>(SteadyClock::now() - flood_start).count();
  EXPECT_GE(answers.iqs, queries) << "every query answered";
  mallory->pump(500ms);
  EXPECT_EQ(::kill(agent->pid(), 0), 0);
  const long flooded = rss_kb(agent->pid());
  agent->drain(1);
  // After: the agent goes on with its own work for a few seconds.
  for (int i = 0; i < 3; ++i) {
    double rt = ping(*alice);
    if (rt >= 1.0) {
      std::ifstream pl(server.log_file());
      std::string all((std::istreambuf_iterator<char>(pl)), {});
      ADD_FAILURE() << "after flood, ping " << rt << " pings " << pings << " alice msgs " << alice->messages().size()
                    << "\n"
                    << all.substr(all.size() > 6000 ? all.size() - 6000 : 0);
      for (auto& m : alice->messages()) std::printf("alice got: %s\n", m.body.c_str());
      std::ifstream st("/proc/" + std::to_string(agent->pid()) + "/stat");
      std::string stat((std::istreambuf_iterator<char>(st)), {});
      std::ifstream wc("/proc/" + std::to_string(agent->pid()) + "/wchan");
      std::string wchan((std::istreambuf_iterator<char>(wc)), {});
      std::printf("agent stat: %s\nwchan: %s\n", stat.c_str(), wchan.c_str());
      agent->drain(1);
      std::printf("%s\n", log(*agent).c_str());
      return;
    }
  }
  alice->pump(3s);
  const long after = rss_kb(agent->pid());
  agent->drain(0.5);
  const size_t lines = agent->lines().size() - lines_at_rest;

  EXPECT_EQ(queries - answers_before, discos + pushes);
  EXPECT_EQ(answers.refusals, discos + pushes) << "each answer is service-unavailable";
  std::printf("hostile floods: %d disco#info, %d roster pushes, %d subscription requests from one stranger\n", discos,
              pushes, subs);
  std::printf("agent RSS: %.1f MB at rest, %.1f MB peak, %.1f MB right after, %.1f MB 3 s later\n", rest / 1024.0,
              peak / 1024.0, flooded / 1024.0, after / 1024.0);
  std::printf("flood answered in %.1f s; admin ping: slowest of %d round trips %.0f ms; log lines: %zu\n", flood_s,
              pings, slowest * 1000, lines);
#if defined(__SANITIZE_ADDRESS__)
  // Under AddressSanitizer the RSS is its shadow memory and its quarantine
  // of freed blocks (48 MB at rest, 300 MB after the flood here), not the
  // agent's: the memory bound is checked by the normal build of this test
  // (tests/run.sh stage 1); this build checks everything else.
  std::printf("RSS bound not applicable under AddressSanitizer (checked in the normal build)\n");
#else
  EXPECT_LT(peak, 16 * 1024) << "the bound of the issue";
  EXPECT_LT(after, rest + 2 * 1024) << "RSS returns close to the resting figure";
#endif
  EXPECT_LT(slowest, 1.0) << "an admin is answered within a second throughout";
  // One line per stranger and hour for the queries, the subscriptions and
  // the chat, whatever the flood's size (plus a few of the agent's own).
  EXPECT_LE(lines, 8u) << log(*agent);
  EXPECT_EQ(agent->count_lines("refused query"), 1u) << log(*agent);
  // The stream is still sound (the acks of a stream with unqueued answers
  // in it are translated): an alert goes out and is acknowledged.
  write_meminfo_used(dir + "/proc", 85);
  EXPECT_TRUE(alice->wait_for_message(
      [](const ReceivedMessage& r) { return r.body.find("WARNING memory") != std::string::npos; }, 10s));
}

TEST_F(Hostile, StrangersLearnNothing) {
  auto agent = start_agent();
  auto alice = client("alice");
  auto mallory = client("mallory");
  Asker ask;
  const std::string target = agent_full_jid(*mallory);
  // The full JID shows in every reply, so its resource does not name the host.
  std::smatch m;
  ASSERT_TRUE(std::regex_match(target, m, std::regex("agent@test\\.local/imwatch-[0-9a-f]{8}"))) << target;

  // A stranger: service-unavailable for everything, even a ping.
  Answer v = ask.version(*mallory, target);
  EXPECT_TRUE(v.done);
  EXPECT_EQ(v.type, gloox::IQ::Error);
  EXPECT_EQ(v.error, gloox::StanzaErrorServiceUnavailable);
  EXPECT_EQ(v.name, "");
  Answer d = ask.disco(*mallory, target);
  EXPECT_TRUE(d.done);
  EXPECT_EQ(d.type, gloox::IQ::Error);
  EXPECT_EQ(d.error, gloox::StanzaErrorServiceUnavailable);
  EXPECT_TRUE(d.identities.empty());
  // A spoofed roster push: refused (RFC 6121 2.1.6), with the error RFC 6120 wants.
  IqCounter answers;
  mallory->client().registerIqHandler(&answers, gloox::ExtError);
  mallory->client().send(raw(roster_push(target, 1)));
  mallory->client().send(raw(roster_push(target, 2)));
  EXPECT_TRUE(mallory->wait_until([&] { return answers.refusals == 2; }, 5s)) << answers.refusals;
  // More chat gets nothing: one refusal an hour.
  for (int i = 0; i < 5; ++i) mallory->send_chat("agent@test.local", "status");
  mallory->pump(1s);
  EXPECT_EQ(mallory->messages().size(), 1u);

  // An admin: who the agent is, and its version and OS.
  v = ask.version(*alice, target);
  EXPECT_EQ(v.type, gloox::IQ::Result);
  EXPECT_EQ(v.name, "imwatch");
  EXPECT_NE(v.version, "");
  utsname u{};
  uname(&u);
  EXPECT_EQ(v.os, std::string(u.sysname) + " " + u.release);
  d = ask.disco(*alice, target);
  EXPECT_EQ(d.type, gloox::IQ::Result);
  EXPECT_EQ(d.identities, std::vector<std::string>{"client/bot/imwatch on web1"});
  agent->drain(0.5);
  EXPECT_EQ(agent->count_lines("refused query"), 1u) << log(*agent);
  EXPECT_EQ(agent->count_lines("chat from 'mallory@test.local' refused"), 1u) << log(*agent);
}

TEST_F(Hostile, TheRosterHoldsAdminsOnly) {
  // Bob is an admin and subscribes to the agent's presence.
  write_config({"alice@test.local", "bob@test.local"});
  auto agent = start_agent();
  auto bob = client("bob");
  bob->subscribe("agent@test.local");
  ASSERT_TRUE(bob->wait_until(
      [&] {
        auto p = bob->last_presence("agent@test.local");
        return p && p->show == "available";
      },
      5s));
  agent.reset();  // SIGKILL
  // Bob is no longer an admin: at the next connect his subscription goes.
  write_config({"alice@test.local"});
  agent = start_agent();
  EXPECT_NE(agent->wait_for_line("revoked the subscription of 'bob@test.local'", 5), "") << log(*agent);
  auto alice = client("alice");
  alice->subscribe("agent@test.local");
  alice->pump(1s);
  write_meminfo_used(dir + "/proc", 85);
  ASSERT_TRUE(alice->wait_until(
      [&] {
        auto p = alice->last_presence("agent@test.local");
        return p && p->show == "away";
      },
      10s));
  bob->pump(1s);
  auto p = bob->last_presence("agent@test.local");
  EXPECT_TRUE(!p || p->show == "unavailable") << p->show;  // he no longer sees the server's health

  // A contact added from the agent's own account (another resource of it)
  // reaches the agent as a genuine roster push: removed as well.
  auto self = client("agent");
  gloox::Tag* add =
      raw("<iq type='set' id='add1'><query xmlns='jabber:iq:roster'><item jid='eve@test.local'/></query></iq>");
  self->client().send(add);
  EXPECT_NE(agent->wait_for_line("revoked the subscription of 'eve@test.local'", 5), "") << log(*agent);
  EXPECT_EQ(agent->count_lines("revoked the subscription of 'alice@test.local'"), 0u);
}

}  // namespace

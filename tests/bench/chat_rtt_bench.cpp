// Chat round trips admin -> agent -> admin over a private prosody on
// loopback, next to the same measurement against minimal gloox echo
// clients on the same server: what does the agent add to the floor that
// XMPP itself sets? Not part of ctest; build/tests/chat_rtt_bench --help.
//
// Default mode: N `status` queries (default 10000) to each target, one at a
// time: the agent; a plain gloox echo client (the reference of the goal:
// the agent should add < 0.1 ms at the median); an echo client set up as
// the agent's gloox client is (XEP-0198 stream management, DelayedDelivery
// registered), which tells the cost of that setup from the agent's own
// work; and any --echo variants. Each round sends one query to every
// target, rotating who goes first, so all see the same machine state; the
// first 5% (at most 200) are warm-up and not counted. Latency runs from just
// before the admin's send to the dispatch of the reply in the admin's gloox
// handler. CPU per query comes from /proc/PID/stat of each answering process.
//
// The agent answers at most 20 commands per 10 s per admin JID (agent/chat.h,
// not configurable). One admin would need 83 minutes for 10000 queries, so
// the queries rotate over --admins accounts (default 100) and each account
// is paced to 18 agent queries per 10.5 s. That puts idle gaps between
// queries (a few ms); echo queries go through the same schedule. The run
// prints the load average before and after: other work skews everything.
//
// --flood: a non-admin JID sends --messages chat messages (default 100000)
// as fast as it can while admins send `ping` every --interval-ms (default
// 100; rotated over 6 admin accounts, again because of the per-admin rate
// limit). Reports the agent's VmRSS/VmHWM before and after, its CPU time,
// and the pings answered during and after the flood with their latencies.
//
// Every process (prosody, agent, echo, flooder) dies with the bench
// (PR_SET_PDEATHSIG) and is stopped by its PID; every loop is bounded in
// count and in time (--max-seconds).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gloox/client.h>
#include <gloox/connectionlistener.h>
#include <gloox/connectiontcpclient.h>
#include <gloox/delayeddelivery.h>
#include <gloox/event.h>
#include <gloox/eventhandler.h>
#include <gloox/message.h>
#include <gloox/messagehandler.h>

#include "agent/xmpp/tcp_nodelay.h"
#include "agent/xmpp/tls_gnutls.h"
#include "tests/bench/bench_xmpp.h"
#include "tests/support/prosody_server.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

using namespace imwatch::bench;

const std::string kBinary = IMWATCH_BINARY;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Unwinds to main(), so that every destructor stops its process and the
// temp dirs go.
[[noreturn]] void die(const std::string& what) { throw std::runtime_error(what); }

// ---------------------------------------------------------------------------
// Statistics.

struct Stats {
  size_t n = 0;
  double median = NAN, p90 = NAN, p99 = NAN, max = NAN, mean = NAN;
};

Stats stats_of(std::vector<double> v) {
  Stats s;
  s.n = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto q = [&](double p) {
    // Nearest rank.
    size_t r = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
    return v[std::clamp<size_t>(r, 1, v.size()) - 1];
  };
  s.median = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  s.p90 = q(0.90);
  s.p99 = q(0.99);
  s.max = v.back();
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(v.size());
  return s;
}

// ---------------------------------------------------------------------------
// The environment shared by both modes: prosody, accounts, the agent.

struct Options {
  bool flood = false;
  long queries = 10000;
  int admins = -1;  // default depends on the mode
  long messages = 100000;
  int interval_ms = 100;
  double max_seconds = 900;
  std::vector<std::string> extra_echoes;  // --echo FLAGS
  std::string agent = kBinary;            // --agent PATH, to compare builds
};

// CHAT_RTT_BENCH_AGENT_PREFIX="valgrind --tool=callgrind" (or _ECHO0_ for
// the plain echo, _ECHO1_ for the agent-like one, _ECHO2_... for --echo
// variants, _FLOOD_PREFIX) runs that process under a profiler; words are
// split at spaces, a bare program name is looked up in /usr/bin.
std::vector<std::string> prefix_words(const std::string& variable) {
  std::vector<std::string> argv;
  if (const char* prefix = std::getenv(variable.c_str())) {
    std::istringstream words(prefix);
    for (std::string w; words >> w;) argv.push_back(w);
    if (!argv.empty() && argv[0].find('/') == std::string::npos) argv[0] = "/usr/bin/" + argv[0];
  }
  return argv;
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string admin_name(int i) {
  char b[32];
  std::snprintf(b, sizeof b, "admin%03d", i);
  return b;
}

class Bench {
 public:
  explicit Bench(const Options& o) : opt(o) {}

  void setup(const std::vector<std::string>& extra_users) {
    if (!server.ok()) die("prosody setup: " + server.error());
    if (!server.start()) die("prosody: " + server.error());
    auto t0 = Clock::now();
    std::vector<std::string> users = {"agent"};
    users.insert(users.end(), extra_users.begin(), extra_users.end());
    for (int i = 0; i < opt.admins; ++i) users.push_back(admin_name(i));
    for (const auto& u : users)
      if (!server.register_user(u, u + "-pw")) die("register " + u + ": " + server.error());
    std::printf("prosody %d on 127.0.0.1:%d, %zu accounts registered in %.1f s\n", server.pid(), server.port(),
                users.size(), seconds_since(t0));

    dir = server.dir() + "/bench";
    fs::create_directories(dir);
    std::ofstream(dir + "/password") << "agent-pw\n";
    // The real /proc, as in production: ProcFile keeps procfs descriptors
    // open, but reopens a plain file (a fixture tree) at every read, which
    // would add five syscalls to every `status`.
    std::string conf = "state-dir = " + dir + "/state\nhostname = web1\n" +
                       "log-level = info\n[alert]\nrule = memory: mem_used_pct > 99 clear 98\n[xmpp]\n" +
                       "jid = agent@test.local\npassword_file = " + dir +
                       "/password\nhost = 127.0.0.1\nport = " + std::to_string(server.port()) +
                       "\nresource = web1\nca_file = " + server.ca_file() + "\n";
    for (int i = 0; i < opt.admins; ++i) conf += "admin = " + admin_name(i) + "@test.local\n";
    std::ofstream(dir + "/imwatch.conf") << conf;
    agent_log = dir + "/agent.log";
    std::vector<std::string> argv = prefix_words("CHAT_RTT_BENCH_AGENT_PREFIX");
    argv.insert(argv.end(), {opt.agent, "--config", dir + "/imwatch.conf"});
    if (!agent.start(argv, agent_log, false)) die("cannot start the agent");
    if (!wait_for_log(agent_log, "xmpp: connected", 60s)) die("the agent did not connect; see " + agent_log);

    t0 = Clock::now();
    for (int i = 0; i < opt.admins; ++i) {
      clients.push_back(std::make_unique<BenchClient>(admin_name(i) + "@test.local", admin_name(i) + "-pw",
                                                      server.port(), server.ca_file(), "bench"));
      if (!clients.back()->connect(10s)) die("admin " + admin_name(i) + " could not connect");
    }
    std::printf("agent %d connected; %d admin clients connected in %.1f s\n", agent.pid(), opt.admins,
                seconds_since(t0));
  }

  // Starts this binary as a helper ("echo" or "flood") and waits for "ready".
  void start_helper(Child& c, const std::vector<std::string>& args, const std::string& name) {
    std::vector<std::string> argv = prefix_words("CHAT_RTT_BENCH_" + upper(name) + "_PREFIX");
    argv.push_back(fs::read_symlink("/proc/self/exe").string());
    argv.insert(argv.end(), args.begin(), args.end());
    if (!c.start(argv, dir + "/" + name + ".log", true)) die("cannot start the " + name + " helper");
    auto line = c.read_line(20s);
    if (!line || *line != "ready") die("the " + name + " helper did not get ready; see " + dir + "/" + name + ".log");
  }

  // Drains every admin client's socket without waiting.
  void pump_all() {
    for (auto& c : clients) c->recv(0);
  }

  Options opt;
  imwatch::test::ProsodyServer server;
  std::string dir, agent_log;
  Child agent;
  std::vector<std::unique_ptr<BenchClient>> clients;
};

// ---------------------------------------------------------------------------
// Helper roles (run in a child process of the bench).

// `flags`, joined by '+': "sm" switches XEP-0198 on with resumption as the
// agent does (agent/xmpp/xmpp_transport.cpp), "delay" registers gloox's
// DelayedDelivery extension as the agent does, "req" sends an SM ack
// request (<r/>) after every echo. "plain" is none of them.
int helper_echo(int port, const std::string& ca, const std::string& jid, const std::string& pw,
                const std::string& flags) {
  auto has = [&](const std::string& f) { return ("+" + flags + "+").find("+" + f + "+") != std::string::npos; };
  BenchClient c(jid, pw, port, ca, "echo");
  if (has("sm")) c.client().setStreamManagement(true, true);
  if (has("delay")) c.client().registerStanzaExtension(new gloox::DelayedDelivery());
  const bool req = has("req");
  c.on_message = [&](const gloox::Message& m, Clock::time_point) {
    gloox::Message r(gloox::Message::Chat, m.from(), m.body());
    c.client().send(r);
    if (req) c.client().reqStreamManagement();
  };
  if (!c.connect(10s)) return 1;
  std::printf("ready\n");
  std::fflush(stdout);
  // Until the bench closes our stdin (or dies: PR_SET_PDEATHSIG).
  for (;;) {
    pollfd p[2] = {{c.fd(), POLLIN, 0}, {0, POLLIN, 0}};
    if (poll(p, 2, 1000) < 0 && errno != EINTR) return 1;
    if (p[1].revents) return 0;
    if (!c.recv(0)) return 1;
  }
}

int helper_flood(int port, const std::string& ca, const std::string& jid, const std::string& pw, const std::string& to,
                 long count, double max_seconds) {
  BenchClient c(jid, pw, port, ca, "flood");
  long refusals = 0;
  c.on_message = [&](const gloox::Message&, Clock::time_point) { ++refusals; };
  if (!c.connect(10s)) return 1;
  std::printf("ready\n");
  std::fflush(stdout);
  char go[16];
  if (!std::fgets(go, sizeof go, stdin)) return 1;
  const auto t0 = Clock::now();
  const gloox::JID target(to);
  long sent = 0;
  for (; sent < count && c.up(); ++sent) {
    c.send_chat(target, "status");
    if (sent % 256 == 0) {
      c.recv(0);  // whatever the server sends back must not pile up
      if (seconds_since(t0) > max_seconds) break;
    }
  }
  const double send_s = seconds_since(t0);
  // A round trip to the server: once it answers, it has routed every
  // message before it to the agent's stream.
  bool ponged = false;
  struct Pong : gloox::EventHandler {
    bool* flag;
    void handleEvent(const gloox::Event& e) override {
      if (e.eventType() == gloox::Event::PingPong) *flag = true;
    }
  } pong;
  pong.flag = &ponged;
  c.client().xmppPing(gloox::JID("test.local"), &pong);
  const auto deadline = Clock::now() + std::chrono::duration<double>(std::max(5.0, max_seconds - send_s));
  while (!ponged && c.up() && Clock::now() < deadline) c.recv(20'000);
  std::printf("done %ld %.3f %.3f %ld %d\n", sent, send_s, seconds_since(t0), refusals, ponged ? 1 : 0);
  std::fflush(stdout);
  char bye[16];
  while (std::fgets(bye, sizeof bye, stdin)) {
  }
  return 0;
}

// ---------------------------------------------------------------------------
// Round-trip mode.

// Sends `body` to `to` from `c` and waits for the first message from `to`'s
// bare JID; the latency in ms, or nothing after `timeout`.
std::optional<double> round_trip(BenchClient& c, const gloox::JID& to, const std::string& body,
                                 std::chrono::milliseconds timeout, std::string* reply) {
  c.inbox.clear();
  const auto t0 = Clock::now();
  c.send_chat(to, body);
  const auto deadline = t0 + timeout;
  for (;;) {
    while (!c.inbox.empty()) {
      Received r = std::move(c.inbox.front());
      c.inbox.pop_front();
      if (r.from_bare != to.bare()) continue;
      if (reply) *reply = std::move(r.body);
      return std::chrono::duration<double, std::milli>(r.at - t0).count();
    }
    if (Clock::now() >= deadline || !c.up()) return std::nullopt;
    c.recv(10'000);
  }
}

int run_rtt(Options opt) {
  if (opt.admins < 0) opt.admins = 100;
  if (opt.admins < 1 || opt.queries < 1) die("--admins and the query count must be positive");
  const long warmup = std::min(200L, std::max(1L, opt.queries / 20));
  const long total = opt.queries + warmup;
  // The agent's limit is 20 per 10 s per admin; stay clearly below it.
  constexpr size_t kPerWindow = 18;
  constexpr auto kWindow = 10500ms;
  // Each admin may send kPerWindow at once, then kPerWindow per window.
  const double windows = std::ceil(static_cast<double>(total) / static_cast<double>(opt.admins * kPerWindow)) - 1;
  const double min_seconds = windows * std::chrono::duration<double>(kWindow).count();
  std::printf(
      "round trips: %ld status queries to each target (+%ld warm-up), %d admins; "
      "the agent's per-admin rate limit makes this take at least %.0f s\n",
      opt.queries, warmup, opt.admins, min_seconds);
  if (min_seconds > opt.max_seconds)
    die("that exceeds --max-seconds " + std::to_string(opt.max_seconds) + "; use more --admins");

  // The echo the goal is measured against (plain gloox, no XEP-0198), one
  // set up as the agent's client is (SM, DelayedDelivery registered), to
  // tell the cost of that setup from the cost of the agent's own work, and
  // any --echo FLAGS variants.
  std::vector<std::string> echo_flags = {"plain", "sm+delay"};
  echo_flags.insert(echo_flags.end(), opt.extra_echoes.begin(), opt.extra_echoes.end());
  std::vector<std::string> echo_users;
  for (size_t j = 0; j < echo_flags.size(); ++j) echo_users.push_back("echo" + std::to_string(j));
  Bench b(opt);
  b.setup(echo_users);
  std::vector<std::unique_ptr<Child>> echoes;
  for (size_t j = 0; j < echo_flags.size(); ++j) {
    echoes.push_back(std::make_unique<Child>());
    b.start_helper(*echoes.back(),
                   {"--helper-echo", std::to_string(b.server.port()), b.server.ca_file(), echo_users[j] + "@test.local",
                    echo_users[j] + "-pw", echo_flags[j]},
                   echo_users[j]);
  }

  struct Target {
    std::string name;
    gloox::JID jid;
    pid_t pid;
    std::vector<double> ms;
    long lost = 0, answered = 0;
    ProcFigures before{}, after{};
  };
  std::vector<Target> targets;
  targets.push_back({"agent status", gloox::JID("agent@test.local"), b.agent.pid(), {}});
  for (size_t j = 0; j < echo_flags.size(); ++j)
    targets.push_back({"echo " + echo_flags[j], gloox::JID(echo_users[j] + "@test.local"), echoes[j]->pid(), {}});
  const size_t n_targets = targets.size();
  for (auto& t : targets) {
    t.ms.reserve(static_cast<size_t>(opt.queries));
    t.before = proc_figures(t.pid);
  }
  std::vector<std::deque<Clock::time_point>> sent_at(static_cast<size_t>(opt.admins));
  long paced = 0;
  std::string reply, first_reply;
  std::printf("load average before: %s\n", loadavg().c_str());
  const auto t0 = Clock::now();
  long i = 0;
  for (; i < total; ++i) {
    if (seconds_since(t0) > opt.max_seconds) {
      std::printf("stopped after --max-seconds %.0f at query %ld\n", opt.max_seconds, i);
      break;
    }
    const size_t k = static_cast<size_t>(i % opt.admins);
    auto& window = sent_at[k];
    while (!window.empty() && Clock::now() - window.front() >= kWindow) window.pop_front();
    if (window.size() >= kPerWindow) {
      ++paced;
      auto until = window.front() + kWindow;
      while (Clock::now() < until) {  // keep the sockets drained while waiting
        b.pump_all();
        std::this_thread::sleep_for(std::min<Clock::duration>(until - Clock::now(), 5ms));
      }
      window.pop_front();
    }
    BenchClient& c = *b.clients[k];
    for (size_t leg = 0; leg < n_targets; ++leg) {
      // Rotate who goes first: every target takes every place equally often.
      Target& t = targets[(static_cast<size_t>(i) + leg) % n_targets];
      const bool to_agent = &t == &targets[0];
      if (to_agent) window.push_back(Clock::now());
      auto ms = round_trip(c, t.jid, "status", 2s, &reply);
      if (!ms) {
        if (++t.lost > 20) die("more than 20 queries to " + t.name + " unanswered");
        continue;
      }
      ++t.answered;
      if (to_agent && reply.find("web1, up") != 0)
        die("unexpected answer from the agent (rate limited?): " + reply.substr(0, 200));
      if (to_agent && first_reply.empty()) first_reply = reply;
      if (i >= warmup) t.ms.push_back(*ms);
    }
  }
  const double elapsed = seconds_since(t0);
  for (auto& t : targets) t.after = proc_figures(t.pid);
  std::printf("load average after: %s\n", loadavg().c_str());

  std::printf("\n%ld rounds of %zu queries in %.1f s (%ld paced waits for the agent's rate limit); lost:", i, n_targets,
              elapsed, paced);
  for (auto& t : targets) std::printf(" %s %ld;", t.name.c_str(), t.lost);
  std::printf("\nthe agent's reply to status (%zu bytes):\n  %s\n\n", first_reply.size(), first_reply.c_str());
  std::printf("%-20s %7s %10s %10s %10s %10s %10s %12s %16s\n", "round trip", "n", "median ms", "p90 ms", "p99 ms",
              "max ms", "mean ms", "CPU us/query", "VmRSS kB");
  std::vector<Stats> st;
  for (auto& t : targets) {
    st.push_back(stats_of(t.ms));
    const Stats& x = st.back();
    std::printf("%-20s %7zu %10.3f %10.3f %10.3f %10.3f %10.3f %12.1f %7ld->%ld\n", t.name.c_str(), x.n, x.median,
                x.p90, x.p99, x.max, x.mean,
                1e6 * (t.after.cpu_s - t.before.cpu_s) / static_cast<double>(std::max(1L, t.answered)), t.before.rss_kb,
                t.after.rss_kb);
  }
  for (size_t j = 1; j < n_targets; ++j)
    std::printf("%-20s %7s %10.3f %10.3f %10.3f\n", ("agent - " + targets[j].name).c_str(), "",
                st[0].median - st[j].median, st[0].p90 - st[j].p90, st[0].p99 - st[j].p99);
  const double overhead = st[0].median - st[1].median;
  std::printf("\nagent adds %.3f ms at the median over the plain echo (goal < 0.100 ms): %s\n", overhead,
              overhead < 0.1 ? "met" : "NOT met");
  std::printf("(CPU from /proc/PID/stat in %ld Hz ticks, so +-%.1f us per query at this count)\n", sysconf(_SC_CLK_TCK),
              1e6 / static_cast<double>(sysconf(_SC_CLK_TCK)) / static_cast<double>(std::max(1L, i)));
  for (auto& e : echoes) e->stop();
  long lost = 0;
  for (auto& t : targets) lost += t.lost;
  return lost == 0 ? 0 : 2;
}

// ---------------------------------------------------------------------------
// Flood mode.

int run_flood(Options opt) {
  if (opt.admins < 0) opt.admins = 6;
  if (opt.admins < 1 || opt.interval_ms < 1 || opt.messages < 0) die("bad --admins/--interval-ms/--messages");
  if (1000.0 / opt.interval_ms / opt.admins * 10 > 18)
    std::printf("warning: %d admins pinging every %d ms exceed the agent's 20 commands per 10 s per admin\n",
                opt.admins, opt.interval_ms);
  Bench b(opt);
  b.setup({"stranger"});
  Child flooder;
  b.start_helper(
      flooder,
      {"--helper-flood", std::to_string(b.server.port()), b.server.ca_file(), "stranger@test.local", "stranger-pw",
       "agent@test.local", std::to_string(opt.messages), std::to_string(std::max(10.0, opt.max_seconds - 30))},
      "flood");

  const gloox::JID agent_jid("agent@test.local");
  struct Ping {
    Clock::time_point sent;
    int phase;  // 0 before, 1 during, 2 after the flood
  };
  std::vector<std::deque<Ping>> in_flight(static_cast<size_t>(opt.admins));
  std::vector<double> lat[3];
  long sent[3] = {0, 0, 0}, other_replies = 0;
  int phase = 0;
  long next_admin = 0;
  auto next_ping = Clock::now();
  const auto interval = std::chrono::milliseconds(opt.interval_ms);
  const auto start = Clock::now();
  Clock::time_point flood_start{}, flood_done{}, caught_up{};
  std::string done_line;
  ProcFigures before{}, at_done{}, after{};
  std::vector<pollfd> fds;

  // One step of the ping loop: send a due ping, read replies, wait a little.
  auto step = [&] {
    const auto now = Clock::now();
    if (now >= next_ping) {
      const size_t k = static_cast<size_t>(next_admin++ % opt.admins);
      in_flight[k].push_back({Clock::now(), phase});
      b.clients[k]->send_chat(agent_jid, "ping");
      ++sent[phase];
      next_ping += interval;
      if (next_ping < now) next_ping = now + interval;  // we fell behind: no burst
    }
    for (size_t k = 0; k < b.clients.size(); ++k) {
      auto& c = *b.clients[k];
      c.recv(0);
      while (!c.inbox.empty()) {
        Received r = std::move(c.inbox.front());
        c.inbox.pop_front();
        if (r.from_bare != "agent@test.local") continue;
        if (r.body != "pong" || in_flight[k].empty()) {
          ++other_replies;
          continue;
        }
        Ping p = in_flight[k].front();
        in_flight[k].pop_front();
        lat[p.phase].push_back(std::chrono::duration<double, std::milli>(r.at - p.sent).count());
        if (p.phase == 2 && caught_up == Clock::time_point{}) caught_up = r.at;
      }
    }
    fds.clear();
    for (auto& c : b.clients) fds.push_back({c->fd(), POLLIN, 0});
    if (flooder.out_fd() >= 0) fds.push_back({flooder.out_fd(), POLLIN, 0});
    auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(next_ping - Clock::now()).count();
    poll(fds.data(), fds.size(), static_cast<int>(std::clamp<long>(wait_ms, 0, 5)));
  };
  auto over_time = [&] { return seconds_since(start) > opt.max_seconds; };

  std::printf("load average before: %s\n", loadavg().c_str());
  // Before: a quiet second of pings, then the baseline.
  while (seconds_since(start) < 2.0) step();
  before = proc_figures(b.agent.pid());

  phase = 1;
  flood_start = Clock::now();
  flooder.write_line("go");
  while (!over_time()) {
    step();
    if (auto line = flooder.read_line(0ms)) {
      done_line = *line;
      break;
    }
  }
  flood_done = Clock::now();
  at_done = proc_figures(b.agent.pid());

  // After: pings until one sent now is answered (the agent has caught up
  // with the flood), then two more seconds.
  phase = 2;
  const auto after_start = Clock::now();
  while (!over_time() && caught_up == Clock::time_point{} && seconds_since(after_start) < 120) step();
  const auto settle = Clock::now();
  while (!over_time() && seconds_since(settle) < 2.0) step();
  after = proc_figures(b.agent.pid());
  long unanswered[3] = {0, 0, 0};
  for (auto& q : in_flight)
    for (auto& p : q) ++unanswered[p.phase];

  std::printf("load average after: %s\n", loadavg().c_str());
  long f_sent = 0, f_refusals = 0;
  int f_ponged = 0;
  double f_send_s = 0, f_total_s = 0;
  std::sscanf(done_line.c_str(), "done %ld %lf %lf %ld %d", &f_sent, &f_send_s, &f_total_s, &f_refusals, &f_ponged);

  std::printf(
      "\nflood: %ld of %ld messages from stranger@test.local written in %.2f s (%.0f msg/s); "
      "server had routed them all after %.2f s%s; the stranger got %ld refusal(s)\n",
      f_sent, opt.messages, f_send_s, f_send_s > 0 ? static_cast<double>(f_sent) / f_send_s : 0.0, f_total_s,
      f_ponged ? "" : " (server round trip NOT confirmed)", f_refusals);
  if (done_line.empty()) std::printf("flood: the helper did not finish within --max-seconds\n");
  std::printf("admin pings every %d ms over %d admins:\n", opt.interval_ms, opt.admins);
  std::printf("%-22s %6s %8s %10s %10s %10s %10s\n", "phase", "sent", "answered", "median ms", "p99 ms", "max ms",
              "lost");
  const char* names[3] = {"before (2 s)", "during the flood", "after, until caught up"};
  for (int p = 0; p < 3; ++p) {
    Stats s = stats_of(lat[p]);
    std::printf("%-22s %6ld %8zu %10.3f %10.3f %10.3f %10ld\n", names[p], sent[p], s.n, s.median, s.p99, s.max,
                unanswered[p]);
  }
  if (other_replies) std::printf("other replies from the agent (e.g. 'slow down'): %ld\n", other_replies);
  if (caught_up != Clock::time_point{})
    std::printf("the agent answered a ping sent after the flood %.2f s after the flood ended\n",
                std::chrono::duration<double>(caught_up - flood_done).count());
  else
    std::printf("the agent did NOT answer a ping sent after the flood\n");
  std::printf("agent VmRSS: before %ld kB, at the end of the flood %ld kB, after %ld kB; VmHWM %ld kB -> %ld kB\n",
              before.rss_kb, at_done.rss_kb, after.rss_kb, before.hwm_kb, after.hwm_kb);
  std::printf("agent CPU during flood + catch-up: %.2f s (%.1f us per flood message)\n", after.cpu_s - before.cpu_s,
              f_sent ? 1e6 * (after.cpu_s - before.cpu_s) / static_cast<double>(f_sent) : 0.0);
  std::printf("flood duration: %.2f s\n", std::chrono::duration<double>(flood_done - flood_start).count());
  flooder.stop();
  return lat[1].empty() && sent[1] > 0 ? 2 : 0;
}

void usage() {
  std::printf(
      "usage: chat_rtt_bench [N] [--admins K] [--max-seconds S] [--echo FLAGS]... [--agent PATH]\n"
      "       chat_rtt_bench --flood [--messages M] [--interval-ms MS] [--admins K] [--max-seconds S]\n"
      "N: status queries to the agent and to each echo client (default 10000).\n"
      "K: admin accounts the queries rotate over (default 100; 6 with --flood): the agent answers\n"
      "   at most 20 commands per 10 s per admin.\n"
      "S: bound on the measuring loops (default 900).\n"
      "FLAGS: one more echo client to measure, configured with sm, delay, req joined by '+'\n"
      "   (see helper_echo); 'plain' and 'sm+delay' (set up like the agent) are always measured.\n"
      "PATH: the imwatch binary to measure (default: the one built with this bench).\n"
      "The agent reads the real /proc, as in production; its only rule (memory > 99%%) stays quiet.\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "--helper-echo" && args.size() == 6)
    return helper_echo(std::atoi(args[1].c_str()), args[2], args[3], args[4], args[5]);
  if (!args.empty() && args[0] == "--helper-flood" && args.size() == 8)
    return helper_flood(std::atoi(args[1].c_str()), args[2], args[3], args[4], args[5], std::atol(args[6].c_str()),
                        std::atof(args[7].c_str()));
  signal(SIGPIPE, SIG_IGN);
  Options opt;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) die(a + " needs a value");
      return args[++i];
    };
    if (a == "--flood")
      opt.flood = true;
    else if (a == "--admins")
      opt.admins = std::atoi(value().c_str());
    else if (a == "--messages")
      opt.messages = std::atol(value().c_str());
    else if (a == "--interval-ms")
      opt.interval_ms = std::atoi(value().c_str());
    else if (a == "--max-seconds")
      opt.max_seconds = std::atof(value().c_str());
    else if (a == "--queries")
      opt.queries = std::atol(value().c_str());
    else if (a == "--echo")
      opt.extra_echoes.push_back(value());
    else if (a == "--agent")
      opt.agent = value();
    else if (a == "-h" || a == "--help") {
      usage();
      return 0;
    } else if (!a.empty() && std::isdigit(static_cast<unsigned char>(a[0])))
      opt.queries = std::atol(a.c_str());
    else {
      usage();
      return 1;
    }
  }
  setvbuf(stdout, nullptr, _IOLBF, 0);
  try {
    return opt.flood ? run_flood(opt) : run_rtt(opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "chat_rtt_bench: %s\n", e.what());
    return 1;
  }
}

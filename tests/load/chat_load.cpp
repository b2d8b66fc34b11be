// Load on the agent over XMPP: admin sessions asking `status` in a closed
// loop while a non-admin floods the agent, and a rule that must still fire
// on time. Not part of ctest; the --short run is for CI. --help for options.
//
// Setup: a private prosody on 127.0.0.1 (tests/support/prosody_server.h),
// the agent binary reading a private copy of tests/fixtures/proc/current
// (loadavg sampled every 1 s), accounts for the admins and one stranger.
//
// Sessions: --sessions (20) closed loops. Each sends `status`, waits for the
// reply, sends the next: "as fast as the agent answers". The agent answers
// at most 20 commands per 10 s per admin JID (agent/chat.h; not
// configurable, and not weakened for a benchmark), so each session rotates
// over --accounts-per-session accounts of its own, each paced to 18 queries
// per 10.5 s (as chat_rtt_bench does). With 1 account per session the run
// measures the production limit (20 admins: at most 40 queries/s); with
// enough accounts the agent, prosody and the machine are the limit. The
// report says how often a session had to wait for the pacing: if it did,
// the figure is bounded by the accounts, not by the agent.
//
// Flood: a child process (this binary, --helper-flood) logs in as
// stranger@test.local and sends --messages (100,000) chat messages as fast
// as it can, starting with the sessions.
//
// Alert: --alert-after (3 s) into the run, the fixture's loadavg is
// rewritten to load1 = 200; the rule `flood_load: load1 > 100 for 2s` must
// fire. The delay is measured from the rewrite to the first admin receiving
// the alert, and to the last of all admin accounts (every admin gets every
// notification). Without load it is at most interval + for = 3 s.
//
// Report: queries answered per second, latency p50/p99/max, the agent's CPU
// (seconds and % of one core, /proc/PID/stat) and VmRSS/VmHWM before and
// after, the alert's delay, queries sent vs answered, the flood's figures,
// the load average. Exit 1 if the alert does not reach every admin within
// interval + for + 5 s (the margin allows for a loaded 2-core machine; an
// agent whose loop the flood starves misses it by far more), or if any
// admin query goes unanswered (10 s per query). Nothing else is asserted.
//
// Every process (prosody, agent, flooder) dies with this program
// (PR_SET_PDEATHSIG) and is stopped by its PID; every loop is bounded in
// count and time (--max-seconds).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
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
#include <gloox/event.h>
#include <gloox/eventhandler.h>
#include <gloox/message.h>
#include <gloox/messagehandler.h>

#include "agent/xmpp/tcp_nodelay.h"
#include "agent/xmpp/tls_gnutls.h"
#include "tests/bench/bench_xmpp.h"
#include "tests/fixture_tree.h"
#include "tests/support/prosody_server.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

using namespace imwatch::bench;

const std::string kBinary = IMWATCH_BINARY;
const std::string kFixtures = IMWATCH_FIXTURES;
constexpr double kProbeInterval = 1, kFor = 2, kAlertMargin = 5;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}
[[noreturn]] void die(const std::string& what) { throw std::runtime_error(what); }

double quantile(const std::vector<double>& sorted, double p) {  // nearest rank
  if (sorted.empty()) return NAN;
  size_t r = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(r, 1, sorted.size()) - 1];
}

// ---------------------------------------------------------------------------
// The flooder (a child process): connects, says "ready", waits for "go",
// sends `count` messages, confirms with a server ping that the server has
// routed them all, says "done SENT SEND_S TOTAL_S REFUSALS PONGED".
int helper_flood(int port, const std::string& ca, long count, double max_seconds) {
  BenchClient c("stranger@test.local", "stranger-pw", port, ca, "flood");
  long refusals = 0;
  c.on_message = [&](const gloox::Message&, Clock::time_point) { ++refusals; };
  if (!c.start_connect()) return 1;
  const auto t_conn = Clock::now();
  while (!c.up() && !c.failed() && seconds_since(t_conn) < 20) c.recv(20'000);
  if (!c.up()) return 1;
  std::printf("ready\n");
  std::fflush(stdout);
  char go[16];
  if (!std::fgets(go, sizeof go, stdin)) return 1;
  const auto t0 = Clock::now();
  const gloox::JID target("agent@test.local");
  long sent = 0;
  for (; sent < count && c.up(); ++sent) {
    c.send_chat(target, "status");
    if (sent % 256 == 0) {
      c.recv(0);  // what the server sends back must not pile up
      if (seconds_since(t0) > max_seconds) break;
    }
  }
  const double send_s = seconds_since(t0);
  bool ponged = false;
  struct Pong : gloox::EventHandler {
    bool* flag = nullptr;
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
struct Options {
  bool short_mode = false;
  int sessions = 20;
  int accounts_per_session = -1;  // default: 40, or 4 with --short
  long messages = -1;             // default: 100000, or 10000 with --short
  double alert_after = 3;
  double min_seconds = -1;  // default: 20, or 10 with --short
  double max_seconds = 600;
};

std::string admin_name(int i) {
  char b[32];
  std::snprintf(b, sizeof b, "admin%04d", i);
  return b;
}

int run(Options opt) {
  if (opt.accounts_per_session < 0) opt.accounts_per_session = opt.short_mode ? 4 : 40;
  if (opt.messages < 0) opt.messages = opt.short_mode ? 10'000 : 100'000;
  if (opt.min_seconds < 0) opt.min_seconds = opt.short_mode ? 10 : 20;
  if (opt.sessions < 1 || opt.accounts_per_session < 1 || opt.messages < 0 || opt.alert_after < 0)
    die("--sessions and --accounts-per-session must be positive");
  const int n_accounts = opt.sessions * opt.accounts_per_session;
  const auto t_setup = Clock::now();

  imwatch::test::ProsodyServer server;
  if (!server.ok()) die("prosody setup: " + server.error());
  if (!server.start()) die("prosody: " + server.error());
  std::vector<std::string> users = {"agent", "stranger"};
  for (int i = 0; i < n_accounts; ++i) users.push_back(admin_name(i));
  for (const auto& u : users)
    if (!server.register_user(u, u + "-pw")) die("register " + u + ": " + server.error());
  std::printf("prosody %d on 127.0.0.1:%d, %zu accounts registered in %.1f s\n", server.pid(), server.port(),
              users.size(), seconds_since(t_setup));

  const std::string dir = server.dir() + "/load";
  fs::create_directories(dir);
  fs::copy(kFixtures + "/proc/current", dir + "/proc", fs::copy_options::recursive);
  const std::string loadavg_file = dir + "/proc/loadavg";
  imwatch::test::replace_file(loadavg_file, "0.84 0.71 0.65 2/412 3124605\n");
  std::ofstream(dir + "/password") << "agent-pw\n";
  {
    std::ofstream conf(dir + "/imwatch.conf");
    conf << "proc-root = " << dir << "/proc\nstate-dir = " << dir << "/state\nhostname = web1\nlog-level = info\n"
         << "[probe.loadavg]\ninterval = 1s\n[alert]\nrule = flood_load: load1 > 100 for 2s\n[xmpp]\n"
         << "jid = agent@test.local\npassword_file = " << dir << "/password\nhost = 127.0.0.1\nport = " << server.port()
         << "\nresource = web1\nca_file = " << server.ca_file() << "\n";
    for (int i = 0; i < n_accounts; ++i) conf << "admin = " << admin_name(i) << "@test.local\n";
  }
  const std::string agent_log = dir + "/agent.log";
  Child agent;
  if (!agent.start({kBinary, "--config", dir + "/imwatch.conf"}, agent_log, false)) die("cannot start the agent");
  if (!wait_for_log(agent_log, "xmpp: connected", 30s)) die("the agent did not connect; see " + agent_log);

  // Admin connections, all dialled at once, then driven until bound.
  std::vector<std::unique_ptr<BenchClient>> clients;
  for (int i = 0; i < n_accounts; ++i) {
    clients.push_back(std::make_unique<BenchClient>(admin_name(i) + "@test.local", admin_name(i) + "-pw", server.port(),
                                                    server.ca_file(), "load"));
    if (!clients.back()->start_connect()) die("admin " + admin_name(i) + " could not dial");
  }
  {
    const auto t0 = Clock::now();
    size_t up = 0;
    while (seconds_since(t0) < 60) {
      up = 0;
      for (auto& c : clients) {
        if (!c->up()) c->recv(0);
        if (c->failed()) die("an admin connection failed");
        up += c->up();
      }
      if (up == clients.size()) break;
      std::this_thread::sleep_for(1ms);
    }
    if (up != clients.size()) die("only " + std::to_string(up) + " admin connections came up within 60 s");
  }
  Child flooder;
  {
    std::vector<std::string> argv = {fs::read_symlink("/proc/self/exe").string(),
                                     "--helper-flood",
                                     std::to_string(server.port()),
                                     server.ca_file(),
                                     std::to_string(opt.messages),
                                     std::to_string(std::max(10.0, opt.max_seconds - 30))};
    if (!flooder.start(argv, dir + "/flood.log", true)) die("cannot start the flooder");
    auto line = flooder.read_line(20s);
    if (!line || *line != "ready") die("the flooder did not get ready; see " + dir + "/flood.log");
  }
  std::printf("agent %d and %d admin connections (%d sessions x %d accounts) up in %.1f s\n", agent.pid(), n_accounts,
              opt.sessions, opt.accounts_per_session, seconds_since(t_setup));

  // ---- the run
  constexpr size_t kPerWindow = 18;
  constexpr auto kWindow = 10500ms;
  constexpr auto kQueryTimeout = 10s;
  struct Account {
    int session;
    std::deque<Clock::time_point> window;
    Clock::time_point alert_at{};
  };
  struct Session {
    std::vector<int> accounts;
    size_t next = 0;
    int waiting_on = -1;  // account index
    Clock::time_point sent_at{};
    long sent = 0, answered = 0, lost = 0;
    Clock::time_point paced_since{};  // waiting for the pacing since
    double paced_s = 0;
  };
  std::vector<Account> accounts(static_cast<size_t>(n_accounts));
  std::vector<Session> sessions(static_cast<size_t>(opt.sessions));
  for (int i = 0; i < n_accounts; ++i) {
    accounts[static_cast<size_t>(i)].session = i % opt.sessions;
    sessions[static_cast<size_t>(i % opt.sessions)].accounts.push_back(i);
  }
  std::vector<double> lat_ms;
  lat_ms.reserve(200'000);
  long other_messages = 0, stray_replies = 0;
  std::string first_other;
  bool sending = true;
  Clock::time_point t_change{}, alert_first{}, flood_done{};
  int alert_received = 0;
  const gloox::JID agent_jid("agent@test.local");

  for (int i = 0; i < n_accounts; ++i) {
    clients[static_cast<size_t>(i)]->on_message = [&, i](const gloox::Message& m, Clock::time_point at) {
      const std::string body = m.body();
      Account& a = accounts[static_cast<size_t>(i)];
      Session& s = sessions[static_cast<size_t>(a.session)];
      if (body.starts_with("web1, up")) {
        if (s.waiting_on != i) {
          ++stray_replies;  // the answer to a query already given up on
          return;
        }
        lat_ms.push_back(ms_between(s.sent_at, at));
        ++s.answered;
        s.waiting_on = -1;
      } else if (body.find("WARNING flood_load") != std::string::npos && t_change != Clock::time_point{}) {
        if (a.alert_at == Clock::time_point{}) {
          a.alert_at = at;
          if (alert_received++ == 0) alert_first = at;
        }
      } else {
        if (first_other.empty()) first_other = body.substr(0, 200);
        ++other_messages;  // e.g. "slow down": the pacing failed
      }
    };
  }

  std::printf("load average before: %s\n", loadavg().c_str());
  const ProcFigures before = proc_figures(agent.pid()), prosody_before = proc_figures(server.pid());
  const ProcFigures self_before = proc_figures(getpid());
  const auto t0 = Clock::now();
  flooder.write_line("go");
  std::string done_line;
  std::vector<pollfd> fds;
  Clock::time_point t_stop{};
  auto all_alerted = [&] { return alert_received == n_accounts; };

  while (seconds_since(t0) < opt.max_seconds) {
    const auto now = Clock::now();
    if (t_change == Clock::time_point{} && now - t0 >= std::chrono::duration<double>(opt.alert_after)) {
      imwatch::test::replace_file(loadavg_file, "200.00 0.71 0.65 2/412 3124605\n");
      t_change = Clock::now();
    }
    if (sending && flood_done != Clock::time_point{} && seconds_since(t0) >= opt.min_seconds &&
        (all_alerted() || seconds_since(t_change) > kProbeInterval + kFor + kAlertMargin + 5)) {
      sending = false;
      t_stop = Clock::now();
    }
    bool busy = false;
    for (auto& s : sessions) {
      if (s.waiting_on >= 0) {
        busy = true;
        if (now - s.sent_at > kQueryTimeout) {
          ++s.lost;
          s.waiting_on = -1;
        }
        continue;
      }
      if (!sending) continue;
      // The next account of this session with room in its pacing window.
      bool found = false;
      for (size_t k = 0; k < s.accounts.size() && !found; ++k) {
        const int ai = s.accounts[(s.next + k) % s.accounts.size()];
        auto& w = accounts[static_cast<size_t>(ai)].window;
        while (!w.empty() && now - w.front() >= kWindow) w.pop_front();
        if (w.size() >= kPerWindow) continue;
        found = true;
        if (s.paced_since != Clock::time_point{}) {
          s.paced_s += std::chrono::duration<double>(now - s.paced_since).count();
          s.paced_since = {};
        }
        s.next = (s.next + k + 1) % s.accounts.size();
        w.push_back(now);
        s.waiting_on = ai;
        s.sent_at = Clock::now();
        ++s.sent;
        busy = true;
        clients[static_cast<size_t>(ai)]->send_chat(agent_jid, "status");
      }
      if (!found && s.paced_since == Clock::time_point{}) s.paced_since = now;
    }
    if (!sending && !busy && (all_alerted() || seconds_since(t_change) > kProbeInterval + kFor + kAlertMargin + 5))
      break;
    // Read what arrived: every socket that poll() calls readable, and the
    // connections a session waits on even so (TLS may hold a whole record).
    fds.clear();
    for (auto& c : clients) fds.push_back({c->fd(), POLLIN, 0});
    fds.push_back({flooder.out_fd(), POLLIN, 0});
    poll(fds.data(), fds.size(), 1);
    for (size_t i = 0; i < clients.size(); ++i)
      if (fds[i].revents) clients[i]->recv(0);
    for (auto& s : sessions)
      if (s.waiting_on >= 0) clients[static_cast<size_t>(s.waiting_on)]->recv(0);
    if (fds.back().revents && done_line.empty()) {
      if (auto line = flooder.read_line(0ms)) {
        done_line = *line;
        flood_done = Clock::now();
      }
    }
  }
  const double run_s = seconds_since(t0);
  const auto t_send_end = t_stop == Clock::time_point{} ? Clock::now() : t_stop;
  const double send_window_s = std::chrono::duration<double>(t_send_end - t0).count();
  const ProcFigures after = proc_figures(agent.pid()), prosody_after = proc_figures(server.pid());
  const ProcFigures self_after = proc_figures(getpid());
  std::printf("load average after: %s\n", loadavg().c_str());

  // ---- report
  long sent = 0, answered = 0, lost = 0, in_flight = 0;
  double paced = 0;
  for (auto& s : sessions) {
    sent += s.sent;
    answered += s.answered;
    lost += s.lost;
    if (s.paced_since != Clock::time_point{})
      s.paced_s += std::chrono::duration<double>(t_send_end - s.paced_since).count();
    paced += s.paced_s;
    in_flight += s.waiting_on >= 0;
  }
  std::sort(lat_ms.begin(), lat_ms.end());
  long f_sent = 0, f_refusals = 0;
  int f_ponged = 0;
  double f_send_s = 0, f_total_s = 0;
  std::sscanf(done_line.c_str(), "done %ld %lf %lf %ld %d", &f_sent, &f_send_s, &f_total_s, &f_refusals, &f_ponged);
  double alert_first_s = NAN, alert_last_s = NAN;
  if (alert_received > 0) {
    alert_first_s = std::chrono::duration<double>(alert_first - t_change).count();
    Clock::time_point last = alert_first;
    for (auto& a : accounts)
      if (a.alert_at != Clock::time_point{}) last = std::max(last, a.alert_at);
    alert_last_s = std::chrono::duration<double>(last - t_change).count();
  }
  const double bound = kProbeInterval + kFor + kAlertMargin;

  std::printf("\n%s run: %d sessions x %d accounts (each paced to %zu queries per %.1f s), %ld stranger messages\n",
              opt.short_mode ? "short" : "full", opt.sessions, opt.accounts_per_session, kPerWindow,
              std::chrono::duration<double>(kWindow).count(), opt.messages);
  std::printf(
      "admin queries: %ld sent, %ld answered, %ld unanswered (10 s), %ld in flight at the end; "
      "%.0f answered/s over %.1f s of sending\n",
      sent, answered, lost, in_flight, static_cast<double>(answered) / send_window_s, send_window_s);
  std::printf("latency ms: p50 %.3f  p90 %.3f  p99 %.3f  max %.3f  (n %zu)\n", quantile(lat_ms, 0.5),
              quantile(lat_ms, 0.9), quantile(lat_ms, 0.99), lat_ms.empty() ? NAN : lat_ms.back(), lat_ms.size());
  std::printf(
      "sessions spent %.1f%% of the sending time waiting for their accounts' pacing (0: the agent, "
      "not the accounts, set the pace)\n",
      100 * paced / (send_window_s * opt.sessions));
  if (other_messages) std::printf("other messages to admins: %ld, first: %s\n", other_messages, first_other.c_str());
  if (stray_replies) std::printf("replies that came after their query was given up: %ld\n", stray_replies);
  std::printf(
      "flood: %ld of %ld messages sent in %.2f s (%.0f msg/s); the server had routed them all after %.2f s%s; "
      "the stranger got %ld refusal(s)\n",
      f_sent, opt.messages, f_send_s, f_send_s > 0 ? static_cast<double>(f_sent) / f_send_s : 0.0, f_total_s,
      f_ponged ? "" : " (NOT confirmed)", f_refusals);
  if (done_line.empty()) std::printf("flood: the flooder did not finish\n");
  std::printf(
      "alert: fixture changed %.1f s into the run; first admin had it after %.3f s, all %d of %d after "
      "%.3f s (bound: interval %.0f s + for %.0f s + margin %.0f s = %.0f s)\n",
      std::chrono::duration<double>(t_change - t0).count(), alert_first_s, alert_received, n_accounts, alert_last_s,
      kProbeInterval, kFor, kAlertMargin, bound);
  const double agent_cpu = after.cpu_s - before.cpu_s;
  std::printf("agent CPU: %.2f s over %.1f s = %.1f%% of one core; VmRSS %ld -> %ld kB, VmHWM %ld -> %ld kB\n",
              agent_cpu, run_s, 100 * agent_cpu / run_s, before.rss_kb, after.rss_kb, before.hwm_kb, after.hwm_kb);
  std::printf("prosody CPU: %.2f s (%.1f%%); this load client: %.2f s (%.1f%%); flooder not counted\n",
              prosody_after.cpu_s - prosody_before.cpu_s, 100 * (prosody_after.cpu_s - prosody_before.cpu_s) / run_s,
              self_after.cpu_s - self_before.cpu_s, 100 * (self_after.cpu_s - self_before.cpu_s) / run_s);

  std::vector<std::string> failures;
  if (alert_received == 0)
    failures.push_back("the alert never arrived");
  else if (alert_received < n_accounts)
    failures.push_back("the alert reached only " + std::to_string(alert_received) + " admins");
  else if (alert_last_s > bound)
    failures.push_back("the alert was late");
  if (lost || in_flight) failures.push_back("admin queries went unanswered");
  if (answered == 0) failures.push_back("no admin query was answered");
  if (done_line.empty()) failures.push_back("the flood did not complete");
  flooder.stop();
  agent.stop();
  for (const auto& f : failures) std::printf("FAIL: %s\n", f.c_str());
  std::printf("chat_load: %s\n", failures.empty() ? "PASS" : "FAIL");
  return failures.empty() ? 0 : 1;
}

void usage() {
  std::printf(
      "usage: chat_load [--short] [--sessions N] [--accounts-per-session K] [--messages M]\n"
      "                 [--alert-after S] [--min-seconds S] [--max-seconds S]\n"
      "N closed-loop admin sessions (default 20) ask `status`, each rotating over K accounts of its own\n"
      "(default 40, enough that the pacing never binds here; 4 with --short), each account paced to\n"
      "18 queries per 10.5 s (the agent answers 20 per 10 s per admin: K=1 measures that limit). A stranger sends M "
      "messages (default\n"
      "100000; 10000 with --short). S after the start (default 3) a rule is made to fire; it must reach\n"
      "every admin within 8 s. Sending lasts until the flood is done and at least --min-seconds (20; 10\n"
      "with --short). Exit 1 on a late alert or an unanswered admin query.\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "--helper-flood" && args.size() == 5)
    return helper_flood(std::atoi(args[1].c_str()), args[2], std::atol(args[3].c_str()), std::atof(args[4].c_str()));
  signal(SIGPIPE, SIG_IGN);
  Options opt;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) die(a + " needs a value");
      return args[++i];
    };
    try {
      if (a == "--short")
        opt.short_mode = true;
      else if (a == "--sessions")
        opt.sessions = std::stoi(value());
      else if (a == "--accounts-per-session")
        opt.accounts_per_session = std::stoi(value());
      else if (a == "--messages")
        opt.messages = std::stol(value());
      else if (a == "--alert-after")
        opt.alert_after = std::stod(value());
      else if (a == "--min-seconds")
        opt.min_seconds = std::stod(value());
      else if (a == "--max-seconds")
        opt.max_seconds = std::stod(value());
      else if (a == "-h" || a == "--help") {
        usage();
        return 0;
      } else {
        usage();
        return 2;
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "chat_load: %s: %s\n", a.c_str(), e.what());
      return 2;
    }
  }
  setvbuf(stdout, nullptr, _IOLBF, 0);
  try {
    return run(opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "chat_load: %s\n", e.what());
    return 1;
  }
}

// Soak: the real Daemon (agent/daemon.h) for N evaluation passes on a fake
// clock, watching its own RSS and open descriptors.
//
// What runs is the production loop: Daemon::start() then Daemon::run(), the
// probes reading a private copy of tests/fixtures/proc/current, the rule
// engine, the state store (saves really happen: temp file, fsync, rename),
// chat commands through Daemon::chat(), and SIGHUP reloads through the
// daemon's own signalfd. Only time is fake: the Waiter polls the daemon's
// descriptors without blocking (so SIGHUP/SIGINT work) and then moves the
// clock straight to the next due job. No agent seam was needed: the hook is
// Daemon::set_on_flush(), which run_daemon() uses for presence; here it runs
// once per pass, after the pass's notifications, and it
//   - counts passes and calls Daemon::stop() after --passes,
//   - rewrites the fixture tree on a 300-pass cycle (1 pass = 1 fake second)
//     so that rules fire, escalate, de-escalate, remind and resolve; every
//     20th cycle flaps a rule, every 10th breaks a probe's file for a while,
//   - sends chat commands from three admins (every command, a body over the
//     size limit, a burst past the rate limit) and from up to 3000 strangers
//     (past the 1024 the agent remembers),
//   - samples VmRSS (/proc/self/status) and the number of open descriptors
//     (/proc/self/fd) at the end of warm-up and at checkpoints.
//
// Exit 1 if, after warm-up, RSS ever exceeds the warm-up figure by more than
// --rss-tolerance-kb (default 256 kB: a leak of a quarter of a byte per
// pass over 900,000 passes), if the descriptor count changes at all, if the
// run did not do the work it claims (no alert fired, escalated, resolved,
// reminded, flapped; no probe failure; no state save; no reload; no chat
// replies of each kind), or if it did not finish within --max-seconds.
//
// The temp dir is on /dev/shm when it exists (--dir to choose): a state save
// fsyncs, and on this machine's disk that made the run disk-bound; the soak
// is about the agent's memory and descriptors, not the disk's latency.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "agent/config.h"
#include "agent/daemon.h"
#include "agent/event_loop.h"
#include "agent/messages.h"
#include "agent/notifier.h"
#include "probes/probes.h"
#include "tests/fixture_tree.h"

namespace fs = std::filesystem;
using namespace imwatch;

namespace {

const std::string kFixtures = IMWATCH_FIXTURES;

// Monotonic time starts at 1000 s, wall time at 2023-11-14; neither moves
// unless the loop waits. A wait first polls the descriptors (timeout 0: the
// daemon's signalfd, so SIGHUP and SIGINT are handled as in production),
// then jumps to the end of the wait: the next due job.
class JumpClock final : public agent::Clock, public agent::Waiter {
 public:
  double now() const override { return now_; }
  double wall() const override { return 1'700'000'000 + now_; }
  void wait(const std::vector<int>& fds, double timeout, std::vector<bool>& ready) override {
    pfds_.clear();
    for (int fd : fds) pfds_.push_back({fd, POLLIN, 0});
    ready.assign(fds.size(), false);
    if (!pfds_.empty() && ::poll(pfds_.data(), pfds_.size(), 0) > 0)
      for (size_t i = 0; i < pfds_.size(); ++i) ready[i] = (pfds_[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
    now_ += std::max(timeout, 0.0);
  }

 private:
  double now_ = 1000;
  std::vector<pollfd> pfds_;  // reused: the soak's own allocations must not churn
};

// Counts what the daemon tells, by kind; keeps nothing.
class CountingNotifier final : public agent::Notifier {
 public:
  void notify(const agent::Notification& n) override {
    ++notifications;
    text_bytes += agent::notification_text(n).size();  // rendered at the edge, as a transport does
    for (const auto& e : n.events) ++events[e.kind];
  }
  long notifications = 0;
  size_t text_bytes = 0;
  long events[agent::kEventKinds] = {};
};

// The daemon's log goes nowhere, but every line is still formatted (debug
// level, as with log-level = debug) and counted.
class CountingSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 public:
  long lines = 0, warnings = 0, reloads = 0, errors = 0;

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    ++lines;
    if (msg.level == spdlog::level::warn) ++warnings;
    if (msg.level >= spdlog::level::err) ++errors;
    std::string_view p(msg.payload.data(), msg.payload.size());
    if (p.starts_with("reloaded:")) ++reloads;
  }
  void flush_() override {}
};

long vm_rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("VmRSS:")) return std::atol(line.c_str() + 6);
  return -1;
}

// Open descriptors, not counting the one that lists them.
int open_fds() {
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n - 1;
}

std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

struct Options {
  long passes = 1'000'000;
  long warmup = -1;      // default: passes / 10
  int checkpoints = 20;  // after warm-up
  long rss_tolerance_kb = 256;
  double max_seconds = 600;
  std::string base_dir;  // default: /dev/shm, else $TMPDIR, else /tmp
  bool keep = false;
  // Self-tests of the checks: leak this many bytes each pass, or open one
  // descriptor at this pass and keep it. Both must make the soak fail.
  long leak_bytes = 0;
  long leak_fd_at = -1;
};

// Removes the temp dir whatever happens.
struct TempDir {
  std::string path;
  bool keep = false;
  ~TempDir() {
    if (path.empty()) return;
    if (keep) {
      std::printf("kept %s\n", path.c_str());
      return;
    }
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// What the fixture tree should say at pass `p` of the run. One cycle is 300
// passes (300 fake seconds at the 1 s interval of loadavg and meminfo).
struct Scene {
  int mem_pct = 50;
  double load1 = 0.84;
  double psi_mem10 = 0.31;
  bool broken_io_psi = false;
  bool operator==(const Scene&) const = default;
};

Scene scene_at(long p) {
  Scene s;
  const long cycle = p / 300, t = p % 300;
  if (cycle % 20 == 7 && t < 64) {
    // Flapping: memory crosses both ways every 4 s, more than 6 changes in
    // the 5 min flap window...
    s.mem_pct = (t / 4) % 2 ? 40 : 97;
  } else if (cycle % 20 == 7 || cycle % 20 == 8) {
    s.mem_pct = 40;  // ...then stable for longer than the window: settled
  } else if (t >= 60 && t < 120) {
    s.mem_pct = 85;  // WARNING after `for 3s`
  } else if (t >= 120 && t < 150) {
    s.mem_pct = 97;  // CRITICAL
  } else if (t >= 150 && t < 180) {
    s.mem_pct = 78;  // back to WARNING (between clear and warn)
  } else if (t >= 180) {
    s.mem_pct = 40;  // RESOLVED after `for 3s`
  }
  if (t >= 100 && t < 250) s.load1 = t >= 140 && t < 160 ? 20 : 10;  // 4 CPUs: 2.5 warn, 5 crit; reminder at 220
  if (t >= 200 && t < 260) s.psi_mem10 = 30;
  s.broken_io_psi = cycle % 10 == 3 && t >= 262 && t < 292;  // pressure samples every 5 s: > 3 failures
  return s;
}

void write_scene(const std::string& proc, const Scene& s, const Scene& old, bool first) {
  if (first || s.mem_pct != old.mem_pct) test::write_meminfo_used(proc, s.mem_pct);
  if (first || s.load1 != old.load1) {
    char b[96];
    std::snprintf(b, sizeof b, "%.2f 0.71 0.65 2/412 3124605\n", s.load1);
    test::replace_file(proc + "/loadavg", b);
  }
  if (first || s.psi_mem10 != old.psi_mem10) {
    char b[160];
    std::snprintf(b, sizeof b,
                  "some avg10=%.2f avg60=0.45 avg300=0.52 total=2213456789\n"
                  "full avg10=0.12 avg60=0.20 avg300=0.24 total=1034567123\n",
                  s.psi_mem10);
    test::replace_file(proc + "/pressure/memory", b);
  }
  if (first || s.broken_io_psi != old.broken_io_psi)
    test::replace_file(proc + "/pressure/io", s.broken_io_psi
                                                  ? "some avg10=oops\n"
                                                  : "some avg10=2.04 avg60=1.76 avg300=1.38 total=18765432109\n"
                                                    "full avg10=1.10 avg60=0.95 avg300=0.74 total=10987654321\n");
}

int run(const Options& opt) {
  const long warmup = opt.warmup >= 0 ? opt.warmup : opt.passes / 10;
  if (opt.passes < 1 || warmup >= opt.passes || opt.checkpoints < 1) {
    std::fprintf(stderr, "soak: need passes > warm-up >= 0 and checkpoints >= 1\n");
    return 2;
  }

  TempDir tmp;
  tmp.keep = opt.keep;
  {
    std::string base = opt.base_dir;
    if (base.empty())
      base = fs::is_directory("/dev/shm") ? "/dev/shm" : (std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp");
    std::string tmpl = base + "/imwatch-soak-XXXXXX";
    if (!::mkdtemp(tmpl.data())) {
      std::perror(("soak: mkdtemp in " + base).c_str());
      return 2;
    }
    tmp.path = tmpl;
  }
  const std::string proc = tmp.path + "/proc", conf = tmp.path + "/imwatch.conf", state_dir = tmp.path + "/state";
  const std::string state = state_dir + "/state";  // StateStore's file
  fs::copy(kFixtures + "/proc/current", proc, fs::copy_options::recursive);
  // Only the chat handler reads [xmpp] here: the soak starts no transport.
  // The password is a placeholder for the config check, never used.
  std::ofstream(tmp.path + "/password") << "unused\n";
  std::ofstream(conf) << "proc-root = " << proc << "\nstate-dir = " << state_dir
                      << "\nhostname = soak\nlog-level = debug\n"
                         "[probe.loadavg]\ninterval = 1s\n[probe.meminfo]\ninterval = 1s\n"
                         "[probe.vmstat]\ninterval = 2s\n[probe.pressure]\ninterval = 5s\n"
                         "[alert]\n"
                         "rule = memory: mem_used_pct > 80 crit 95 for 3s clear 75\n"
                         "rule = load: load1_per_cpu > 2 crit 4 clear 1.5 repeat 1m\n"
                         "rule = memory_pressure: psi_memory_some_avg10 > 20 for 10s clear 5\n"
                         "rule = running: procs_running > 500\n"
                         "repeat = 2m\nflap_changes = 6\nflap_window = 5m\n"
                         "[xmpp]\njid = agent@soak.invalid\npassword_file = "
                      << tmp.path
                      << "/password\nadmin = alice@soak.invalid\nadmin = bob@soak.invalid\n"
                         "admin = carol@soak.invalid\n";

  const std::vector<std::string> probe_names = probes::probe_names();
  std::vector<std::string> args = {"soak", "--config", conf};
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  agent::Config cfg;
  std::vector<std::string> errors;
  std::ostringstream ignored;
  if (agent::parse_config(static_cast<int>(argv.size()), argv.data(), probe_names, cfg, errors, ignored) !=
      agent::ParseResult::run) {
    for (const auto& e : errors) std::fprintf(stderr, "soak: %s\n", e.c_str());
    return 2;
  }

  auto sink = std::make_shared<CountingSink>();
  auto logger = std::make_shared<spdlog::logger>("soak", sink);
  logger->set_level(spdlog::level::debug);
  spdlog::set_default_logger(logger);

  JumpClock clock;
  CountingNotifier notifier;
  agent::Daemon d(args, cfg, clock, clock);
  d.set_notifier(&notifier);
  Scene scene = scene_at(0);
  write_scene(proc, scene, scene, true);
  if (!d.start(errors)) {
    for (const auto& e : errors) std::fprintf(stderr, "soak: %s\n", e.c_str());
    return 2;
  }

  // Chat: every command, from three admins in turn (one command every 3
  // passes: each admin 1 per 9 s, under the 20 per 10 s limit), a burst past
  // the limit every 5000 passes, an oversized body every 1000, and a
  // stranger every 7 passes (3000 distinct ones, past the 1024 remembered).
  const std::vector<std::string> admins = {"alice@soak.invalid/phone", "bob@soak.invalid/laptop",
                                           "Carol@Soak.Invalid/x"};
  const std::vector<std::string> commands = {"status",       "load",        "mem",     "vmstat",     "psi",
                                             "alerts",       "rules",       "help",    "ping",       "ACK",
                                             "mute 5s load", "unmute load", "mute 5s", "unmute all", "frobnicate"};
  const std::string oversized(5000, 'x');
  std::map<std::string, long> replies;  // by first word
  long chat_sent = 0, chat_answered = 0, strangers_sent = 0, refusals = 0, slow_downs = 0, acks = 0;
  long stranger_data = 0;  // replies to strangers other than the refusal
  auto count_reply = [&](const std::optional<std::string>& r) {
    if (!r) return;
    ++chat_answered;
    if (r->starts_with("slow down")) ++slow_downs;
    if (r->starts_with("acknowledged #")) ++acks;
    // By first word, alert numbers folded ("#12" -> "#"): the soak's own
    // bookkeeping must stay bounded too.
    std::string word = r->substr(0, r->find_first_of(" ,:\n"));
    if (word.starts_with("#")) word = "#";
    ++replies[word];
  };

  // State saves: each one renames a new file over the old, a new inode.
  ino_t state_ino = 0;
  long state_saves = 0;

  struct Sample {
    long pass;
    long rss_kb;
    int fds;
  };
  std::vector<Sample> samples;
  const long step = std::max(1L, (opt.passes - warmup) / opt.checkpoints);
  long next_sample = warmup;
  long pass = 0;
  bool timed_out = false;
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  std::printf("soak: %ld passes (warm-up %ld, %d checkpoints), temp dir %s, load average %s\n", opt.passes, warmup,
              opt.checkpoints, tmp.path.c_str(), loadavg().c_str());

  d.set_on_flush([&] {
    ++pass;
    if (pass == next_sample || pass == opt.passes) {
      samples.push_back({pass, vm_rss_kb(), open_fds()});
      next_sample += step;
    }
    if (opt.leak_bytes > 0) {
      char* p = static_cast<char*>(std::malloc(static_cast<size_t>(opt.leak_bytes)));
      if (p) std::memset(p, 1, static_cast<size_t>(opt.leak_bytes));  // touched: it counts in RSS
    }
    if (pass == opt.leak_fd_at) ::open("/dev/null", O_RDONLY);
    if (pass >= opt.passes) {
      d.stop();
      return;
    }
    if (pass % 4096 == 0 && elapsed() > opt.max_seconds) {
      timed_out = true;
      d.stop();
      return;
    }
    Scene next = scene_at(pass);
    if (!(next == scene)) {
      write_scene(proc, next, scene, false);
      scene = next;
    }
    struct stat st {};
    if (::stat(state.c_str(), &st) == 0 && st.st_ino != state_ino) {
      state_ino = st.st_ino;
      ++state_saves;
    }
    if (pass % 3 == 0) {
      const std::string& from = admins[static_cast<size_t>(pass / 3) % admins.size()];
      std::string cmd = commands[static_cast<size_t>(pass / 9) % commands.size()];
      if (cmd == "ACK") {
        // The memory alert, if it fires (else a "no firing alert" reply);
        // the load alert is never acked, so that it reminds.
        uint64_t id = 0;
        if (auto it = d.engine().states().find("memory"); it != d.engine().states().end())
          id = it->second.severity != agent::Severity::ok ? it->second.id : 0;
        cmd = "ack " + std::to_string(id);
      }
      ++chat_sent;
      count_reply(d.chat(from, cmd));
    }
    if (pass % 1000 == 1) count_reply(d.chat(admins[0], oversized));  // ignored: no reply
    if (pass % 5000 == 2) {
      for (int i = 0; i < 25; ++i) {
        ++chat_sent;
        count_reply(d.chat(admins[1], "ping"));
      }
    }
    if (pass % 7 == 0) {
      ++strangers_sent;
      auto r = d.chat("stranger" + std::to_string((pass / 7) % 3000) + "@elsewhere.invalid/r", "status");
      if (r) ++refusals;
      if (r && *r != "not authorised") ++stranger_data;
    }
    if (pass % 50'000 == 5'000) ::kill(::getpid(), SIGHUP);  // handled by the daemon's signalfd
  });

  const int rc = d.run();
  const double wall_s = elapsed();
  const long rss_end = vm_rss_kb();

  // ---- report
  std::printf("passes %ld of %ld in %.1f s wall (%.1f us per pass), %.0f fake seconds; daemon exit %d\n", pass,
              opt.passes, wall_s, 1e6 * wall_s / std::max(1L, pass), clock.now() - 1000, rc);
  std::printf(
      "notifications %ld (%zu bytes): fired %ld, escalated %ld, de-escalated %ld, resolved %ld, "
      "reminders %ld, flapping %ld, settled %ld, probe failing %ld, recovered %ld\n",
      notifier.notifications, notifier.text_bytes, notifier.events[agent::Event::fired],
      notifier.events[agent::Event::escalated], notifier.events[agent::Event::deescalated],
      notifier.events[agent::Event::resolved], notifier.events[agent::Event::reminder],
      notifier.events[agent::Event::flapping], notifier.events[agent::Event::settled],
      notifier.events[agent::Event::probe_failing], notifier.events[agent::Event::probe_recovered]);
  std::printf("state saves seen %ld; reloads %ld; log lines %ld (warnings %ld, errors %ld)\n", state_saves,
              sink->reloads, sink->lines, sink->warnings, sink->errors);
  std::printf(
      "chat: %ld admin commands, %ld replies (%ld 'slow down', %ld acks); %ld stranger messages, "
      "%ld refusals\n",
      chat_sent, chat_answered, slow_downs, acks, strangers_sent, refusals);
  std::printf("%10s %10s %6s\n", "pass", "VmRSS kB", "fds");
  long rss_start = -1, rss_max = -1;
  int fds_start = -1;
  bool fd_growth = false;
  for (const auto& s : samples) {
    std::printf("%10ld %10ld %6d\n", s.pass, s.rss_kb, s.fds);
    if (rss_start < 0) {
      rss_start = s.rss_kb;
      fds_start = s.fds;
    }
    rss_max = std::max(rss_max, s.rss_kb);
    if (s.fds != fds_start) fd_growth = true;
  }
  std::printf(
      "RSS after warm-up %ld kB, end %ld kB, max %ld kB (growth %+ld kB, tolerance %ld kB); "
      "fds %d -> %d; load average %s\n",
      rss_start, rss_end, rss_max, rss_max - rss_start, opt.rss_tolerance_kb, fds_start,
      samples.empty() ? -1 : samples.back().fds, loadavg().c_str());

  std::vector<std::string> failures;
  if (timed_out) failures.push_back("did not finish within --max-seconds");
  if (pass != opt.passes)
    failures.push_back("ran " + std::to_string(pass) + " passes, not " + std::to_string(opt.passes));
  if (samples.size() < 2) failures.push_back("fewer than two samples");
  if (rss_max - rss_start > opt.rss_tolerance_kb) failures.push_back("RSS grew beyond the tolerance after warm-up");
  if (fd_growth) failures.push_back("the number of open descriptors changed after warm-up");
  for (int k : {agent::Event::fired, agent::Event::escalated, agent::Event::deescalated, agent::Event::resolved,
                agent::Event::reminder, agent::Event::probe_failing, agent::Event::probe_recovered})
    if (notifier.events[k] == 0) failures.push_back("no event of kind " + std::to_string(k));
  if (opt.passes >= 2700 &&
      (notifier.events[agent::Event::flapping] == 0 || notifier.events[agent::Event::settled] == 0))
    failures.push_back("never flapped and settled");
  if (state_saves < 2) failures.push_back("no state saves seen");
  if (opt.passes > 5000 && sink->reloads == 0) failures.push_back("no reload happened");
  if (sink->errors) failures.push_back("the daemon logged errors");
  for (const auto& [k, n] : replies) std::printf("  reply '%s...': %ld\n", k.c_str(), n);
  if (opt.passes > 5000 && slow_downs == 0) failures.push_back("the rate limit never answered 'slow down'");
  if (refusals == 0) failures.push_back("no stranger was refused");
  if (stranger_data) failures.push_back("a stranger got something other than 'not authorised'");
  for (const auto& f : failures) std::printf("FAIL: %s\n", f.c_str());
  std::printf("%s\n", failures.empty() ? "soak: PASS" : "soak: FAIL");
  return failures.empty() ? 0 : 1;
}

void usage() {
  std::printf(
      "usage: soak [--passes N] [--warmup N] [--checkpoints K] [--rss-tolerance-kb KB]\n"
      "            [--max-seconds S] [--dir DIR] [--keep]\n"
      "Runs the real Daemon for N evaluation passes (default 1000000) on a fake clock that jumps to\n"
      "the next due job. Warm-up default N/10; fails (exit 1) if VmRSS grows more than KB (default\n"
      "256) after warm-up, if the open descriptors change, or if the run is not done within S\n"
      "(default 600) seconds. DIR: where the temp dir goes (default /dev/shm).\n"
      "--self-test-leak-bytes B / --self-test-leak-fd-at P: leak B bytes per pass / one descriptor\n"
      "at pass P, to see the checks fail.\n");
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  std::vector<std::string> a(argv + 1, argv + argc);
  for (size_t i = 0; i < a.size(); ++i) {
    auto value = [&]() -> std::string {
      if (i + 1 >= a.size()) {
        std::fprintf(stderr, "soak: %s needs a value\n", a[i].c_str());
        std::exit(2);
      }
      return a[++i];
    };
    if (a[i] == "--passes")
      opt.passes = std::atol(value().c_str());
    else if (a[i] == "--warmup")
      opt.warmup = std::atol(value().c_str());
    else if (a[i] == "--checkpoints")
      opt.checkpoints = std::atoi(value().c_str());
    else if (a[i] == "--rss-tolerance-kb")
      opt.rss_tolerance_kb = std::atol(value().c_str());
    else if (a[i] == "--max-seconds")
      opt.max_seconds = std::atof(value().c_str());
    else if (a[i] == "--dir")
      opt.base_dir = value();
    else if (a[i] == "--keep")
      opt.keep = true;
    else if (a[i] == "--self-test-leak-bytes")
      opt.leak_bytes = std::atol(value().c_str());
    else if (a[i] == "--self-test-leak-fd-at")
      opt.leak_fd_at = std::atol(value().c_str());
    else if (a[i] == "-h" || a[i] == "--help") {
      usage();
      return 0;
    } else {
      usage();
      return 2;
    }
  }
  setvbuf(stdout, nullptr, _IOLBF, 0);
  try {
    return run(opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "soak: %s\n", e.what());
    return 2;
  }
}

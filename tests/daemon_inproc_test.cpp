// The real Daemon in-process on a fake clock, with a recording notifier:
// what admins are told across reloads and restarts, and what `alerts`,
// `rules` and presence say meanwhile. The probes read a private copy of
// tests/fixtures/proc/current that the tests rewrite; the state dir is real.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "agent/commands.h"
#include "agent/daemon.h"
#include "agent/history.h"
#include "agent/messages.h"
#include "fakes/fake_clock.h"
#include "fixture_tree.h"
#include "probes/probes.h"

using namespace imwatch;
using namespace imwatch::agent;
namespace fs = std::filesystem;

namespace {

// Keeps every notification, rendered at the edge as a notifier would.
class RecordingNotifier final : public Notifier {
 public:
  void notify(const Notification& n) override {
    received.push_back(n);
    texts.push_back(notification_text(n));
  }
  std::vector<Notification> received;
  std::vector<std::string> texts;
};

const char* const kAdmin = "alice@example.org/phone";

class DaemonInProc : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/imwatch-inproc-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    fs::copy(std::string(IMWATCH_FIXTURES) + "/proc/current", dir_ + "/proc", fs::copy_options::recursive);
    std::ofstream(dir_ + "/password") << "unused\n";
    test::write_meminfo_used(dir_ + "/proc", 50);
    spdlog::set_level(spdlog::level::warn);
  }
  void TearDown() override {
    daemon_.reset();
    fs::remove_all(dir_);
  }

  void write_config(const std::string& alert_section) {
    test::replace_file(dir_ + "/imwatch.conf", "proc-root = " + dir_ + "/proc\nstate-dir = " + dir_ +
                                                   "/state\nhostname = web1\n"
                                                   "[probe.loadavg]\ninterval = 1s\n[probe.meminfo]\ninterval = 1s\n"
                                                   "[probe.vmstat]\ninterval = 1s\n[probe.pressure]\ninterval = 1s\n"
                                                   "[alert]\n" +
                                                   alert_section +
                                                   "\n[xmpp]\njid = agent@example.org\npassword_file = " + dir_ +
                                                   "/password\nadmin = alice@example.org\n");
  }
  // A fresh Daemon (a restart when one ran before) on the same state dir.
  void start() {
    daemon_.reset();
    notifier_ = RecordingNotifier{};
    std::vector<std::string> names;
    for (const auto& p : probes::make_probes(probes::ProcRoot())) names.emplace_back(p->name());
    args_ = {"imwatch", "--config", dir_ + "/imwatch.conf"};
    std::vector<const char*> argv;
    for (const auto& a : args_) argv.push_back(a.c_str());
    Config cfg;
    std::vector<std::string> errors;
    std::ostringstream ignored;
    ASSERT_EQ(parse_config(static_cast<int>(argv.size()), argv.data(), names, cfg, errors, ignored), ParseResult::run);
    daemon_ = std::make_unique<Daemon>(args_, cfg, clock_, clock_);
    daemon_->set_notifier(&notifier_);
    ASSERT_TRUE(daemon_->start(errors)) << (errors.empty() ? "" : errors[0]);
  }
  // Runs the loop for `seconds` of fake time: samples, rules, one flush a pass.
  void run_for(double seconds) {
    const double until = clock_.now() + seconds;
    while (clock_.now() < until) daemon_->loop().run_once(until - clock_.now());
  }
  std::string chat(const std::string& body) { return daemon_->chat(kAdmin, body).value_or("(no reply)"); }
  void memory(int pct) { test::write_meminfo_used(dir_ + "/proc", pct); }
  std::vector<std::string> told_since(size_t n) const {
    return {notifier_.texts.begin() + static_cast<long>(n), notifier_.texts.end()};
  }

  std::string dir_;
  std::vector<std::string> args_;
  test::FakeClock clock_;
  RecordingNotifier notifier_;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(DaemonInProc, ARemovedFiringRuleIsClosedWithOneMessage) {
  write_config("rule = memtest: mem_used_pct > 80\nrule = load: load1 > 1000");
  start();
  memory(85);
  run_for(3);
  ASSERT_EQ(notifier_.texts, std::vector<std::string>{"web1: WARNING memtest: mem_used_pct 85 > 80 #1"});
  run_for(12 * 60);
  const size_t before = notifier_.texts.size();
  write_config("rule = load: load1 > 1000");
  ASSERT_TRUE(daemon_->reload());
  run_for(10);
  ASSERT_EQ(told_since(before), std::vector<std::string>{"web1: REMOVED memtest (was WARNING, firing 12m) #1"});
  EXPECT_EQ(notifier_.received.back().events[0].kind, Event::removed);
  EXPECT_EQ(chat("alerts"), "web1: no alerts");
  EXPECT_EQ(presence_for(daemon_->engine()).status, "OK");
}

TEST_F(DaemonInProc, NewThresholdsKeepTheAlertItsIdAndAck) {
  write_config("rule = memory: mem_used_pct > 80 for 3s");
  start();
  memory(85);
  run_for(6);
  ASSERT_EQ(notifier_.texts, std::vector<std::string>{"web1: WARNING memory: mem_used_pct 85 > 80, held 3s #1"});
  EXPECT_EQ(chat("ack 1"), "acknowledged #1:\n  no more reminders until it resolves");
  const size_t before = notifier_.texts.size();
  write_config("rule = memory: mem_used_pct > 82 crit 95 for 3s");
  ASSERT_TRUE(daemon_->reload());
  run_for(2);
  EXPECT_TRUE(told_since(before).empty());  // a reload says nothing about a rule that stays
  std::string alerts = chat("alerts");
  EXPECT_EQ(alerts.rfind("web1: 1 alert\n#1 WARNING memory: mem_used_pct 85 > 82,\n  firing", 0), 0u) << alerts;
  EXPECT_NE(alerts.find(", acked"), std::string::npos) << alerts;
  // Judged by the new thresholds from here: 81 is under the new warn.
  memory(81);
  run_for(5);
  auto told = told_since(before);
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(told[0].rfind("web1: RESOLVED memory: mem_used_pct 81 after firing ", 0), 0u) << told[0];
  EXPECT_EQ(told[0].substr(told[0].size() - 3), " #1");
}

TEST_F(DaemonInProc, FlappingIsVisibleInAlertsRulesAndPresence) {
  write_config("rule = memory: mem_used_pct > 80 crit 95\nflap_changes = 2\nflap_window = 5m");
  start();
  for (int pct : {97, 40, 97, 40}) {
    memory(pct);
    run_for(1);
  }
  ASSERT_GE(notifier_.texts.size(), 3u);
  EXPECT_EQ(notifier_.texts[2].rfind("web1: FLAPPING memory: 3 changes within 5m, quiet until it settles #2", 0), 0u)
      << notifier_.texts[2];
  std::string alerts = chat("alerts");
  EXPECT_EQ(alerts, "web1: 1 alert\n#2 FLAPPING memory: mem_used_pct 40,\n  last told OK") << alerts;
  EXPECT_EQ(chat("rules"), "web1: 1 rule\nmemory: mem_used_pct > 80 crit 95\n  FLAPPING, last told OK, now 40");
  Presence p = presence_for(daemon_->engine());
  EXPECT_EQ(p.show, Presence::Show::away);
  EXPECT_EQ(p.status, "FLAPPING: memory");
  EXPECT_NE(chat("status").find("#2 FLAPPING memory"), std::string::npos);
}

TEST_F(DaemonInProc, ARestartSaysNothingNewAndResolvesNormally) {
  write_config("rule = memory: mem_used_pct > 80\nrule = load: load1 > 1000");
  start();
  memory(85);
  run_for(3);
  ASSERT_EQ(notifier_.texts.size(), 1u);
  start();  // restart: the alert is restored from the state dir
  run_for(30);
  EXPECT_TRUE(notifier_.texts.empty()) << notifier_.texts[0];  // still bad: silent
  EXPECT_EQ(chat("alerts").rfind("web1: 1 alert\n#1 WARNING memory: mem_used_pct 85 > 80,\n  firing 33s", 0), 0u)
      << chat("alerts");
  memory(40);
  run_for(3);
  ASSERT_EQ(notifier_.texts.size(), 1u);
  EXPECT_EQ(notifier_.texts[0].rfind("web1: RESOLVED memory: mem_used_pct 40 after firing ", 0), 0u)
      << notifier_.texts[0];
}

TEST_F(DaemonInProc, ARestartWhileFlappingNeverPairsOkWithUnknown) {
  // cpu_user_pct is a rate: unknown at the first sample after a start.
  write_config("rule = busy: cpu_user_pct > 50\nflap_changes = 2\nflap_window = 1m");
  start();
  // The fixture's /proc/stat with its first "cpu " line replaced.
  std::string rest;
  {
    std::ifstream in(dir_ + "/proc/stat");
    std::string first;
    std::getline(in, first);
    rest.assign(std::istreambuf_iterator<char>(in), {});
  }
  long user = 1000, idle = 1000;
  auto tick = [&](bool busy) {
    (busy ? user : idle) += 1000;
    test::replace_file(dir_ + "/proc/stat",
                       "cpu  " + std::to_string(user) + " 0 0 " + std::to_string(idle) + " 0 0 0 0 0 0\n" + rest);
  };
  // Busy and idle samples, alternating: it flaps.
  for (int i = 0; i < 6; ++i) {
    tick(i % 2 == 0);
    run_for(1);
  }
  ASSERT_TRUE(daemon_->engine().states().at("busy").flapping);
  start();  // restart while flapping: flapping is saved
  EXPECT_TRUE(daemon_->engine().states().at("busy").flapping);
  for (int i = 0; i < 200; ++i) {  // idle from now on; the first sample is unknown
    tick(false);
    run_for(1);
  }
  for (const auto& t : notifier_.texts) EXPECT_EQ(t.find("unknown"), std::string::npos) << t;
  ASSERT_EQ(notifier_.texts.size(), 1u);
  EXPECT_EQ(notifier_.texts[0].rfind("web1: SETTLED busy: OK, cpu_user_pct 0", 0), 0u) << notifier_.texts[0];
}

TEST_F(DaemonInProc, DurationsOneWordEach) {
  write_config("rule = memory: mem_used_pct > 80 for 3s repeat 10m");
  start();
  memory(85);
  run_for(5);
  ASSERT_EQ(notifier_.texts, std::vector<std::string>{"web1: WARNING memory: mem_used_pct 85 > 80, held 3s #1"});
  run_for(10 * 60);
  ASSERT_EQ(notifier_.texts.size(), 2u);
  EXPECT_EQ(notifier_.texts[1], "web1: still WARNING memory: mem_used_pct 85 > 80, firing 10m #1");
  EXPECT_EQ(chat("mute 10m memory"), "muted memory for 10m");
  run_for(1);
  std::string alerts = chat("alerts");
  EXPECT_NE(alerts.find("firing 10m"), std::string::npos) << alerts;
  EXPECT_NE(alerts.find("muted: memory, 10m more"), std::string::npos) << alerts;
}

TEST_F(DaemonInProc, AFiringAlertCarriesItsTrendAndGraphDrawsTheHistory) {
  write_config("rule = memory: mem_used_pct > 80");
  start();
  memory(40);
  run_for(20 * 60);
  memory(60);
  run_for(5 * 60);
  memory(85);
  run_for(3);
  // Six 5-minute buckets in the last 30 minutes: 40 four times, 60, 85.
  ASSERT_EQ(notifier_.texts, std::vector<std::string>{"web1: WARNING memory: mem_used_pct 85 > 80 #1 ▁▁▁▁▄█"});
  std::string graph = chat("graph mem_used_pct 1h");
  EXPECT_EQ(graph.rfind("web1: last 1h, ", 0), 0u) << graph;
  EXPECT_NE(graph.find("\n```\nmem_used_pct\n"), std::string::npos) << graph;
  EXPECT_NE(graph.find("min 40 avg "), std::string::npos) << graph;
  EXPECT_NE(graph.find(" max 85 now 85\n```"), std::string::npos) << graph;
  std::string status = chat("status");
  EXPECT_NE(status.find("\ntrend 1h: load "), std::string::npos) << status;
  EXPECT_NE(status.find(" mem ▁"), std::string::npos) << status;
}

TEST_F(DaemonInProc, HistorySurvivesARestartAndACorruptFileIsIgnored) {
  write_config("rule = load: load1 > 1000");
  start();
  memory(40);
  run_for(6 * 60);
  start();  // a crash and a restart: the history saved at 5 minutes is back
  const Series* mem = daemon_->history().find("mem_used_pct");
  ASSERT_NE(mem, nullptr);
  EXPECT_GE(mem->summary(clock_.wall(), 300).count, 100u);  // samples of 1 s
  EXPECT_EQ(mem->summary(clock_.wall(), 3600).max, 40);
  test::replace_file(dir_ + "/state/history", "imwatch-history 1\nnot what was written");
  spdlog::set_level(spdlog::level::off);
  start();  // logged and ignored, never fatal
  EXPECT_EQ(daemon_->history().size(), 0u);
  run_for(3);
  EXPECT_NE(daemon_->history().find("mem_used_pct"), nullptr);
  EXPECT_NE(chat("graph mem").find("mem_used_pct"), std::string::npos);
}

}  // namespace

// ---- thresholds from chat (agent/overrides.h) ----

namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

TEST_F(DaemonInProc, SetThresholdsAreCheckedToldShownAndKeptAcrossReloadAndRestart) {
  write_config("rule = memory: mem_used_pct > 80 crit 95\nrule = load: load1 > 1000");
  start();
  memory(85);
  run_for(2);
  ASSERT_EQ(notifier_.texts.size(), 1u);  // WARNING at 85 > 80
  // Refused with the rule parser's own words, and nothing changes.
  EXPECT_EQ(chat("set memory warn abc"), "rule 'memory': bad threshold 'abc'");
  EXPECT_EQ(chat("set memory crit 70"), "rule 'memory': crit 70 must be >= warn\n  80");
  EXPECT_EQ(chat("set memory for forever"), "rule 'memory': bad duration 'forever'\n  (use e.g. 30s, 5m, 2h, 1d)");
  EXPECT_EQ(chat("set memory warp 3"),
            "unexpected 'warp' (expected warn, crit,\n  for, clear or repeat); usage: set RULE\n  warn N [crit N] [for D] [clear N]\n  [repeat D]");
  EXPECT_EQ(chat("set nosuch warn 3"), "no rule 'nosuch'");
  EXPECT_TRUE(daemon_->overrides().empty());

  const size_t before = notifier_.texts.size();
  EXPECT_EQ(chat("set memory warn 90 for 2s"), "memory: warn 90 for 2s;\n  reset memory undoes it");
  run_for(3);
  auto told = told_since(before);
  ASSERT_EQ(told.size(), 2u) << told[0];
  EXPECT_EQ(told[0], "web1: SET memory: warn 90 for 2s, by alice@example.org");
  EXPECT_TRUE(starts_with(told[1], "web1: RESOLVED memory: mem_used_pct 85 after firing")) << told[1];
  clock_.advance(7200);
  EXPECT_EQ(chat("rules"),
            "web1: 2 rules\nmemory: mem_used_pct > 90 crit 95 for 2s\n  for 2s (set by alice 2h ago;\n    file: none)\n"
            "  warn 90 (set by alice 2h ago;\n    file: 80)\n  OK, now 85\nload: load1 > 1000\n  OK, now 0.84");

  // Reload: still in force. The conffile is never rewritten.
  const std::string conf_before = slurp(dir_ + "/imwatch.conf");
  ASSERT_TRUE(daemon_->reload());
  EXPECT_EQ(daemon_->engine().rules()[0].canonical(), "memory: mem_used_pct > 90 crit 95 for 2s");
  EXPECT_EQ(slurp(dir_ + "/imwatch.conf"), conf_before);
  // Restart: read back from the state dir.
  start();
  ASSERT_EQ(daemon_->engine().rules()[0].canonical(), "memory: mem_used_pct > 90 crit 95 for 2s");
  EXPECT_EQ(daemon_->overrides().at("memory").who, "alice@example.org");
  // Reset: the file's rule again, told.
  EXPECT_EQ(chat("reset memory"), "memory: the file's rule again");
  EXPECT_EQ(chat("reset memory"), "no override on memory");
  run_for(1);
  EXPECT_EQ(daemon_->engine().rules()[0].canonical(), "memory: mem_used_pct > 80 crit 95");
  ASSERT_FALSE(notifier_.texts.empty());
  EXPECT_EQ(notifier_.texts[0], "web1: 2 changes\nRESET memory: the file's rule again, by alice@example.org\n"
                                "WARNING memory: mem_used_pct 85 > 80 #2");
  start();
  EXPECT_TRUE(daemon_->overrides().empty());
}

TEST_F(DaemonInProc, AnOverrideWhoseRuleLeftTheFileIsDroppedWithAMessage) {
  write_config("rule = memory: mem_used_pct > 80\nrule = load: load1 > 1000");
  start();
  ASSERT_EQ(chat("set memory warn 90"), "memory: warn 90; reset memory undoes it");
  ASSERT_EQ(chat("set load crit 2000"), "load: crit 2000; reset load undoes it");
  run_for(1);
  const size_t before = notifier_.texts.size();
  // The file's new load rule refuses the override (crit under warn); memory is gone.
  write_config("rule = load: load1 > 3000");
  ASSERT_TRUE(daemon_->reload());
  run_for(1);
  auto told = told_since(before);
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(told[0],
            "web1: 2 changes\nOVERRIDE DROPPED load: crit 2000 no longer applies: rule 'load': crit 2000 must be >= warn "
            "3000\nOVERRIDE DROPPED memory: warn 90 dropped: the configuration has no such rule");
  EXPECT_TRUE(daemon_->overrides().empty());
  start();  // and the file in the state dir says so
  EXPECT_TRUE(daemon_->overrides().empty());
}

TEST_F(DaemonInProc, ACorruptOverridesFileIsIgnored) {
  write_config("rule = memory: mem_used_pct > 80");
  fs::create_directories(dir_ + "/state");
  fs::permissions(dir_ + "/state", fs::perms::owner_all, fs::perm_options::replace);
  test::replace_file(dir_ + "/state/overrides", "imwatch-overrides 1\noverride\tmemory\tx\talice\twarn=90\n");
  start();
  EXPECT_TRUE(daemon_->overrides().empty());
  EXPECT_EQ(daemon_->engine().rules()[0].canonical(), "memory: mem_used_pct > 80");
}

// ---- maintenance windows on the real daemon ----

TEST_F(DaemonInProc, AMaintenanceWindowHoldsItsRulesAndWhatStillHoldsFiresAtItsEnd) {
  const char* tz = std::getenv("TZ");
  const std::string saved = tz ? tz : "";
  ::setenv("TZ", "UTC", 1);
  ::tzset();
  // The fake clock starts at 2023-11-14 22:30:00 UTC.
  write_config("rule = memory: mem_used_pct > 80\nrule = load: load1 > 1000\n"
               "maintenance = work: daily 22:31-22:33 memory");
  start();
  run_for(30);
  EXPECT_TRUE(notifier_.texts.empty());
  run_for(35);
  ASSERT_EQ(notifier_.texts, std::vector<std::string>{"web1: HELD memory: maintenance work, for 2m"});
  memory(85);
  run_for(10);
  EXPECT_EQ(notifier_.texts.size(), 1u);  // held: nothing fires
  EXPECT_EQ(chat("alerts"), "web1: 1 alert, 1 hold\n#1 WARNING memory: mem_used_pct 85 > 80,\n  firing 10s\n"
                            "held: memory, 2m more (maintenance work)");
  EXPECT_EQ(chat("rules"), "web1: 2 rules\nmemory: mem_used_pct > 80\n  WARNING, now 85, held 2m more\n"
                           "load: load1 > 1000\n  OK, now 0.84");
  run_for(100);
  EXPECT_EQ(notifier_.texts.size(), 1u);  // 22:32:55
  run_for(10);
  auto told = told_since(1);
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(told[0], "web1: 2 changes\nRELEASED memory: maintenance work ended\n"
                     "WARNING memory: mem_used_pct 85 > 80, held 1m #1");
  EXPECT_EQ(chat("alerts"), "web1: 1 alert\n#1 WARNING memory: mem_used_pct 85 > 80,\n  firing 2m");
  if (tz)
    ::setenv("TZ", saved.c_str(), 1);
  else
    ::unsetenv("TZ");
  ::tzset();
}

// ---- imwatch run --mute: the agent's side (hold, release, the client's PID) ----

namespace {

// A real process to stand for `imwatch run`: `sleep`, killed by the test.
class Child {
 public:
  Child() {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl("/bin/sleep", "sleep", "600", static_cast<char*>(nullptr));
      ::_exit(127);
    }
  }
  ~Child() { kill(); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  int pid() const { return pid_; }
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  int pid_ = -1;
};

}  // namespace

TEST_F(DaemonInProc, RunMuteHoldsWhileItsProcessLivesAndReleasesWhenItIsKilled) {
  write_config("rule = memory: mem_used_pct > 80\nrule = load: load1 > 1000");
  start();
  Child run;
  ASSERT_GT(run.pid(), 0);
  EXPECT_EQ(chat("hold memory"), "hold is for imwatch run on the server;\n  try mute");  // not from chat
  EXPECT_EQ(daemon_->local_command(run.pid(), "root", "hold nosuch").text, "no rule 'nosuch'");
  Reply r = daemon_->local_command(run.pid(), "root", "hold memory max 1m cmd backup.sh");
  ASSERT_EQ(r.outcome, Outcome::ok) << r.text;
  EXPECT_EQ(r.text, "holding memory while backup.sh runs");
  memory(85);
  run_for(30);
  ASSERT_EQ(notifier_.texts, std::vector<std::string>{"web1: HELD memory: imwatch run backup.sh (root)"});
  EXPECT_EQ(chat("alerts"), "web1: 1 alert, 1 hold\n#1 WARNING memory: mem_used_pct 85 > 80,\n  firing 30s\n"
                            "held: memory, until released\n  (imwatch run backup.sh (root))");
  run_for(35);  // past --max: told once, still held
  ASSERT_EQ(notifier_.texts.size(), 2u);
  EXPECT_TRUE(starts_with(notifier_.texts[1], "web1: OVERRUN memory: imwatch run backup.sh (root), ")) << notifier_.texts[1];
  run.kill();  // killed: no release from it
  run_for(2);
  ASSERT_EQ(notifier_.texts.size(), 3u);
  EXPECT_EQ(notifier_.texts[2], "web1: 2 changes\nRELEASED memory: imwatch run backup.sh (root) gone (its process "
                                "ended)\nWARNING memory: mem_used_pct 85 > 80, held 1m #1");
}

TEST_F(DaemonInProc, RunMuteReleasesWithTheExitStatusAndSurvivesAnAgentRestart) {
  write_config("rule = memory: mem_used_pct > 80");
  start();
  Child run;
  ASSERT_EQ(daemon_->local_command(run.pid(), "root", "hold all cmd backup.sh").outcome, Outcome::ok);
  run_for(1);
  start();  // the agent restarts meanwhile: the hold is kept while the process lives
  ASSERT_EQ(daemon_->engine().holds().count("run:" + std::to_string(run.pid())), 1u);
  memory(85);
  run_for(5);
  EXPECT_TRUE(notifier_.texts.empty()) << notifier_.texts[0];
  Reply r = daemon_->local_command(run.pid(), "root", "unhold exited 0");
  EXPECT_EQ(r.text, "released");
  EXPECT_EQ(daemon_->local_command(run.pid(), "root", "unhold exited 0").outcome, Outcome::failed);
  run_for(1);
  ASSERT_EQ(notifier_.texts.size(), 1u);
  EXPECT_EQ(notifier_.texts[0], "web1: 2 changes\nRELEASED all rules: imwatch run backup.sh (root) exited 0\n"
                                "WARNING memory: mem_used_pct 85 > 80, held 5s #1");
}

TEST_F(DaemonInProc, RunMuteHoldOfAProcessThatDiedWhileTheAgentWasDownEndsAtStart) {
  write_config("rule = memory: mem_used_pct > 80");
  start();
  auto run = std::make_unique<Child>();
  ASSERT_EQ(daemon_->local_command(run->pid(), "root", "hold memory").outcome, Outcome::ok);
  run_for(1);
  daemon_.reset();
  run.reset();  // killed while the agent is down
  start();
  run_for(1);
  ASSERT_EQ(notifier_.texts.size(), 1u);
  EXPECT_TRUE(starts_with(notifier_.texts[0], "web1: RELEASED memory: imwatch run a command (root) gone"))
      << notifier_.texts[0];
}

// Who did what, from every front-end: a chat ack and mute, and a local
// mute, each told once to the team as one line (the room and the other
// admins; the chat's speaker is not told what they did themselves).
TEST_F(DaemonInProc, WhoDidWhatIsToldFromChatAndFromTheLocalCommand) {
  write_config("rule = memory: mem_used_pct > 80");
  start();
  memory(85);
  run_for(3);
  ASSERT_EQ(notifier_.texts.size(), 1u);
  EXPECT_TRUE(starts_with(notifier_.texts[0], "web1: WARNING memory: mem_used_pct 85 > 80")) << notifier_.texts[0];
  EXPECT_EQ(chat("ack 1"), "acknowledged #1:\n  no more reminders until it resolves");
  ASSERT_EQ(notifier_.texts.size(), 2u);
  EXPECT_EQ(notifier_.texts[1], "web1: alice acked #1 (memory) on web1");
  EXPECT_EQ(notifier_.received[1].except, "alice@example.org");
  EXPECT_NE(chat("alerts").find("acked by alice 0s ago"), std::string::npos) << chat("alerts");
  EXPECT_EQ(daemon_->local_command(0, "root", "mute 2h memory").outcome, Outcome::ok);
  ASSERT_EQ(notifier_.texts.size(), 3u);
  EXPECT_EQ(notifier_.texts[2], "web1: root (local) muted memory on web1 for 2h");
  EXPECT_EQ(notifier_.received[2].except, "");  // nobody in chat knows yet
  chat("unmute memory");
  ASSERT_EQ(notifier_.texts.size(), 4u);
  EXPECT_EQ(notifier_.texts[3], "web1: alice unmuted memory on web1");
}

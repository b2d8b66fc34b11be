// The real binary in daemon mode on a fixture tree that the test rewrites
// between samples (atomic replace), a 1 s interval and the console notifier.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>

#include "fixture_tree.h"
#include "run_process.h"

namespace fs = std::filesystem;
using imwatch::test::ChildProcess;

namespace {

const std::string kBinary = IMWATCH_BINARY;
const std::string kFixtures = IMWATCH_FIXTURES;

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/imwatch-daemon-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    fs::copy(kFixtures + "/proc/no-swap", dir_ + "/proc", fs::copy_options::recursive);
    set_memory_used(50);
    write_config("memory: mem_used_pct > 80 crit 95 clear 75");
  }
  void TearDown() override { fs::remove_all(dir_); }

  void replace(const std::string& path, const std::string& text) { imwatch::test::replace_file(path, text); }
  void set_memory_used(int pct) { imwatch::test::write_meminfo_used(dir_ + "/proc", pct); }
  void write_config(const std::string& rule) {
    replace(dir_ + "/imwatch.conf", "proc-root = " + dir_ + "/proc\nstate-dir = " + dir_ +
                                        "/state\nhostname = web1\n"
                                        "[probe.loadavg]\ninterval = 1s\n[probe.meminfo]\ninterval = 1s\n"
                                        "[probe.vmstat]\ninterval = 1s\n[probe.pressure]\ninterval = 1s\n"
                                        "[alert]\nrule = " +
                                        rule + "\n");
  }
  std::unique_ptr<ChildProcess> start() {
    return std::make_unique<ChildProcess>(std::vector<std::string>{kBinary, "--config", dir_ + "/imwatch.conf"});
  }

  std::string dir_;
};

TEST_F(DaemonTest, RaisedEscalatedResolvedExactlyOnceEach) {
  auto d = start();
  ASSERT_NE(d->wait_for_line("started", 5), "");
  d->drain(1.5);
  EXPECT_EQ(d->count_lines("notify:"), 0u);

  set_memory_used(85);
  EXPECT_NE(d->wait_for_line("notify: web1: WARNING memory: mem_used_pct 85 > 80 #1", 5), "");
  set_memory_used(97);
  EXPECT_NE(d->wait_for_line("notify: web1: CRITICAL memory: mem_used_pct 97 > 95 (was WARNING) #1", 5), "");
  set_memory_used(78);  // below warn but above clear: still firing, de-escalated
  EXPECT_NE(d->wait_for_line("notify: web1: WARNING memory: mem_used_pct 78 > 80 (was CRITICAL) #1", 5), "");
  set_memory_used(40);
  EXPECT_NE(d->wait_for_line("notify: web1: RESOLVED memory: mem_used_pct 40 after", 5), "");
  d->drain(2.5);  // several more samples: nothing more to say
  EXPECT_EQ(d->count_lines("notify:"), 4u);
  EXPECT_EQ(d->count_lines("WARNING memory: mem_used_pct 85"), 1u);
  EXPECT_EQ(d->count_lines("CRITICAL memory"), 1u);
  EXPECT_EQ(d->count_lines("RESOLVED memory"), 1u);

  auto t0 = std::chrono::steady_clock::now();
  d->signal(SIGTERM);
  EXPECT_EQ(d->wait_exit(5), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

TEST_F(DaemonTest, ProbeFailureToldOnceAndItsRecovery) {
  auto d = start();
  ASSERT_NE(d->wait_for_line("started", 5), "");
  replace(dir_ + "/proc/meminfo", "MemTotal:       12x4 kB\n");
  EXPECT_NE(d->wait_for_line("notify: web1: PROBE meminfo failing: meminfo: MemTotal: bad value '12x4'", 8), "");
  d->drain(1.5);
  set_memory_used(50);
  EXPECT_NE(d->wait_for_line("notify: web1: PROBE meminfo recovered", 5), "");
  EXPECT_EQ(d->count_lines("PROBE meminfo failing"), 1u);
  EXPECT_EQ(d->count_lines("RESOLVED"), 0u);  // unknown data is not a recovery
}

TEST_F(DaemonTest, ReloadRejectsABadConfigAndKeepsTheOld) {
  auto d = start();
  ASSERT_NE(d->wait_for_line("started", 5), "");
  write_config("memory: mem_used_pct >> 80");
  d->signal(SIGHUP);
  EXPECT_NE(d->wait_for_line("rule 'memory': unknown operator '>>'", 5), "");
  EXPECT_NE(d->wait_for_line("reload rejected", 5), "");
  set_memory_used(85);  // the old rule is still in force
  EXPECT_NE(d->wait_for_line("notify: web1: WARNING memory", 5), "");

  // A good reload keeps the unchanged rule's state: no second announcement.
  write_config("memory: mem_used_pct > 80 crit 95 clear 75");
  d->signal(SIGHUP);
  EXPECT_NE(d->wait_for_line("reloaded: 1 rules", 5), "");
  d->drain(2);
  EXPECT_EQ(d->count_lines("notify:"), 1u);
  d->signal(SIGINT);
  EXPECT_EQ(d->wait_exit(5), 0);
}

TEST_F(DaemonTest, RestartNeitherReannouncesNorForgets) {
  {
    auto d = start();
    set_memory_used(85);
    EXPECT_NE(d->wait_for_line("notify: web1: WARNING memory", 5), "");
    d->signal(SIGTERM);
    EXPECT_EQ(d->wait_exit(5), 0);
  }
  auto d = start();
  ASSERT_NE(d->wait_for_line("restored", 5), "");
  d->drain(2.5);
  EXPECT_EQ(d->count_lines("notify:"), 0u);
  set_memory_used(10);
  EXPECT_NE(d->wait_for_line("notify: web1: RESOLVED memory: mem_used_pct 10 after", 5), "");
  EXPECT_EQ(d->count_lines("#1"), 1u);  // the same alert, not a new one
}

TEST_F(DaemonTest, CorruptStateIsLoggedAndIgnored) {
  fs::create_directories(dir_ + "/state");
  std::ofstream(dir_ + "/state/state") << "imwatch-state 1\nrule\t\xff\xfe garbage\n";
  auto d = start();
  EXPECT_NE(d->wait_for_line("ignoring it", 5), "");
  ASSERT_NE(d->wait_for_line("started", 5), "");
  set_memory_used(85);
  EXPECT_NE(d->wait_for_line("notify: web1: WARNING memory", 5), "");
}

// A state dir others can write into is refused once, with the fix to run;
// monitoring and alerting go on, and nothing is written there.
TEST_F(DaemonTest, StateDirWritableByOthersIsRefusedAndTheAgentRunsOn) {
  fs::create_directories(dir_ + "/state");
  fs::permissions(dir_ + "/state", fs::perms::all);
  auto d = start();
  EXPECT_NE(d->wait_for_line("state dir " + dir_ +
                                 "/state has mode 0777: group or others can write into it (and "
                                 "plant symlinks); run 'chmod 0700 " +
                                 dir_ + "/state'; alert state will not survive a restart",
                             5),
            "");
  ASSERT_NE(d->wait_for_line("started", 5), "");
  set_memory_used(85);
  EXPECT_NE(d->wait_for_line("notify: web1: WARNING memory", 5), "");
  d->signal(SIGTERM);
  EXPECT_EQ(d->wait_exit(5), 0);
  EXPECT_EQ(d->count_lines("state dir "), 1u);
  EXPECT_TRUE(fs::is_empty(dir_ + "/state"));
}

// The agent holds the XMPP password: it makes itself non-dumpable (no core
// file, no ptrace by its own user). The kernel shows that by giving the
// process's /proc files to root, which the test can see when the agent runs
// as an ordinary user: this test's own (not root) or, as root, nobody.
TEST_F(DaemonTest, NotDumpable) {
  std::vector<std::string> argv = {kBinary, "--config", dir_ + "/imwatch.conf"};
  uid_t agent_uid = ::geteuid();
  if (agent_uid == 0) {
    agent_uid = 65534;
    argv.insert(argv.begin(), {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"});
    fs::permissions(dir_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
  }
  ChildProcess d(argv);
  ASSERT_NE(d.wait_for_line("started", 5), "");
  struct stat st {};
  ASSERT_EQ(::stat(("/proc/" + std::to_string(d.pid()) + "/status").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u) << "the agent (uid " << agent_uid << ") is dumpable";
  // And it is that uid indeed, so the check above could have failed.
  std::ifstream status("/proc/" + std::to_string(d.pid()) + "/status");
  std::string line;
  while (std::getline(status, line) && line.rfind("Uid:", 0) != 0) {
  }
  EXPECT_EQ(line.substr(0, line.find('\t', 5)), "Uid:\t" + std::to_string(agent_uid)) << line;
  d.signal(SIGTERM);
  EXPECT_EQ(d.wait_exit(5), 0);
}

TEST_F(DaemonTest, BadRulesAtStartExitTwoWithFileLine) {
  write_config("memory: mem_usd_pct > 80");
  auto d = start();
  EXPECT_EQ(d->wait_exit(5), 2);
  EXPECT_NE(
      d->wait_for_line("imwatch.conf:13: rule 'memory': unknown metric 'mem_usd_pct' (did you mean 'mem_used_pct'", 1),
      "");
}

}  // namespace

// [check.NAME] end to end: a plugin (tests/fixtures/plugins/from_file.sh)
// whose exit status the test sets fires the check's alert, resolves it, says
// UNKNOWN after three unknown runs, and its perfdata feed a rule.
TEST_F(DaemonTest, AFailingCheckFiresAndResolves) {
  const std::string answer = dir_ + "/answer";
  replace(answer, "0 PROCS OK: 1 process\n");
  write_config("memory: mem_used_pct > 80 crit 95 clear 75\nrule = perf: check.sshd.status >= 1\n"
               "[check.sshd]\ncommand = " + kFixtures + "/plugins/from_file.sh '" + answer + "'\n"
               "interval = 1s\ntimeout = 5s\n");
  auto d = start();
  ASSERT_NE(d->wait_for_line("started: 3 rules", 5), "");
  d->drain(2.5);
  EXPECT_EQ(d->count_lines("notify:"), 0u);

  replace(answer, "2 PROCS CRITICAL: 0 processes with command name 'sshd'\n");
  EXPECT_NE(d->wait_for_line("CRITICAL sshd: PROCS CRITICAL: 0 processes with command name 'sshd' #", 5), "");
  EXPECT_NE(d->wait_for_line("WARNING perf: check.sshd.status 2 >= 1 #", 5), "");
  replace(answer, "0 PROCS OK: 1 process with command name 'sshd'\n");
  EXPECT_NE(d->wait_for_line("RESOLVED sshd: PROCS OK: 1 process with command name 'sshd' after firing", 5), "");
  EXPECT_NE(d->wait_for_line("RESOLVED perf: check.sshd.status 0", 5), "");

  replace(answer, "3 cannot tell\n");
  EXPECT_NE(d->wait_for_line("UNKNOWN sshd: cannot tell", 8), "");
  replace(answer, "0 fine again\n");
  EXPECT_NE(d->wait_for_line("KNOWN sshd: the check answers again after", 5), "");
  d->drain(1.5);
  EXPECT_EQ(d->count_lines("CRITICAL sshd"), 1u);
  EXPECT_EQ(d->count_lines("RESOLVED sshd"), 1u);
}

TEST_F(DaemonTest, ABadCheckAtStartExitsTwoWithFileLine) {
  write_config("memory: mem_used_pct > 80\n[check.sshd]\ncommand = check_procs -C 'sshd\n");
  auto d = start();
  EXPECT_EQ(d->wait_exit(5), 2);
  EXPECT_NE(d->wait_for_line("imwatch.conf:15: check.sshd.command: an unclosed single quote at column 16", 1), "");
}

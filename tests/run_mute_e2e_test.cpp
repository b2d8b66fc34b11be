// `imwatch run --mute` end to end: the real binary as the agent (no XMPP:
// notifications go to its stderr) and as `imwatch run`, over the control
// socket. The command's exit status comes back; the hold ends when the
// command exits, when `imwatch run` is killed, and after an agent restart.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>

#include "fixture_tree.h"
#include "run_process.h"

namespace fs = std::filesystem;
using imwatch::test::ChildProcess;
using imwatch::test::run_process;

namespace {

const std::string kBinary = IMWATCH_BINARY;
const std::string kFixtures = IMWATCH_FIXTURES;

class RunMuteE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/imwatch-run-e2e-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    fs::copy(kFixtures + "/proc/no-swap", dir_ + "/proc", fs::copy_options::recursive);
    imwatch::test::write_meminfo_used(dir_ + "/proc", 50);
    socket_ = dir_ + "/control";
    imwatch::test::replace_file(dir_ + "/imwatch.conf",
                                "proc-root = " + dir_ + "/proc\nstate-dir = " + dir_ +
                                    "/state\nhostname = web1\ncontrol-socket = " + socket_ +
                                    "\n[probe.loadavg]\ninterval = 200ms\n[probe.meminfo]\ninterval = 200ms\n"
                                    "[alert]\nrule = memory: mem_used_pct > 80\n");
  }
  void TearDown() override {
    agent_.reset();
    fs::remove_all(dir_);
  }
  void start_agent() {
    agent_.reset();
    agent_ = std::make_unique<ChildProcess>(std::vector<std::string>{kBinary, "--config", dir_ + "/imwatch.conf"});
    ASSERT_NE(agent_->wait_for_line("started", 5), "");
  }
  std::vector<std::string> run_argv(std::vector<std::string> rest) {
    std::vector<std::string> argv{kBinary, "--config", "/dev/null", "--control-socket", socket_, "run"};
    argv.insert(argv.end(), rest.begin(), rest.end());
    return argv;
  }

  std::string dir_, socket_;
  std::unique_ptr<ChildProcess> agent_;
};

TEST_F(RunMuteE2E, HoldsForTheCommandAndReportsItsExitStatus) {
  start_agent();
  auto r = run_process(run_argv({"--mute", "memory", "--", "/bin/sh", "-c", "echo out; exit 3"}), 20);
  EXPECT_EQ(r.status, 3) << r.err;
  EXPECT_EQ(r.out, "out\n");  // stdio inherited
  EXPECT_NE(r.err.find("imwatch run: sh exited 3"), std::string::npos) << r.err;
  EXPECT_NE(agent_->wait_for_line("HELD memory: imwatch run sh (root)", 5), "");
  EXPECT_NE(agent_->wait_for_line("RELEASED memory: imwatch run sh (root) exited 3", 5), "");

  r = run_process(run_argv({"--mute", "all", "--", "/bin/sh", "-c", "kill -9 $$"}), 20);
  EXPECT_EQ(r.status, 128 + SIGKILL);
  EXPECT_NE(agent_->wait_for_line("RELEASED all rules: imwatch run sh (root) killed by SIGKILL", 5), "");
}

TEST_F(RunMuteE2E, UsageErrorsAndNoAgent) {
  auto r = run_process(run_argv({"--mute", "memory"}), 20);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("no command after --"), std::string::npos) << r.err;
  r = run_process(run_argv({"--max", "soon", "--mute", "memory", "--", "/bin/true"}), 20);
  EXPECT_EQ(r.status, 2);
  // No agent: the work runs anyway, unmuted, and a warning says so.
  r = run_process(run_argv({"--mute", "memory", "--", "/bin/sh", "-c", "exit 0"}), 20);
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.err.find("running sh unmuted"), std::string::npos) << r.err;
  start_agent();
  r = run_process(run_argv({"--mute", "nosuch", "--", "/bin/true"}), 20);
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.err.find("no rule 'nosuch'"), std::string::npos) << r.err;
}

TEST_F(RunMuteE2E, KilledRunIsReleasedWhenItsProcessIsGone) {
  start_agent();
  // A command that ends on its own: killing `imwatch run` orphans it.
  ChildProcess run(run_argv({"--mute", "memory", "--max", "1h", "--", "/bin/sleep", "2"}));
  ASSERT_NE(agent_->wait_for_line("HELD memory: imwatch run sleep (root)", 5), "");
  run.signal(SIGKILL);
  EXPECT_EQ(run.wait_exit(5), 128 + SIGKILL);
  EXPECT_NE(agent_->wait_for_line("RELEASED memory: imwatch run sleep (root) gone (its process ended)", 5), "");
}

TEST_F(RunMuteE2E, TheHoldOutlivesAnAgentRestartAndEndsWithTheCommand) {
  start_agent();
  ChildProcess run(run_argv({"--mute", "memory", "--", "/bin/sleep", "3"}));
  ASSERT_NE(agent_->wait_for_line("HELD memory", 5), "");
  agent_->signal(SIGTERM);
  ASSERT_EQ(agent_->wait_exit(5), 0);
  start_agent();  // the hold comes back from the state file, kept while the PID lives
  imwatch::test::write_meminfo_used(dir_ + "/proc", 90);
  EXPECT_EQ(run.wait_exit(10), 0);
  ASSERT_NE(agent_->wait_for_line("RELEASED memory: imwatch run sleep (root) exited 0", 5), "");
  EXPECT_NE(agent_->wait_for_line("WARNING memory: mem_used_pct 90 > 80", 5), "");  // held, then told
  EXPECT_EQ(agent_->count_lines("HELD"), 0u);  // not told again after the restart
}

}  // namespace

namespace {

// --check-config lists the overrides in force, read from the state dir,
// and the maintenance windows; a bad window is an error with its line.
TEST_F(RunMuteE2E, CheckConfigListsOverridesAndWindows) {
  fs::create_directories(dir_ + "/state");
  fs::permissions(dir_ + "/state", fs::perms::owner_all, fs::perm_options::replace);
  imwatch::test::replace_file(dir_ + "/state/overrides",
                              "imwatch-overrides 1\noverride\tmemory\t1700000000\talice@example.org\twarn=85\n"
                              "override\tgone\t1700000000\tbob\twarn=1\n");
  std::string conf = "state-dir = " + dir_ + "/state\n[alert]\nrule = memory: mem_used_pct > 80 crit 95\n" +
                     "maintenance = backups: Sun 02:00-04:00 memory\n";
  imwatch::test::replace_file(dir_ + "/check.conf", conf);
  auto r = run_process({kBinary, "--check-config", "--config", dir_ + "/check.conf"}, 20);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("  memory: warn 85 (set by alice@example.org); now: memory: mem_used_pct > 85 crit 95\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("  will be dropped: gone: warn 1 dropped: the configuration has no such rule\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("maintenance: 1 windows (local time)\n  backups: Sun 02:00-04:00 memory\n"), std::string::npos)
      << r.out;
  imwatch::test::replace_file(dir_ + "/check.conf", conf + "maintenance = bad: Sun 2-4 memory\n");
  r = run_process({kBinary, "--check-config", "--config", dir_ + "/check.conf"}, 20);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("check.conf:5: maintenance 'bad': bad time '2-4' (HH:MM-HH:MM, local time)"), std::string::npos)
      << r.err;
}

}  // namespace

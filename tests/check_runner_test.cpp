// The runner against real processes: the fixture plugins of
// tests/fixtures/plugins, /bin and /usr/bin tools, and the real
// monitoring-plugins where they are installed. Each test runs both ways of
// learning of an exit: pidfd and the SIGCHLD signalfd fallback.
#include "agent/check_runner.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <sstream>

using namespace imwatch::agent;

namespace {

const std::string kPlugins = std::string(IMWATCH_FIXTURES) + "/plugins/";

class CheckRunnerTest : public ::testing::TestWithParam<bool> {
 protected:
  SystemClock clock_;
  PollWaiter waiter_;
  EventLoop loop_{clock_, waiter_};

  RunnerLimits limits() const {
    RunnerLimits l;
    l.use_pidfd = GetParam();
    l.grace = 0.5;
    return l;
  }

  // Runs the loop until `done` or 30 s (a generous bound, never a measurement).
  void run_until(const std::function<bool()>& done) {
    const double deadline = clock_.now() + 30;
    while (!done() && clock_.now() < deadline) loop_.run_once(0.05);
    ASSERT_TRUE(done()) << "not done within 30 s";
  }

  RunResult run(std::vector<std::string> argv, double timeout = 10) {
    CheckRunner runner(loop_, clock_, limits());
    EXPECT_EQ(runner.using_pidfd(), GetParam());
    std::optional<RunResult> got;
    runner.run(std::move(argv), timeout, [&](RunResult r) { got = std::move(r); });
    EXPECT_FALSE(got) << "done must not be called from inside run()";
    run_until([&] { return got.has_value(); });
    EXPECT_EQ(runner.running(), 0u);
    return got ? *got : RunResult{};
  }
};

// The state letter of /proc/PID/stat, or 0 when the process is gone.
char proc_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  size_t paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() ? 0 : stat[paren + 2];
}

}  // namespace

TEST_P(CheckRunnerTest, ExitStatusAndOutput) {
  for (int status : {0, 1, 2, 3, 4, 127}) {
    RunResult r = run({kPlugins + "exit_with.sh", std::to_string(status), "SAID " + std::to_string(status), "more"});
    EXPECT_EQ(r.started_error, "");
    EXPECT_EQ(r.exit_code, status);
    EXPECT_EQ(r.signal, 0);
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.output, "SAID " + std::to_string(status) + "\nmore\n");
    EXPECT_EQ(proc_state(r.pid), 0) << "no zombie left";
  }
}

TEST_P(CheckRunnerTest, StderrGoesToTheSamePipe) {
  RunResult r = run({"/bin/sh", "-c", "echo out; echo err >&2; exit 1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.output, "out\nerr\n");
}

TEST_P(CheckRunnerTest, CannotStart) {
  RunResult r = run({kPlugins + "not_executable.sh"});
  EXPECT_EQ(r.started_error, "Permission denied");
  EXPECT_EQ(r.exit_code, -1);
  r = run({kPlugins + "no_such_plugin"});
  EXPECT_EQ(r.started_error, "No such file or directory");
  r = run({"relative/path"});
  EXPECT_EQ(r.started_error, "not an absolute path");
  r = run({});
  EXPECT_EQ(r.started_error, "not an absolute path");
  r = run({kPlugins});  // a directory
  EXPECT_EQ(r.started_error, "Permission denied");
}

TEST_P(CheckRunnerTest, MinimalEnvironment) {
  ::setenv("IMWATCH_TEST_SECRET", "hunter2", 1);
  RunResult r = run({"/usr/bin/env"});
  ::unsetenv("IMWATCH_TEST_SECRET");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, "PATH=/usr/sbin:/usr/bin:/sbin:/bin\nLANG=C\n");
}

TEST_P(CheckRunnerTest, StdinIsDevNullAndNoOtherDescriptorIsInherited) {
  int leaked = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC: a descriptor the agent forgot
  ASSERT_GE(leaked, 0);
  RunResult r = run({"/bin/ls", "/proc/self/fd"});
  RunResult in = run({"/usr/bin/readlink", "/proc/self/fd/0"});
  ::close(leaked);
  EXPECT_EQ(r.output, "0\n1\n2\n3\n");  // 3: the directory ls itself reads
  EXPECT_EQ(in.output, "/dev/null\n");
}

TEST_P(CheckRunnerTest, OwnProcessGroupAndDefaultSignals) {
  // The test process blocks signals as the daemon does (its signalfd): the
  // plugin must not inherit the mask.
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  ::sigprocmask(SIG_BLOCK, &set, &old);
  RunResult r = run({"/bin/cat", "/proc/self/stat"});
  RunResult mask = run({"/bin/grep", "^SigBlk", "/proc/self/status"});
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  std::istringstream stat(r.output.substr(r.output.rfind(')') + 2));
  char state;
  pid_t ppid, pgrp;
  stat >> state >> ppid >> pgrp;
  EXPECT_EQ(pgrp, r.pid) << "the plugin leads a group of its own";
  EXPECT_EQ(mask.output, "SigBlk:\t0000000000000000\n");
}

TEST_P(CheckRunnerTest, TimeoutSendsSigtermToTheGroup) {
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  ::sigprocmask(SIG_BLOCK, &set, &old);  // as in the daemon
  RunResult r = run({kPlugins + "hang.sh"}, 0.3);
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.signal, SIGTERM);  // not SIGKILL: the plugin got its chance
  EXPECT_EQ(r.output, "about to hang\n");
  EXPECT_EQ(proc_state(r.pid), 0);
}

TEST_P(CheckRunnerTest, SigkillAfterTheGrace) {
  RunResult r = run({kPlugins + "hang_ignoring_term.sh"}, 0.3);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.signal, SIGKILL);
  EXPECT_EQ(proc_state(r.pid), 0);
}

TEST_P(CheckRunnerTest, MegabytesAreReadAndDropped) {
  RunResult r = run({kPlugins + "megabytes.sh"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.output.size(), 8192u);
  EXPECT_EQ(r.discarded, 5000000u - 8192u);
  EXPECT_EQ(r.output.substr(0, 4), "y\ny\n");
}

TEST_P(CheckRunnerTest, ChildOutlivingThePluginIsKilled) {
  RunResult r = run({kPlugins + "outliving_child.sh"}, 10);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_FALSE(r.timed_out) << "the child holding the pipe must not keep the run going";
  const std::string marker = "left child ";
  size_t at = r.output.find(marker);
  ASSERT_NE(at, std::string::npos) << r.output;
  pid_t child = std::stoi(r.output.substr(at + marker.size()));
  // SIGKILLed with its group; its new parent (init) reaps it. Allow it time.
  const double deadline = clock_.now() + 10;
  while (proc_state(child) != 0 && proc_state(child) != 'Z' && clock_.now() < deadline) ::usleep(10000);
  char state = proc_state(child);
  EXPECT_TRUE(state == 0 || state == 'Z') << "the child still runs: state " << state;
}

TEST_P(CheckRunnerTest, AtMostMaxRunningAtOnceTheRestQueued) {
  RunnerLimits l = limits();
  l.max_running = 2;
  CheckRunner runner(loop_, clock_, l);
  int done = 0;
  size_t most = 0;
  for (int i = 0; i < 5; ++i) runner.run({"/bin/sleep", "0.1"}, 10, [&](RunResult r) { done += r.exit_code == 0; });
  EXPECT_EQ(runner.running(), 2u);
  EXPECT_EQ(runner.queued(), 3u);
  run_until([&] {
    most = std::max(most, runner.running());
    return done == 5;
  });
  EXPECT_EQ(most, 2u);
  EXPECT_EQ(runner.queued(), 0u);
}

TEST_P(CheckRunnerTest, DestructorKillsAndReapsWhatRuns) {
  pid_t pid = 0;
  {
    CheckRunner runner(loop_, clock_, limits());
    runner.run({"/bin/sleep", "600"}, 600, [](RunResult) { ADD_FAILURE() << "no done after destruction"; });
    ASSERT_EQ(runner.running(), 1u);
    loop_.run_once(0);
    // The sleep is our child: find it in /proc.
    std::ifstream in("/proc/self/task/" + std::to_string(::getpid()) + "/children");
    in >> pid;
  }
  ASSERT_GT(pid, 0);
  EXPECT_EQ(proc_state(pid), 0);
  loop_.run_once(0);
}

TEST_P(CheckRunnerTest, RealMonitoringPlugins) {
  const std::string dir = "/usr/lib/nagios/plugins/";
  // packaging/install-deps.sh installs monitoring-plugins-basic.
  struct stat st {};
  ASSERT_EQ(::stat((dir + "check_dummy").c_str(), &st), 0) << "monitoring-plugins-basic is not installed";
  RunResult r = run({dir + "check_dummy", "2", "dummy says so"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.output, "CRITICAL: dummy says so\n");
  // check_procs leaves out itself and its parent (this process): count a
  // child of ours instead.
  pid_t sleeper = ::fork();
  ASSERT_GE(sleeper, 0);
  if (sleeper == 0) {
    ::execl("/bin/sleep", "sleep", "600", nullptr);
    ::_exit(127);
  }
  r = run({dir + "check_procs", "-c", "1:1", "--ppid", std::to_string(::getpid()), "-C", "sleep"});
  ::kill(sleeper, SIGKILL);
  ::waitpid(sleeper, nullptr, 0);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, fmt::format("PROCS OK: 1 process with PPID = {}, command name 'sleep' | procs=1;;1:1;0;\n",
                                   ::getpid()));
}

INSTANTIATE_TEST_SUITE_P(ExitThrough, CheckRunnerTest, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "pidfd" : "sigchld"; });

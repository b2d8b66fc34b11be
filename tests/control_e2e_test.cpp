// The local `imwatch COMMAND` end to end: the real binary as the agent (no
// XMPP configured: the local command needs none) and as the client, with
// the exit statuses, a client that never writes, and who may run commands
// (real users and a real group, created here when the test runs as root).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "fixture_tree.h"
#include "run_process.h"

namespace fs = std::filesystem;
using imwatch::test::ChildProcess;
using imwatch::test::run_process;

namespace {

const std::string kBinary = IMWATCH_BINARY;
const std::string kFixtures = IMWATCH_FIXTURES;

class ControlE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/imwatch-control-e2e-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    ::chmod(dir_.c_str(), 0755);  // other users reach the socket; the agent decides
    fs::copy(kFixtures + "/proc/no-swap", dir_ + "/proc", fs::copy_options::recursive);
    imwatch::test::write_meminfo_used(dir_ + "/proc", 50);
    socket_ = dir_ + "/control";
    group_ = "imwt" + std::to_string(::getpid());
  }
  void TearDown() override {
    agent_.reset();
    for (const auto& u : users_) run_process({"/usr/sbin/userdel", u});
    if (made_group_) run_process({"/usr/sbin/groupdel", group_});
    fs::remove_all(dir_);
  }
  void start_agent() {
    imwatch::test::replace_file(dir_ + "/imwatch.conf",
                                "proc-root = " + dir_ + "/proc\nstate-dir = " + dir_ +
                                    "/state\nhostname = web1\nlog-level = trace\ncontrol-socket = " + socket_ +
                                    "\ncontrol-group = " + group_ +
                                    "\n[probe.loadavg]\ninterval = 200ms\n[alert]\nrule = memory: mem_used_pct > 80\n");
    agent_ = std::make_unique<ChildProcess>(std::vector<std::string>{kBinary, "--config", dir_ + "/imwatch.conf"});
    ASSERT_NE(agent_->wait_for_line("started", 5), "");
  }
  // `imwatch --config /dev/null --control-socket S words...`, optionally as another user.
  imwatch::test::ProcessResult run(std::vector<std::string> words, const std::string& as_user = "") {
    std::vector<std::string> argv;
    if (!as_user.empty()) argv = {"/usr/bin/setpriv", "--reuid=" + as_user, "--regid=" + as_user, "--init-groups"};
    for (auto w : {kBinary, std::string("--config"), std::string("/dev/null"), std::string("--control-socket"), socket_})
      argv.push_back(w);
    for (auto& w : words) argv.push_back(w);
    return run_process(argv, 20);
  }
  int raw_connect() {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, socket_.c_str(), socket_.size());
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    return fd;
  }

  std::string dir_, socket_, group_;
  bool made_group_ = false;
  std::vector<std::string> users_;
  std::unique_ptr<ChildProcess> agent_;
};

TEST_F(ControlE2E, NoAgentIsExitOne) {
  auto r = run({"status"});
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("imwatch: no agent answers on " + socket_), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST_F(ControlE2E, ACommandWithAModeIsAUsageError) {
  auto r = run({"--once", "status"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("excludes --once"), std::string::npos) << r.err;
}

TEST_F(ControlE2E, TheChatsRepliesAndExitStatuses) {
  start_agent();
  auto r = run({"status"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.rfind("web1, up ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("no alerts"), std::string::npos) << r.out;

  r = run({"mute", "2h", "memory"});
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, "muted memory for 2h\n");
  // Told like a chat action, under the local user's name.
  const std::string me = getuid() == 0 ? "root" : "";
  EXPECT_NE(agent_->wait_for_line("local: 'mute 2h memory' from " + me, 5), "");

  r = run({"ack"});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err, "usage: ack N (the #N of an alert)\n");
  r = run({"ack", "9"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "no firing alert #9\n");
  r = run({"frobnicate"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("unknown command 'frobnicate'"), std::string::npos);
  r = run({"help", "mute"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("example:"), std::string::npos);
  r = run({std::string(2000, 'x')});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("over 1024 bytes"), std::string::npos);
}

TEST_F(ControlE2E, AClientThatNeverWritesStallsNothing) {
  start_agent();
  std::vector<int> silent;
  for (int i = 0; i < 7; ++i) silent.push_back(raw_connect());  // one slot of 8 left
  agent_->drain(0.5);
  const size_t before = agent_->count_lines("probe loadavg: sampled");
  auto r = run({"ping"});
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, "pong\n");
  agent_->drain(1.0);
  EXPECT_GE(agent_->count_lines("probe loadavg: sampled"), before + 3);  // 200 ms interval: about 5
  // Past their deadline (5 s) the silent ones are closed: EOF, no answer.
  for (int fd : silent) {
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char c;
    EXPECT_EQ(::recv(fd, &c, 1, 0), 0);
    ::close(fd);
  }
  r = run({"ping"});
  EXPECT_EQ(r.out, "pong\n");
}

TEST_F(ControlE2E, RootAndTheGroupMayOthersMayNot) {
  if (::getuid() != 0) GTEST_SKIP() << "needs root to create a user and a group";
  ASSERT_EQ(run_process({"/usr/sbin/groupadd", group_}).status, 0);
  made_group_ = true;
  const std::string member = group_ + "m", other = group_ + "o";
  ASSERT_EQ(run_process({"/usr/sbin/useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", "-G", group_, member})
                .status,
            0);
  users_.push_back(member);
  ASSERT_EQ(run_process({"/usr/sbin/useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", other}).status, 0);
  users_.push_back(other);
  start_agent();

  auto r = run({"mute", "10m", "memory"});
  EXPECT_EQ(r.status, 0) << r.err;
  r = run({"mute", "20m", "memory"}, member);  // a supplementary group
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "muted memory for 20m\n");
  EXPECT_NE(agent_->wait_for_line("local: 'mute 20m memory' from " + member, 5), "");

  r = run({"status"}, other);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("not authorised: only root and members of the group '" + group_ + "'"), std::string::npos)
      << r.err;
  EXPECT_NE(agent_->wait_for_line("'" + other + "' (uid", 5), "");
  r = run({"unmute"}, other);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(agent_->count_lines("unmuted"), 0u);
}

}  // namespace

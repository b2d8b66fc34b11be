// The filesystem probe in the real binary against real mounts made for the
// test (root only; skipped with a message otherwise):
// - a loop-mounted ext4 image filled past the threshold fires the disk
//   rule, emptied resolves it, and unmounted while firing is closed;
// - a FUSE filesystem whose statfs never returns (tests/support/hang_fs.py)
//   makes that mount unknown, named in the log, while rules and --once go on.
// The proc root is a fixture tree whose self/mountinfo holds the real lines
// of those mounts (copied from the kernel's), so nothing else on the machine
// is watched. Mounts are undone and helpers killed by PID, also on failure.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "fixture_tree.h"
#include "run_process.h"

namespace fs = std::filesystem;
using imwatch::test::ChildProcess;
using imwatch::test::run_process;

namespace {

const std::string kBinary = IMWATCH_BINARY;
const std::string kFixtures = IMWATCH_FIXTURES;

// The kernel's mountinfo line for `point`, waiting up to `timeout_s` for it.
std::string mountinfo_line(const std::string& point, double timeout_s) {
  auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  do {
    std::ifstream in("/proc/self/mountinfo");
    for (std::string l; std::getline(in, l);) {
      std::istringstream f(l);
      std::string id, parent, dev, root, mp;
      f >> id >> parent >> dev >> root >> mp;
      if (mp == point) return l;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (std::chrono::steady_clock::now() < until);
  return "";
}

bool have(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

class FilesystemE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/imwatch-fs-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    fs::copy(kFixtures + "/proc/no-swap", dir_ + "/proc", fs::copy_options::recursive);
    imwatch::test::write_meminfo_used(dir_ + "/proc", 50);
  }
  void TearDown() override {
    // The FUSE helper first (SIGKILL by PID): a process with a thread stuck
    // in a FUSE request cannot be reaped until the request ends, and the
    // kernel ends it when the helper dies.
    helper_.reset();
    once_.reset();
    daemon_.reset();
    for (const auto& m : mounts_) {
      if (run_process({"/usr/bin/umount", m}, 10).status != 0) run_process({"/usr/bin/umount", "-l", m}, 10);
    }
    fs::remove_all(dir_);
  }
  void write_mountinfo(const std::string& text) { imwatch::test::replace_file(dir_ + "/proc/self/mountinfo", text); }
  void write_config(const std::string& extra) {
    imwatch::test::replace_file(dir_ + "/imwatch.conf",
                                "proc-root = " + dir_ + "/proc\nstate-dir = " + dir_ +
                                    "/state\nhostname = web1\n"
                                    "[probe.loadavg]\ninterval = 1s\n[probe.meminfo]\ninterval = 1s\n"
                                    "[probe.vmstat]\ninterval = 1s\n[probe.pressure]\ninterval = 1s\n"
                                    "[probe.filesystem]\ninterval = 1s\n" +
                                    extra);
  }
  void start() {
    daemon_ = std::make_unique<ChildProcess>(std::vector<std::string>{kBinary, "--config", dir_ + "/imwatch.conf"});
  }

  std::string log() const {
    std::string all;
    for (const auto& l : daemon_->lines()) all += l + "\n";
    return all;
  }

  std::string dir_;
  std::vector<std::string> mounts_;  // undone in TearDown, last first
  std::unique_ptr<ChildProcess> helper_, daemon_, once_;
};

TEST_F(FilesystemE2E, LoopExt4FilledPastTheThresholdFiresAndResolves) {
  if (::geteuid() != 0 || !have("/usr/sbin/mkfs.ext4") || !fs::exists("/dev/loop-control"))
    GTEST_SKIP() << "needs root, mkfs.ext4 and loop devices: the loop-mounted ext4 test is skipped";
  const std::string img = dir_ + "/ext4.img", mnt = dir_ + "/mnt";
  fs::create_directory(mnt);
  ASSERT_EQ(run_process({"/usr/bin/dd", "if=/dev/zero", "of=" + img, "bs=1M", "count=16", "status=none"}).status, 0);
  ASSERT_EQ(run_process({"/usr/sbin/mkfs.ext4", "-q", "-F", img}).status, 0);
  // -o loop: the loop device is detached (autoclear) when it is unmounted.
  auto m = run_process({"/usr/bin/mount", "-o", "loop", img, mnt});
  if (m.status != 0) GTEST_SKIP() << "mount -o loop failed here (" << m.err << "): the loop ext4 test is skipped";
  mounts_.push_back(mnt);
  const std::string line = mountinfo_line(mnt, 5);
  ASSERT_NE(line, "");
  write_mountinfo(line + "\n");
  write_config("[alert]\nrule = disk: fs_used_pct > 50 clear 40\n");
  start();
  ASSERT_NE(daemon_->wait_for_line("started", 5), "");
  daemon_->drain(1.5);
  EXPECT_EQ(daemon_->count_lines("notify:"), 0u);

  const std::string file = mnt + "/fill";
  ASSERT_EQ(run_process({"/usr/bin/dd", "if=/dev/zero", "of=" + file, "bs=1M", "count=10", "conv=fsync",
                         "status=none"})
                .status,
            0);
  EXPECT_NE(daemon_->wait_for_line("notify: web1: WARNING disk " + mnt + ": fs_used_pct ", 5), "") << log();
  EXPECT_NE(daemon_->wait_for_line(" > 50 #1", 1), "") << log();
  fs::remove(file);
  run_process({"/usr/bin/sync", "-f", mnt});
  EXPECT_NE(daemon_->wait_for_line("notify: web1: RESOLVED disk " + mnt + ": fs_used_pct ", 5), "");
  // Filled again, then gone while firing: closed, saying so.
  ASSERT_EQ(run_process({"/usr/bin/dd", "if=/dev/zero", "of=" + file, "bs=1M", "count=10", "conv=fsync",
                         "status=none"})
                .status,
            0);
  EXPECT_NE(daemon_->wait_for_line(" > 50 #2", 5), "") << log();
  write_mountinfo("");
  EXPECT_NE(daemon_->wait_for_line("notify: web1: VANISHED disk " + mnt + ": no longer there", 5), "") << log();
  daemon_->signal(SIGTERM);
  EXPECT_EQ(daemon_->wait_exit(5), 0);
}

TEST_F(FilesystemE2E, AFuseMountWhoseStatfsNeverAnswersStallsNothing) {
  if (::geteuid() != 0 || !fs::exists("/dev/fuse"))
    GTEST_SKIP() << "needs root and /dev/fuse: the FUSE hang test is skipped";
  if (run_process({"/usr/bin/python3", "-c", "import fusepy"}).status != 0)
    GTEST_SKIP() << "needs python3-fusepy: the FUSE hang test is skipped";
  const std::string hang = dir_ + "/hang";
  fs::create_directory(hang);
  helper_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{"/usr/bin/python3", IMWATCH_SOURCE_DIR "/tests/support/hang_fs.py", hang});
  mounts_.push_back(hang);
  const std::string line = mountinfo_line(hang, 10);
  ASSERT_NE(line, "") << "the FUSE filesystem did not mount";
  // The hung mount and this machine's root, which still answers.
  write_mountinfo(line + "\n" + mountinfo_line("/", 1) + "\n");
  write_config("[probe.filesystem]\ninclude_types = fuse\n[alert]\nrule = memory: mem_used_pct > 80\n"
               "rule = disk: fs_used_pct > 100\n");
  start();
  ASSERT_NE(daemon_->wait_for_line("started", 5), "");
  EXPECT_NE(daemon_->wait_for_line("probe filesystem: statfs '" + hang + "': no answer within", 10), "");
  // The loop goes on: memory is sampled, the rule fires, the probe's failure is told.
  imwatch::test::write_meminfo_used(dir_ + "/proc", 85);
  // Without the "web1: " prefix: the probe's failure may be told in the same
  // message ("web1: 2 changes", then a line each).
  EXPECT_NE(daemon_->wait_for_line("WARNING memory: mem_used_pct 85 > 80 #1", 10), "") << log();
  EXPECT_NE(daemon_->wait_for_line("PROBE filesystem failing: statfs '" + hang + "'", 10), "");

  // --once waits at most its deadline for the mount and goes on.
  once_ = std::make_unique<ChildProcess>(std::vector<std::string>{kBinary, "--once", "--config", dir_ + "/imwatch.conf"});
  EXPECT_NE(once_->wait_for_line("imwatch: probe filesystem: statfs '" + hang + "': no answer within", 10), "");

  // The agent stops as asked. Its process is only reaped once the kernel
  // ends the stuck request (TearDown kills the FUSE daemon): a thread in a
  // FUSE request that userspace has taken waits for the answer, even when
  // killed. No agent can do better; systemd's stop timeout covers it.
  daemon_->signal(SIGTERM);
  EXPECT_NE(daemon_->wait_for_line("stopped", 10), "") << log();
}

}  // namespace

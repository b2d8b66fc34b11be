// system_shutting_down(): what the stop status says, from the files systemd
// leaves under /run (a temporary tree here).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/daemon.h"

namespace fs = std::filesystem;
using imwatch::agent::system_shutting_down;

namespace {

class SystemShutdown : public ::testing::Test {
 public:
  void SetUp() override {
    run = fs::temp_directory_path() / ("imwatch-run-" + std::to_string(::getpid()));
    fs::create_directories(run);
  }
  void TearDown() override { fs::remove_all(run); }
  void touch(const std::string& rel) {
    fs::create_directories((run / rel).parent_path());
    std::ofstream(run / rel) << "";
  }
  fs::path run;
};

TEST_F(SystemShutdown, NotUnderSystemdNever) {
  touch("nologin");
  touch("systemd/shutdown/scheduled");
  fs::remove_all(run / "systemd/system");
  EXPECT_FALSE(system_shutting_down(run.string()));
}

TEST_F(SystemShutdown, RunningSystemIsNotShuttingDown) {
  fs::create_directories(run / "systemd/system");
  EXPECT_FALSE(system_shutting_down(run.string()));
}

TEST_F(SystemShutdown, ScheduledShutdownOrNologinMeansShutdown) {
  fs::create_directories(run / "systemd/system");
  touch("systemd/shutdown/scheduled");
  EXPECT_TRUE(system_shutting_down(run.string()));
  fs::remove(run / "systemd/shutdown/scheduled");
  touch("nologin");
  EXPECT_TRUE(system_shutting_down(run.string()));
}

}  // namespace

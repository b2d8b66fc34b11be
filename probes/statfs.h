// Asking the kernel for a filesystem's figures (statfs(2)) without ever
// stalling the caller: a statfs on a dead NFS server or a hung FUSE daemon
// blocks in the kernel, uninterruptibly, for as long as the server is gone.
// The agent has one thread and an event loop (docs/how-it-works.md), so the
// calls run on a few worker threads and the caller waits for them at most a
// deadline. A path whose call is still stuck is not asked again (that would
// only pile up threads) until the call returns.
//
// The probe takes the interface, so unit tests pass a fake and only the
// end-to-end tests reach the kernel.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace imwatch::probes {

// What statfs(2) says, in the units df(1) uses: block counts of f_frsize
// bytes, inode counts.
struct FsStats {
  uint64_t frsize = 0;
  uint64_t blocks = 0, bfree = 0, bavail = 0;
  uint64_t files = 0, ffree = 0;
};

struct StatfsResult {
  enum Status { ok, failed, timed_out, stuck, busy };
  Status status = failed;
  FsStats stats;
  std::string error;  // failed: strerror; the others: why it was not answered
};

class Statfs {
 public:
  virtual ~Statfs() = default;
  // One result per path, in order.
  virtual std::vector<StatfsResult> stat_all(const std::vector<std::string>& paths) = 0;
};

// The real one: statfs(2) on up to `threads` worker threads (started when
// first needed), waiting at most `deadline` seconds per stat_all() call.
// A thread stuck in the kernel stays stuck; it is one of `threads`, so the
// number of threads is bounded whatever the mounts do. When every thread is
// stuck, the paths are answered `busy` at once.
class ThreadedStatfs final : public Statfs {
 public:
  explicit ThreadedStatfs(size_t threads = 4, double deadline = 1.0);
  ~ThreadedStatfs() override;
  ThreadedStatfs(const ThreadedStatfs&) = delete;
  ThreadedStatfs& operator=(const ThreadedStatfs&) = delete;

  std::vector<StatfsResult> stat_all(const std::vector<std::string>& paths) override;
  // Calls still stuck in the kernel (for tests and the log).
  size_t stuck() const;

  struct Shared;  // with the threads, which may outlive this object

 private:
  std::shared_ptr<Shared> shared_;
  size_t max_threads_;
  double deadline_;
};

}  // namespace imwatch::probes

// One collection of every probe against the raw cost of reading the same
// files (held descriptors, pread from 0: the cheapest way to read procfs).
// Not part of ctest: run build/tests/bench/probes_bench.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <malloc.h>
#include <sys/statvfs.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "probes/filesystem.h"
#include "probes/probes.h"

namespace {

std::string root() {
  const char* r = std::getenv("IMWATCH_BENCH_PROC_ROOT");
  return r ? r : "/proc";
}

// The files one collection reads in steady state (loadavg's CPU count is
// refreshed from stat once a minute, so it is not in the steady state).
const char* kFiles[] = {"loadavg", "meminfo", "stat", "vmstat", "pressure/cpu", "pressure/memory", "pressure/io"};

void BM_RawReads(benchmark::State& state) {
  std::vector<int> fds;
  for (const char* f : kFiles) {
    int fd = ::open((root() + "/" + f).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) fds.push_back(fd);
  }
  static char buf[1 << 20];
  for (auto _ : state) {
    for (int fd : fds) {
      ssize_t off = 0, n;
      while ((n = ::pread(fd, buf + off, sizeof buf - static_cast<size_t>(off), off)) > 0) off += n;
      benchmark::DoNotOptimize(off);
    }
  }
  for (int fd : fds) ::close(fd);
}
BENCHMARK(BM_RawReads);

void BM_CollectAll(benchmark::State& state) {
  imwatch::probes::ProcRoot r(root());
  auto probes = imwatch::probes::make_probes(r);
  // The filesystem probe samples once a minute, not every 10 s: it has its
  // own benchmarks below.
  std::erase_if(probes, [](const auto& p) { return p->name() == imwatch::probes::FilesystemProbe::probe_name; });
  std::vector<imwatch::probes::Values> values(probes.size());
  double now = 0;
  for (auto& p : probes) p->collect(now, values[0]);  // past the first sample
  for (auto _ : state) {
    now += 10;
    for (size_t i = 0; i < probes.size(); ++i) benchmark::DoNotOptimize(probes[i]->collect(now, values[i]));
  }
}
BENCHMARK(BM_CollectAll);

// A proc root whose self/mountinfo lists `n` ext4 mounts, each a real
// directory under a scratch dir (statfs answers for any directory), so the
// probe does all its work: read and parse mountinfo, select, one statfs
// per mount on the worker threads, df's arithmetic.
struct Mounts {
  explicit Mounts(int n) {
    char tmpl[] = "/tmp/imwatch-bench-fs-XXXXXX";
    dir = ::mkdtemp(tmpl);
    std::filesystem::create_directories(dir + "/proc/self");
    std::ofstream mi(dir + "/proc/self/mountinfo");
    for (int i = 0; i < n; ++i) {
      std::string d = dir + "/m" + std::to_string(i);
      std::filesystem::create_directory(d);
      mi << i + 30 << " 1 7:" << i << " / " << d << " rw,relatime shared:" << i << " - ext4 /dev/loop" << i
         << " rw\n";
    }
  }
  ~Mounts() { std::filesystem::remove_all(dir); }
  std::string dir;
};

// The same as the threaded statfs, called in line: what the hand-off to the
// worker threads costs.
class DirectStatfs final : public imwatch::probes::Statfs {
 public:
  std::vector<imwatch::probes::StatfsResult> stat_all(const std::vector<std::string>& paths) override {
    std::vector<imwatch::probes::StatfsResult> out(paths.size());
    for (size_t i = 0; i < paths.size(); ++i) {
      struct statvfs st {};
      if (::statvfs(paths[i].c_str(), &st) == 0) {
        out[i].status = imwatch::probes::StatfsResult::ok;
        out[i].stats = {st.f_frsize, st.f_blocks, st.f_bfree, st.f_bavail, st.f_files, st.f_ffree};
      }
    }
    return out;
  }
};

void filesystem(benchmark::State& state, bool threaded) {
  Mounts m(static_cast<int>(state.range(0)));
  imwatch::probes::ProcRoot r(m.dir + "/proc");
  const size_t before = mallinfo2().uordblks;
  imwatch::probes::FilesystemProbe p(r, {}, threaded ? nullptr : std::make_unique<DirectStatfs>());
  imwatch::probes::Values v;
  p.collect(0, v);
  // What the probe and one sample's values hold, per mount.
  state.counters["bytes_per_mount"] =
      static_cast<double>(mallinfo2().uordblks - before) / static_cast<double>(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(p.collect(0, v));
  state.counters["mounts"] = static_cast<double>(p.instances().size());
}
void BM_Filesystem(benchmark::State& state) { filesystem(state, true); }
void BM_FilesystemInLine(benchmark::State& state) { filesystem(state, false); }
// Process CPU: the worker threads' time counts too.
BENCHMARK(BM_Filesystem)->Arg(10)->Arg(500)->MeasureProcessCPUTime();
BENCHMARK(BM_FilesystemInLine)->Arg(10)->Arg(500)->MeasureProcessCPUTime();

}  // namespace

BENCHMARK_MAIN();

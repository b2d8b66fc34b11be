// One collection of every probe against the raw cost of reading the same
// files (held descriptors, pread from 0: the cheapest way to read procfs).
// Not part of ctest: run build/tests/bench/probes_bench.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

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
  std::vector<imwatch::probes::Values> values(probes.size());
  double now = 0;
  for (auto& p : probes) p->collect(now, values[0]);  // past the first sample
  for (auto _ : state) {
    now += 10;
    for (size_t i = 0; i < probes.size(); ++i) benchmark::DoNotOptimize(probes[i]->collect(now, values[i]));
  }
}
BENCHMARK(BM_CollectAll);

}  // namespace

BENCHMARK_MAIN();

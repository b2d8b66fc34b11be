// The history's budget (agent/history.h): at most 8 KiB of memory and 1 µs
// of CPU per metric per sample. Not part of ctest: run
// build/tests/bench/history_bench.
//
// BM_SampleAll*: one sample of every probe as the daemon takes it
// (collect, then each metric into the history, or not), against
// IMWATCH_BENCH_PROC_ROOT or /proc: the difference is what history costs.
// BM_Record: one metric into the history, looked up by name as the daemon
// does, over a day of fake time (ring wrap and bucket commits included).
// The counters say bytes per metric and the metrics per sample.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "agent/history.h"
#include "probes/probes.h"

namespace {

using imwatch::agent::History;

std::string root() {
  const char* r = std::getenv("IMWATCH_BENCH_PROC_ROOT");
  return r ? r : "/proc";
}

void sample_all(benchmark::State& state, bool history) {
  imwatch::probes::ProcRoot r(root());
  auto probes = imwatch::probes::make_probes(r);
  std::vector<imwatch::probes::Values> values(probes.size());
  History h;
  double now = 0, wall = 1'700'000'000;
  size_t metrics = 0;
  for (size_t i = 0; i < probes.size(); ++i) {
    probes[i]->collect(now, values[i]);  // past the first sample
    metrics += probes[i]->metrics().size();
  }
  for (auto _ : state) {
    now += 10, wall += 10;
    for (size_t i = 0; i < probes.size(); ++i) {
      benchmark::DoNotOptimize(probes[i]->collect(now, values[i]));
      if (!history) continue;
      auto m = probes[i]->metrics();
      for (size_t j = 0; j < m.size() && j < values[i].size(); ++j) h.record(m[j].name, 10, wall, values[i][j]);
    }
  }
  state.counters["metrics"] = static_cast<double>(metrics);
  state.counters["history_bytes"] = static_cast<double>(h.size() * sizeof(imwatch::agent::Series));
}

void BM_SampleAllHistoryOff(benchmark::State& state) { sample_all(state, false); }
BENCHMARK(BM_SampleAllHistoryOff);
void BM_SampleAllHistoryOn(benchmark::State& state) { sample_all(state, true); }
BENCHMARK(BM_SampleAllHistoryOn);

void BM_Record(benchmark::State& state) {
  History h;
  std::vector<std::string> names;
  for (const auto& n : imwatch::probes::metric_names()) names.push_back(n);
  double wall = 1'700'000'000;
  size_t i = 0;
  for (auto _ : state) {
    // A step of 10 s per round of all metrics: a day is 8640 rounds.
    if (i == names.size()) i = 0, wall += 10;
    h.record(names[i], 10, wall, static_cast<double>(i) + wall * 1e-6);
    ++i;
  }
  state.counters["bytes_per_metric"] = sizeof(imwatch::agent::Series);
  state.counters["metrics"] = static_cast<double>(names.size());
}
BENCHMARK(BM_Record);

// A graph of a metric over 6 h: what `graph` costs per metric.
void BM_Window6h(benchmark::State& state) {
  History h;
  double wall = 1'700'000'000;
  for (int i = 0; i < 48 * 360; ++i) h.record("load1_per_cpu", 10, wall += 10, i % 100);
  for (auto _ : state) benchmark::DoNotOptimize(h.find("load1_per_cpu")->window(wall, 6 * 3600, 32));
}
BENCHMARK(BM_Window6h);

// The file written once a minute: serialize every default metric.
void BM_SerializeDefaultMetrics(benchmark::State& state) {
  History h;
  double wall = 1'700'000'000;
  for (int i = 0; i < 360; ++i, wall += 10)
    for (const auto& n : imwatch::probes::metric_names()) h.record(n, 10, wall, i);
  size_t bytes = 0;
  for (auto _ : state) bytes = h.serialize().size();
  state.counters["file_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_SerializeDefaultMetrics);

}  // namespace

BENCHMARK_MAIN();

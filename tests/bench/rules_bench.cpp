// CPU time of one evaluation pass with 100 rules, the way the daemon runs
// it: every rule evaluated on a sample, reminders checked, events taken.
// Not part of ctest: run build/tests/bench/rules_bench.
#include <benchmark/benchmark.h>

#include "agent/daemon.h"
#include "agent/alert_engine.h"

namespace {

using namespace imwatch::agent;

void BM_EvaluationPass100Rules(benchmark::State& state) {
  auto metrics = metric_catalogue();
  std::vector<Rule> rules;
  for (int i = 0; i < 100; ++i) {
    Rule r;
    const std::string& m = metrics[static_cast<size_t>(i) % metrics.size()];
    (void)parse_rule("r" + std::to_string(i) + ": " + m + " > 50 crit 90 for 1m clear 40", metrics, r);
    rules.push_back(r);
  }
  AlertEngine engine;
  engine.configure(rules, {}, [](const std::string&) { return std::string("p"); });
  double t = 0;
  // Values wander across the thresholds so that rules really change state.
  auto lookup = [&](const std::string& metric) -> std::optional<double> {
    return static_cast<double>((static_cast<long>(t) / 10 + static_cast<long>(metric.size()) * 7) % 100);
  };
  for (auto _ : state) {
    t += 1;
    engine.evaluate("p", lookup, t, 1.7e9 + t);
    engine.remind(1.7e9 + t);
    benchmark::DoNotOptimize(engine.take_events());
  }
}
BENCHMARK(BM_EvaluationPass100Rules);

}  // namespace

BENCHMARK_MAIN();

// What one plugin run costs: N runs through the real CheckRunner on the real
// loop, one at a time, and the CPU time of this process (spawn, pidfd, pipe,
// reap: the agent's share) and of its children (the plugin's own) per run.
//
//   build/tests/bench/checks_bench [RUNS] [PLUGIN [ARGS...]]
//   build/tests/bench/checks_bench 2000 /bin/true
//   build/tests/bench/checks_bench 2000 /usr/lib/nagios/plugins/check_dummy 0 ok
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "agent/check_runner.h"

using namespace imwatch::agent;

namespace {

double cpu(int who) {
  rusage u{};
  ::getrusage(who, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

}  // namespace

int main(int argc, char** argv) {
  const int runs = argc > 1 ? std::atoi(argv[1]) : 1000;
  std::vector<std::string> plugin = {"/bin/true"};
  if (argc > 2) plugin.assign(argv + 2, argv + argc);
  SystemClock clock;
  PollWaiter waiter;
  EventLoop loop(clock, waiter);
  CheckRunner runner(loop, clock);
  int done = 0, failed = 0;
  const double self0 = cpu(RUSAGE_SELF), kids0 = cpu(RUSAGE_CHILDREN), wall0 = clock.now();
  for (int i = 0; i < runs; ++i) {
    bool over = false;
    runner.run(plugin, 10, [&](RunResult r) {
      over = true;
      ++done;
      failed += !r.started_error.empty() || r.signal != 0;
    });
    while (!over) loop.run_once(1);
  }
  const double self = cpu(RUSAGE_SELF) - self0, kids = cpu(RUSAGE_CHILDREN) - kids0, wall = clock.now() - wall0;
  std::printf("%s: %d runs (%d failed), per run: agent %.0f us CPU, plugin %.0f us CPU, %.0f us wall\n",
              plugin[0].c_str(), done, failed, self / runs * 1e6, kids / runs * 1e6, wall / runs * 1e6);
  return failed == 0 ? 0 : 1;
}

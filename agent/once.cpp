#include <time.h>

#include <cstdio>

#include "agent/daemon.h"
#include "agent/modes.h"
#include "agent/report.h"
#include "probes/probes.h"

namespace imwatch::agent {

double monotonic_now() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

int run_once(const Config& cfg) {
  probes::ProcRoot root(cfg.proc_root);
  auto list = probes::make_probes(root, filesystem_options(cfg));
  Snapshot snap;
  int status = 0;
  double now = monotonic_now();
  for (auto& p : list) {
    ProbeSample s{p->name(), p->metrics(), {}, {}, true, {}};
    s.error = p->collect(now, s.values);
    auto inst = p->instances();
    s.instances.assign(inst.begin(), inst.end());
    if (!s.error.empty()) {
      // Partial data is still printed; the error goes to stderr.
      std::fprintf(stderr, "imwatch: probe %.*s: %s\n", static_cast<int>(s.name.size()), s.name.data(),
                   s.error.c_str());
      status = 1;
    }
    snap.probes.push_back(std::move(s));
  }
  std::string out = cfg.format == "json" ? format_json(snap, cfg.hostname) : format_text(snap, cfg.hostname);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return status;
}

}  // namespace imwatch::agent

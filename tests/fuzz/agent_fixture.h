// Shared by the agent targets (rule, state, chat): the real metric catalogue
// and an alert engine with two fixed rules, as the daemon and chat tests
// build them.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <cstdio>
#include <string>
#include <vector>

#include "agent/alert_engine.h"
#include "probes/probes.h"

namespace imwatch::fuzz {

// Every metric name, as daemon.cpp's metric_catalogue() (not linked here:
// daemon.cpp pulls in the event loop and XMPP).
inline const std::vector<std::string>& metrics() {
  static const std::vector<std::string> m = probes::metric_names();
  return m;
}

// The two rules of the state and chat targets.
constexpr const char* kRuleTexts[] = {
    "load: load1_per_cpu > 0.1 crit 5",
    "memory: mem_used_pct > 90 for 2m clear 85",
};

inline std::vector<agent::Rule> fixed_rules() {
  std::vector<agent::Rule> rules;
  for (const char* t : kRuleTexts) {
    agent::Rule r;
    if (auto err = agent::parse_rule(t, metrics(), r); !err.empty()) {
      std::fprintf(stderr, "fixed rule '%s' does not parse: %s\n", t, err.c_str());
      std::abort();
    }
    rules.push_back(std::move(r));
  }
  return rules;
}

// Every rule fed by one probe: the targets call evaluate_rule() directly.
inline std::string any_probe(const std::string&) { return "p"; }

// Chat refusals and the like are logged: not on every run.
inline void quiet_logs() { spdlog::set_level(spdlog::level::off); }

}  // namespace imwatch::fuzz

#include <spdlog/spdlog.h>

#include <cstdio>

#include "agent/daemon.h"
#include "agent/modes.h"

namespace imwatch::agent {

int run_check_config(const Config& cfg) {
  std::vector<std::string> errors;
  auto rules = compile_rules(cfg, metric_catalogue(), errors);
  for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
  if (!errors.empty()) return 2;
  std::printf("%s: %zu rules\n", cfg.config_read ? cfg.config_file.c_str() : "(no config file)", rules.size());
  for (const auto& r : rules) std::printf("  %s\n", r.explain(cfg.repeat).c_str());
  if (cfg.xmpp.configured())
    std::printf("xmpp: %s, %zu admins\n", cfg.xmpp.jid.c_str(), cfg.xmpp.admins.size());
  else
    std::printf("xmpp: not configured; notifications go to stderr\n");
  return 0;
}

int run_daemon(std::vector<std::string> args, const Config& cfg) {
  SystemClock clock;
  PollWaiter waiter;
  Daemon d(std::move(args), cfg, clock, waiter);
  std::vector<std::string> errors;
  if (!d.start(errors)) {
    for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
    return 2;
  }
  return d.run();
}

}  // namespace imwatch::agent

// imwatch: wiring only. The modes live in agent/modes.h.
#include <spdlog/spdlog.h>
#include <sys/prctl.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>

#include "agent/config.h"
#include "agent/control.h"
#include "agent/run_mute.h"
#include "agent/log.h"
#include "agent/modes.h"
#include "probes/probes.h"

namespace {

int run(int argc, char** argv) {
  using namespace imwatch;
  // No core dumps and no ptrace by other processes of the same user: the
  // process holds the XMPP password (a core held it four times). Before
  // anything reads the config.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  // A write to a connection the server dropped (killed, no FIN yet seen)
  // must be an error to handle, not a signal that ends the agent: gloox
  // writes without MSG_NOSIGNAL.
  std::signal(SIGPIPE, SIG_IGN);
  const std::vector<std::string> probe_names = probes::probe_names();

  // `imwatch [OPTIONS] run --mute RULES -- COMMAND...` (agent/run_mute.h):
  // its words after `run` are its own, the options before are the usual
  // ones (--config, --control-socket), parsed as for a local command.
  agent::RunArgs run_args;
  const int run_at = agent::find_run(argc, argv);
  if (run_at > 0) {
    if (auto err = agent::parse_run_args(std::vector<std::string>(argv + run_at + 1, argv + argc), run_args);
        !err.empty()) {
      std::fprintf(stderr, "imwatch run: %s\n", err.c_str());
      return 2;
    }
    argc = run_at + 1;
  }

  agent::Config cfg;
  std::vector<std::string> errors;
  auto r = agent::parse_config(argc, argv, probe_names, cfg, errors, std::cout);
  if (r == agent::ParseResult::exit_usage)
    for (const auto& w : cfg.warnings) std::fprintf(stderr, "%s\n", w.c_str());
  for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
  if (r == agent::ParseResult::exit_ok) return 0;
  if (r == agent::ParseResult::exit_usage) return 2;

  if (run_at > 0) return agent::run_muted(cfg.control_socket, run_args);
  if (!cfg.command.empty()) return agent::run_control(cfg.control_socket, cfg.command);
  agent::setup_logging(cfg.log_level);
  // --check-config prints them with its report; every other mode logs them.
  if (!cfg.check_config)
    for (const auto& w : cfg.warnings) spdlog::warn("{}", w);
  if (cfg.once) return agent::run_once(cfg);
  if (cfg.check_config) return agent::run_check_config(cfg);
  if (cfg.test_alert) return agent::run_test_alert(cfg);
  return agent::run_daemon(std::vector<std::string>(argv, argv + argc), cfg);
}

}  // namespace

int main(int argc, char** argv) {
  // Nothing is meant to throw this far. If something does (std::bad_alloc,
  // a library's exception), say what and exit 1, which systemd restarts,
  // rather than abort in std::terminate with the stack not unwound.
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "imwatch: fatal: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "imwatch: fatal: unknown exception\n");
  }
  return 1;
}

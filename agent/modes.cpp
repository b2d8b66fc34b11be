#include <spdlog/spdlog.h>

#include <cstdio>

#include "agent/daemon.h"
#include "agent/maintenance.h"
#include "agent/overrides.h"

#include <algorithm>
#include "agent/messages.h"
#include "agent/modes.h"
#include "agent/xmpp/xmpp_transport.h"

#include <unistd.h>

namespace imwatch::agent {

namespace {

// The overrides set from chat that are in force, from the state dir (the
// running agent's), each as it applies over the file's rule.
void print_overrides(const Config& cfg, const std::vector<Rule>& rules) {
  Overrides o = load_overrides(cfg.state_dir);
  if (o.empty()) return;
  std::vector<std::string> dropped;
  auto applied = overridden_rules(rules, o, metric_catalogue(), dropped);
  std::printf("overrides (%s/overrides, set from chat): %zu\n", cfg.state_dir.c_str(), o.size());
  for (const auto& entry : o) {
    const Override& ov = entry.second;
    auto r = std::find_if(applied.begin(), applied.end(), [&](const Rule& x) { return x.name == ov.rule; });
    std::printf("  %s: %s (set by %s); now: %s\n", ov.rule.c_str(), fields_text(ov).c_str(), ov.who.c_str(),
                r == applied.end() ? "?" : r->canonical().c_str());
  }
  for (const auto& d : dropped) std::printf("  will be dropped: %s\n", d.c_str());
}

}  // namespace

int run_check_config(const Config& cfg) {
  std::vector<std::string> errors;
  auto rules = compile_rules(cfg, metric_catalogue(), errors);
  std::vector<std::string> names;
  for (const auto& r : rules) names.push_back(r.name);
  auto windows = compile_windows(cfg, names, errors);
  for (const auto& w : cfg.warnings) std::fprintf(stderr, "%s\n", w.c_str());
  for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
  if (!errors.empty()) return 2;
  std::printf("%s: %zu rules\n", cfg.config_read ? cfg.config_file.c_str() : "(no config file)", rules.size());
  for (const auto& r : rules) std::printf("  %s\n", r.explain(cfg.repeat).c_str());
  print_overrides(cfg, rules);
  if (!windows.empty()) std::printf("maintenance: %zu windows (local time)\n", windows.size());
  for (const auto& w : windows) std::printf("  %s\n", w.canonical().c_str());
  if (cfg.xmpp.configured())
    std::printf("xmpp: %s, %zu admins\n", cfg.xmpp.jid.c_str(), cfg.xmpp.admins.size());
  else
    std::printf("xmpp: not configured; notifications go to stderr\n");
  return 0;
}

namespace {

PresenceShow show_of(Presence::Show s) {
  switch (s) {
    case Presence::Show::dnd: return PresenceShow::dnd;
    case Presence::Show::away: return PresenceShow::away;
    case Presence::Show::available: break;
  }
  return PresenceShow::available;
}

}  // namespace

int run_daemon(std::vector<std::string> args, const Config& cfg) {
  SystemClock clock;
  PollWaiter waiter;
  Daemon d(std::move(args), cfg, clock, waiter);
  std::vector<std::string> errors;
  if (!d.start(errors)) {
    for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
    return 2;
  }
  std::unique_ptr<XmppTransport> xmpp;
  if (cfg.xmpp.configured() && !cfg.dry_run) {
    xmpp = std::make_unique<XmppTransport>(
        // A refused state dir (said once at start): the outbox stays in memory.
        cfg.xmpp, cfg.hostname, d.persistent() ? cfg.state_dir : std::string(), d.loop(), clock,
        [&d](const std::string& from, const std::string& body) { return d.chat(from, body); });
    xmpp->set_brief_chat(
        [&d](const std::string& from, const std::string& body) { return d.chat(from, body, true); });
    d.set_notifier(xmpp.get());
    xmpp->set_commands([&d](const std::function<void(ChatContext&)>& visit) { d.with_context(visit); });
    d.set_late_reply([&xmpp](const std::string& to, const std::string& body) { xmpp->send_chat(to, body); });
    d.set_on_flush([&] {
      Presence p = presence_for(d.engine());
      xmpp->set_presence(show_of(p.show), p.status);
    });
    xmpp->start();
  } else if (cfg.xmpp.configured()) {
    spdlog::info("--dry-run: notifications go to stderr, not to XMPP");
  }
  // The daemon owns the configuration; the link follows each reload.
  d.set_on_reload([&](const Config& before, const Config& after) {
    if (xmpp && after.xmpp.configured())
      xmpp->reload(after.xmpp);
    else if (before.xmpp.configured() != after.xmpp.configured() && !cfg.dry_run)
      spdlog::warn("xmpp: adding or removing the [xmpp] section takes effect at the next start");
  });
  int rc = d.run();
  if (xmpp) xmpp->stop(d.stop_reason());
  return rc;
}

int run_test_alert(const Config& cfg) {
  if (!cfg.xmpp.configured()) {
    std::fprintf(stderr, "imwatch: --test-alert needs an [xmpp] section with jid, password and admin\n");
    return 2;
  }
  SystemClock clock;
  PollWaiter waiter;
  EventLoop loop(clock, waiter);
  // A private outbox: the running daemon owns the one in the state dir.
  char tmpl[] = "/tmp/imwatch-test-alert-XXXXXX";
  const char* dir = ::mkdtemp(tmpl);
  if (!dir) {
    std::perror("imwatch: mkdtemp");
    return 1;
  }
  int rc = 1;
  {
    XmppTransport xmpp(cfg.xmpp, cfg.hostname, dir, loop, clock,
                       [](const std::string&, const std::string&) { return std::optional<std::string>(); });
    Event test;
    test.kind = Event::test;
    xmpp.notify(Notification{clock.wall(), cfg.hostname, {test}});
    xmpp.start();
    const double deadline = clock.now() + 30;
    while (clock.now() < deadline && xmpp.pending() > 0) {
      loop.run_once(0.2);
      if (!xmpp.connected() && !xmpp.last_error().empty()) break;  // tell the reason now, not in 30 s
    }
    if (xmpp.pending() == 0) {
      std::printf("test alert accepted by the server for %zu admin(s)\n", cfg.xmpp.admins.size());
      rc = 0;
    } else {
      std::fprintf(stderr, "imwatch: test alert not delivered: %s\n",
                   xmpp.last_error().empty() ? "no answer from the server within 30 s" : xmpp.last_error().c_str());
    }
    xmpp.stop();
  }
  std::string outbox = std::string(dir) + "/outbox";
  ::unlink(outbox.c_str());
  ::rmdir(dir);
  return rc;
}

}  // namespace imwatch::agent

// Where notifications go. The console notifier is the fallback without XMPP
// (and with --dry-run); the XMPP notifier is the real one. Notifications
// arrive structured; each notifier renders them (agent/messages.h).
#pragma once

#include <cstdio>

#include "agent/alert_engine.h"

namespace imwatch::agent {

class Notifier {
 public:
  virtual ~Notifier() = default;
  virtual void notify(const Notification& n) = 0;
};

// Writes each line of a notification to a stream as "notify: LINE".
class ConsoleNotifier final : public Notifier {
 public:
  explicit ConsoleNotifier(std::FILE* out = stderr) : out_(out) {}
  void notify(const Notification& n) override;

 private:
  std::FILE* out_;
};

}  // namespace imwatch::agent

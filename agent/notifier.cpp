#include "agent/notifier.h"

#include <string_view>

#include "agent/messages.h"

namespace imwatch::agent {

void ConsoleNotifier::notify(const Notification& n) {
  const std::string text = notification_text(n);
  std::string_view rest = text;
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    std::fprintf(out_, "notify: %.*s\n", static_cast<int>(line.size()), line.data());
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  }
  std::fflush(out_);
}

}  // namespace imwatch::agent

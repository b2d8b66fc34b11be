#include "agent/fleet.h"

#include "agent/text_util.h"

namespace imwatch::agent {

Addressed addressed(std::string_view body, std::string_view nick, std::string_view alias) {
  const std::string b = trim(body);
  const size_t sep = b.find_first_of(":,");
  if (sep == std::string::npos || sep == 0 || sep > 64) return {};
  const std::string who = to_lower(trim(b.substr(0, sep)));
  std::string command = trim(b.substr(sep + 1));
  if (command.empty() || who.empty()) return {};
  if (who == "all") return {Addressed::all, std::move(command)};
  if (who == to_lower(nick) || (!alias.empty() && who == to_lower(alias))) return {Addressed::me, std::move(command)};
  return {};
}

}  // namespace imwatch::agent

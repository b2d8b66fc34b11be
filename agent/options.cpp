#include "agent/options.h"

#include <algorithm>
#include <ostream>

#include "agent/config.h"

namespace imwatch::agent {

const Option* find_option(std::string_view key) {
  if (key.starts_with("probe.") && key.ends_with(".interval") && key.size() > 15) key = kProbeIntervalKey;
  std::string check_key;
  if (key.starts_with("check.") && !is_check_key(key)) {
    // check.NAME.KEY -> check.*.KEY
    size_t dot = key.find('.', 6);
    if (dot == std::string_view::npos || dot == 6) return nullptr;
    check_key = std::string(kCheckPrefix) + std::string(key.substr(dot + 1));
    key = check_key;
  }
  for (const Option& o : kOptions)
    if (o.key == key) return &o;
  return nullptr;
}

std::string default_string(const Option& o) {
  if (!o.text.empty()) return std::string(o.text);
  if (o.number == 0) return "";
  if (o.check == Check::duration) return format_duration(o.number);
  return std::to_string(static_cast<long long>(o.number));
}

FileKey split_file_key(std::string_view key) {
  size_t dot = key.rfind('.');
  if (dot == std::string_view::npos) return {"", std::string(key)};
  return {std::string(key.substr(0, dot)), std::string(key.substr(dot + 1))};
}

void print_file_options(std::ostream& os) {
  os << "Config file only (see imwatch.conf(5)):\n";
  for (const Option& o : kOptions) {
    if (o.where != Where::file) continue;
    FileKey k = split_file_key(o.key);
    if (o.key == kProbeIntervalKey) k.section = "probe.NAME";
    if (is_check_key(o.key)) k.section = "check.NAME";
    std::string line = "  [" + k.section + "] " + k.name + " = " + std::string(o.value_name);
    line.resize(std::max<size_t>(line.size() + 1, 40), ' ');
    os << line << o.help;
    if (std::string d = default_string(o); !d.empty()) os << " (default " << d << ")";
    os << "\n";
  }
}

}  // namespace imwatch::agent

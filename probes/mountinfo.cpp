#include "probes/mountinfo.h"

#include "probes/text.h"

namespace imwatch::probes {

namespace {

bool octal(char c) { return c >= '0' && c <= '7'; }

// "8:1" into major and minor.
bool parse_dev(std::string_view tok, Mount& m) {
  size_t colon = tok.find(':');
  if (colon == std::string_view::npos) return false;
  auto maj = to_u64(tok.substr(0, colon)), min = to_u64(tok.substr(colon + 1));
  if (!maj || !min || *maj > UINT32_MAX || *min > UINT32_MAX) return false;
  m.major = static_cast<uint32_t>(*maj);
  m.minor = static_cast<uint32_t>(*min);
  return true;
}

// One line: "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3
// /dev/root rw,errors=continue". "" or what is wrong with it.
std::string parse_line(std::string_view line, Mount& m) {
  Fields f(line);
  std::string_view id, parent, dev, root, point, opts;
  if (!f.next(id) || !f.next(parent) || !f.next(dev) || !f.next(root) || !f.next(point) || !f.next(opts))
    return "expected at least 6 fields before ' - '";
  if (!to_u64(id) || !to_u64(parent)) return "bad mount id " + quote(id);
  if (!parse_dev(dev, m)) return "bad major:minor " + quote(dev);
  // Optional fields ("shared:1", "master:2", ...: zero or more) up to the
  // separator "-"; later kernels may add new ones, so their content is not
  // checked.
  std::string_view tok;
  bool separator = false;
  while (f.next(tok))
    if (tok == "-") {
      separator = true;
      break;
    }
  if (!separator) return "no ' - ' separator";
  std::string_view type, source, super;
  if (!f.next(type) || !f.next(source)) return "expected filesystem type and source after ' - '";
  f.next(super);  // absent on some old kernels
  m.root = unescape_mount_path(root);
  m.mount_point = unescape_mount_path(point);
  m.mount_options = std::string(opts);
  m.fstype = unescape_mount_path(type);
  m.source = unescape_mount_path(source);
  m.super_options = std::string(super);
  return {};
}

}  // namespace

std::string unescape_mount_path(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && octal(s[i + 1]) && octal(s[i + 2]) && octal(s[i + 3])) {
      int v = (s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0');
      out += static_cast<char>(v & 0xff);
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string mount_label(std::string_view path) {
  std::string out;
  for (unsigned char c : path) {
    if (c < 0x20 || c == 0x7f || c == '\\') {
      out += '\\';
      out += static_cast<char>('0' + ((c >> 6) & 7));
      out += static_cast<char>('0' + ((c >> 3) & 7));
      out += static_cast<char>('0' + (c & 7));
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

bool has_option(std::string_view options, std::string_view option) {
  while (!options.empty()) {
    size_t comma = options.find(',');
    if (options.substr(0, comma) == option) return true;
    if (comma == std::string_view::npos) break;
    options.remove_prefix(comma + 1);
  }
  return false;
}

std::string parse_mountinfo(std::string_view text, std::vector<Mount>& out) {
  out.clear();
  Lines lines(text);
  std::string_view line;
  std::string error;
  size_t bad = 0;
  while (lines.next(line)) {
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    if (out.size() >= kMaxMounts) return "mountinfo: more than " + std::to_string(kMaxMounts) + " mounts; the rest ignored";
    Mount m;
    if (auto why = parse_line(line, m); !why.empty()) {
      // The first bad line is named; the others only counted.
      if (bad++ == 0) error = "mountinfo: line " + std::to_string(lines.number()) + ": " + why + ": " + quote(line);
      continue;
    }
    out.push_back(std::move(m));
  }
  if (bad > 1) error += " (and " + std::to_string(bad - 1) + " more bad lines)";
  return error;
}

}  // namespace imwatch::probes

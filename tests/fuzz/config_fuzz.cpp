// parse_config on an arbitrary INI file. parse_config only reads a file named
// by --config (config.h has no string entry point, and agent/ is not ours to
// change), so each run writes the input over one file in a scratch directory.
//
// The input is the file as is. Its length's parity picks whether
// CREDENTIALS_DIRECTORY (systemd's LoadCredential=) is set, so that both ways
// of finding the XMPP password are reached without a framing of our own.
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "agent/config.h"
#include "agent/jid.h"
#include "fuzz_util.h"
#include "probes/probes.h"

using imwatch::agent::Config;
using imwatch::agent::ParseResult;

namespace {

struct Setup {
  imwatch::fuzz::ScratchDir dir;
  std::string conf = dir.path() + "/imwatch.conf";
  std::string creds = dir.path() + "/creds";
  std::vector<std::string> probe_names;

  Setup() {
    std::filesystem::create_directory(creds);
    std::ofstream(creds + "/xmpp-password") << "secret\n";
    // The probes that take an interval, as main() passes them.
    probe_names = imwatch::probes::probe_names();
  }
};

Setup& setup() {
  static Setup s;
  return s;
}

// Durations are checked against a minimum; only `repeat` may be 0 ("off").
void check_duration(double v, double min, std::string_view input, bool allow_zero = false) {
  IMWATCH_FUZZ_CHECK(std::isfinite(v) && (v >= min || (allow_zero && v == 0)), input);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Setup& s = setup();
  {
    std::ofstream f(s.conf, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  if (size % 2)
    ::setenv("CREDENTIALS_DIRECTORY", s.creds.c_str(), 1);
  else
    ::unsetenv("CREDENTIALS_DIRECTORY");

  const char* argv[] = {"imwatch", "--config", s.conf.c_str()};
  Config cfg;
  std::vector<std::string> errors;
  std::ostringstream out;
  ParseResult r = imwatch::agent::parse_config(3, argv, s.probe_names, cfg, errors, out);

  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const auto& e : errors) imwatch::fuzz::check_error(e);
  IMWATCH_FUZZ_CHECK((r == ParseResult::run) == errors.empty(), text);
  IMWATCH_FUZZ_CHECK(r != ParseResult::exit_ok, text);  // no --help or --version here
  if (r == ParseResult::run) {
    // What the scheduler and alert state will be given.
    for (const auto& [name, interval] : cfg.probe_interval) check_duration(interval, 0.1, text);
    check_duration(cfg.repeat, 1, text, true);
    check_duration(cfg.flap_window, 60, text);
    check_duration(cfg.xmpp.ping_interval, 1, text);
    IMWATCH_FUZZ_CHECK(cfg.flap_changes >= 2 && cfg.flap_changes <= 1000, text);
    IMWATCH_FUZZ_CHECK(cfg.xmpp.port >= 0 && cfg.xmpp.port <= 65535, text);
    IMWATCH_FUZZ_CHECK(!cfg.xmpp.configured() || !cfg.xmpp.admins.empty(), text);
    IMWATCH_FUZZ_CHECK(!cfg.hostname.empty(), text);
    // Admins are stored in stringprep form (what the server stamps), and the
    // agent's own account is never one of them.
    for (const auto& a : cfg.xmpp.admins) {
      IMWATCH_FUZZ_CHECK(imwatch::agent::prep_bare_jid(a.value) == a.value, a.value);
      IMWATCH_FUZZ_CHECK(a.value != cfg.xmpp.jid, a.value);
    }
  }
  return 0;
}

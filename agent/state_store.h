// Alert state that survives a restart: states, ids, reminders due, mutes.
//
// One small text file in the state dir, rewritten atomically by
// write_file_atomically (agent/state_dir.h) when something worth keeping
// changed. A
// corrupt or unreadable file is logged and ignored, never a crash: the agent
// then starts as on a fresh install.
#pragma once

#include <string>

#include "agent/alert_engine.h"
#include "agent/state_dir.h"

namespace imwatch::agent {

// The file's text for the engine's state, and back. parse_state returns ""
// or an error naming the line; on error `engine` is left untouched.
std::string serialize_state(const AlertEngine& engine);
std::string parse_state(std::string_view text, AlertEngine& engine);

class StateStore {
 public:
  explicit StateStore(std::string dir) : path_(dir + "/state") {}
  const std::string& path() const { return path_; }

  // A state file holds a line per firing rule, mute and failing probe: a
  // few KiB. Anything this big was not written by us.
  static constexpr size_t max_size = 4 << 20;

  // Restores what the file holds into an engine already configured with the
  // current rules (AlertEngine::restore: kept by rule name).
  void load(AlertEngine& engine);
  // Saves if the text changed. Says once that it cannot persist, and once
  // that it can again.
  void save(const AlertEngine& engine);

 private:
  std::string path_;
  std::string last_written_;
  bool failing_ = false;
};

}  // namespace imwatch::agent

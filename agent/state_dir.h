// The state dir and every file the agent keeps in it (state, outbox, and
// whatever comes later: history, overrides, a control socket).
//
// The agent often runs as root, and the state dir is a path an admin types
// (`--state-dir /tmp/…`). So nothing here follows a symlink or trusts a dir
// that someone else could write into: the dir is opened with
// O_DIRECTORY|O_NOFOLLOW and must belong to the agent's effective uid and be
// writable by nobody else; files are created, renamed and removed relative to
// that dir's descriptor (openat/renameat/unlinkat), temp files with
// O_CREAT|O_EXCL|O_NOFOLLOW; files are read with O_NOFOLLOW and only when
// they are regular files.
#pragma once

#include <cstddef>
#include <string>

namespace imwatch::agent {

// Makes `dir` fit to hold the agent's files. Creates it 0700 when absent.
// Refuses a dir that is a symlink, is not owned by the effective uid, or is
// writable by group or others; the reason says what to run to fix it. A dir
// the agent just created is fixed instead (chmod 0700). Returns "" or the
// reason. The daemon then runs on without persistence.
[[nodiscard]] std::string prepare_state_dir(const std::string& dir);

// Writes `data` to `path` atomically: a temp file `path.tmp` created
// exclusively in the same dir (a stale one a crash left, or anything planted
// there, is removed first, never followed), fsync, rename over `path`, fsync
// of the dir. The dir must pass the checks of prepare_state_dir. Returns ""
// or the error, naming the file.
[[nodiscard]] std::string write_file_atomically(const std::string& path, const std::string& data);

enum class ReadResult { ok, missing, error };

// Reads a file of the state dir into `data`: not through a symlink, only a
// regular file, at most `max_size` bytes (a larger file is an error, and
// nothing of it is read). `missing`: it does not exist. On `error`, `error`
// names the file and the reason.
[[nodiscard]] ReadResult read_state_file(const std::string& path, size_t max_size, std::string& data,
                                         std::string& error);

}  // namespace imwatch::agent

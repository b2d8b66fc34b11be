// Human and JSON views of a snapshot, shared by --once and the chat commands.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/snapshot.h"

namespace imwatch::agent {

// One JSON object: "host" and every known metric (unknown ones omitted).
std::string format_json(const Snapshot& s, const std::string& host);
// The compact, aligned view of `imwatch --once`.
std::string format_text(const Snapshot& s, const std::string& host);

// The watched filesystems of the latest sample, in probe order.
struct DiskRow {
  std::string mount;
  std::optional<double> used_pct, avail, size, inodes_pct, readonly, full_in_hours;
};
std::vector<DiskRow> disk_rows(const Snapshot& s);
// The one with the highest fs_used_pct, if any is known.
std::optional<DiskRow> fullest_disk(const Snapshot& s);
std::string format_disks(const Snapshot& s);  // --once's "disks" rows

// Sections, each a few lines that fit a phone screen; unknown values show '?'.
std::string format_load(const Snapshot& s);
std::string format_memory(const Snapshot& s);  // memory and swap
std::string format_vmstat(const Snapshot& s);
std::string format_pressure(const Snapshot& s);  // "" when the kernel has no PSI

// Chat layout. A phone held upright shows about 40 monospace columns, and
// clients with proportional fonts (Gajim, Conversations) keep columns only
// inside an XEP-0393 preformatted block; profanity prints a message's first
// line after a ~32-column sender prefix. So every line of a chat reply fits
// kChatWidth code points, and a table is a title line and then its rows
// between lines of three backticks: no row ever follows the prefix.
constexpr size_t kChatWidth = 40;

// Unicode code points in UTF-8 text (what a monospace client lays out).
size_t columns(std::string_view utf8);
// `parts` joined by single spaces into lines of at most `width` columns,
// breaking between parts; a continued line is indented by `indent`. A part
// too long for any line breaks at its spaces, and a word too long at a code
// point boundary: nothing is cut off.
std::string fit(const std::vector<std::string>& parts, size_t indent = 2, size_t width = kChatWidth);
// A fitted text on one line again, each line break and the indent after it
// a single space: for a log line, which must not span lines.
std::string one_line(std::string_view fitted);
// `title` (fitted), then "```", `rows`, "```": an XEP-0393 preformatted block.
std::string preformatted(std::string_view title, std::string_view rows);

// The chat's compact rows (no title, no fences, no trailing newline), each
// at most kChatWidth columns; --once keeps the wider format_* views above.
std::string chat_load(const Snapshot& s);
std::string chat_memory(const Snapshot& s);
std::string chat_vmstat(const Snapshot& s);
std::string chat_pressure(const Snapshot& s);  // "" when the kernel has no PSI

// The `disk` table: a header and a row per filesystem (mount, use%, avail,
// size, inodes%), "" when none is watched; and the notes under it (read-only
// mounts, the time to full where known).
std::string chat_disks(const Snapshot& s);
std::vector<std::string> chat_disk_notes(const Snapshot& s);
// `status`'s row for the fullest filesystem, "" when none is known.
std::string chat_fullest_disk(const Snapshot& s);
// 1.5e9 -> "1.4G": at most 5 columns, powers of 1024.
std::string short_bytes(double bytes);

// 1536 -> "1.5 MiB"; `kib` is in KiB.
std::string human_kib(double kib);

}  // namespace imwatch::agent

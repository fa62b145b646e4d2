// UTF-8 checks and terminal-safe text. Event payloads, stream ids and engine messages may hold
// bytes that a terminal interprets (escape sequences); everything printed for humans goes
// through TerminalSafe so stored data can never drive the reader's terminal.
#pragma once

#include <string>
#include <string_view>

namespace cairn::cli {

// Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. Controls are allowed.
bool IsValidUtf8(std::string_view s);

// `s` with control characters (C0, DEL, C1) escaped as \n, \t, \r or \xNN / \u00NN, the
// bidirectional formatting characters (U+061C, U+200E/F, U+202A..U+202E, U+2066..U+2069, which
// reorder what a terminal shows: "Trojan Source") as \uNNNN, and bytes that are not valid UTF-8
// as \xNN. Other printable UTF-8 is kept as is.
std::string TerminalSafe(std::string_view s);

// A value for a `key=value` line: TerminalSafe, and in double quotes (with \" and \\ inside)
// when it is empty or holds a space, '=', '"' or '\', so that a value cannot pose as further
// fields of the line.
std::string KeyValueSafe(std::string_view s);

}  // namespace cairn::cli

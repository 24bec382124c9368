// Writing files so that a reader never sees a half-written one: temp file in the same directory,
// fsync, rename over the target, fsync the directory.
#pragma once
#include <string>
#include <string_view>

namespace gan {

// Replaces `path` with `bytes` atomically. Throws std::runtime_error naming the file on failure,
// leaving any previous file at `path` intact and no temp file behind.
void write_file_atomic(const std::string& path, std::string_view bytes);

// The whole file as bytes. Throws std::runtime_error naming the file if it cannot be read.
std::string read_file(const std::string& path);

}  // namespace gan

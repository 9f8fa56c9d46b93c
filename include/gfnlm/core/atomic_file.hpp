#pragma once
// Writes a file so that readers see either the old contents or the new, never a half-written
// file: write to a temporary in the same folder, flush, then rename over the target.
#include <gfnlm/core/error.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <ostream>
#include <string>

namespace gfnlm {

inline void write_file_atomically(const std::filesystem::path& path,
                                  const std::function<void(std::ostream&)>& write) {
  const auto parent = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::filesystem::create_directories(parent);
  const auto temp = parent / (path.filename().string() + ".tmp");
  {
    std::ofstream os(temp, std::ios::binary | std::ios::trunc);
    GFNLM_CHECK(os.good(), "cannot open '{}' for writing", temp.string());
    write(os);
    os.flush();
    GFNLM_CHECK(os.good(), "writing '{}' failed (disk full?)", temp.string());
  }
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  GFNLM_CHECK(!ec, "cannot move '{}' to '{}': {}", temp.string(), path.string(), ec.message());
}

}  // namespace gfnlm

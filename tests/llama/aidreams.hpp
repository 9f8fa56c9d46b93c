#pragma once
// The real tiny llama2.c model of ../shared/models (aidreams260K), for the tests that run it;
// they skip with a warning where shared/ lacks it.
#include <catch2/catch.hpp>

#include <filesystem>

namespace aidreams {

inline const std::filesystem::path kDir =
    std::filesystem::path(GFNLM_SHARED_DIR) / "models/aidreams260K";

inline bool present() {
  if (std::filesystem::exists(kDir / "model.bin") && std::filesystem::exists(kDir / "tok512.bin"))
    return true;
  WARN("skipping: " << kDir.string() << " (model.bin, tok512.bin) is absent");
  return false;
}

}  // namespace aidreams

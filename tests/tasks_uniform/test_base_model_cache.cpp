// Issue 18: the cached base model is a sealed file; one that fails verification is an error
// naming it and saying how to get past it, never silently pretrained over.
#include <gfnlm/core/sealed_file.hpp>
#include <gfnlm/tasks/uniform_integers/base_model.hpp>

#include <unistd.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace ui = gfnlm::uniform_integers;
namespace fs = std::filesystem;
using Catch::Contains;

TEST_CASE("uniform_integers: a corrupted cached base model is an error naming the file",
          "[tasks_uniform]") {
  ui::BaseModelConfig config;
  config.d_model = 8;
  config.n_layer = 1;
  config.n_head = 2;
  config.steps = 2;
  config.batch = 2;
  const auto dir =
      fs::temp_directory_path() / ("gfnlm_uniform_cache_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  bool from_cache = true;
  const auto model = ui::load_or_pretrain_base_model(config, dir, &from_cache);
  CHECK_FALSE(from_cache);
  const auto path = ui::base_model_path(config, dir);
  REQUIRE(fs::exists(path));
  ui::load_or_pretrain_base_model(config, dir, &from_cache);
  CHECK(from_cache);

  std::string bytes;
  {
    std::ifstream is(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(is), std::istreambuf_iterator<char>());
  }
  const std::string stream = gfnlm::read_sealed_file(path, "cached base model");
  const auto write = [&](const std::string& b) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << b;
  };
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x40;
  write(flipped);
  CHECK_THROWS_WITH(ui::load_or_pretrain_base_model(config, dir, &from_cache),
                    Contains("cached base model '" + path.string() + "'") &&
                        Contains("checksum mismatch") && Contains("delete it or pass --no-cache"));
  write(bytes.substr(0, bytes.size() - 10));
  CHECK_THROWS_WITH(ui::load_or_pretrain_base_model(config, dir, &from_cache),
                    Contains(path.string()) && Contains("truncated"));
  // A file of the format before sealing (the bare model stream).
  write(stream);
  CHECK_THROWS_WITH(ui::load_or_pretrain_base_model(config, dir, &from_cache),
                    Contains("no gfnlm checksum trailer"));
  // A resealed stream with bytes after the model.
  gfnlm::write_sealed_file(path, "cached base model",
                           [&](std::ostream& os) { os << stream << "xyz"; });
  CHECK_THROWS_WITH(ui::load_or_pretrain_base_model(config, dir, &from_cache),
                    Contains("holds 3 bytes after its last field"));
  fs::remove_all(dir);
}

// Issue 18: a damaged sampler checkpoint is an error naming the file, and the sampler it was
// loaded into is left exactly as it was: one flipped byte (in the header, the parameters and the
// replay buffer's section), appended bytes, a cut copy, an unsealed file of the old format, junk
// inside a correctly resealed payload, NaN parameters, and a replay buffer holding trajectories
// the sampler could not have sampled.
#include "sampler_state.hpp"
#include "support.hpp"

#include <gfnlm/core/sealed_file.hpp>
#include <gfnlm/gfn/sampler.hpp>

#include <unistd.h>
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>

using namespace gfnlm;
using Catch::Contains;
using gfnlm::test::state_of;
namespace fs = std::filesystem;

namespace {

fs::path temp_path(const std::string& name) {
  return fs::temp_directory_path() /
         ("gfnlm_sampler_ckpt_" + std::to_string(::getpid()) + "_" + name);
}

std::string file_bytes(const fs::path& path) {
  std::ifstream is(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(is), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

SamplerConfig small_config() {
  SamplerConfig config;
  config.quiet = true;
  config.trajectories_per_query = 8;
  config.max_len = 3;
  config.optimizer.lr = 0.05;
  config.seed = 99;
  return config;
}

const auto reward = [](const int&, std::span<const int32_t> z) {
  return -0.3 * double(z.size()) + (z.empty() ? 0.0 : 0.2 * z[0]);
};

}  // namespace

TEST_CASE("A damaged sampler checkpoint is refused naming the file, the sampler unchanged",
          "[gfn_sampler][checkpoint]") {
  const std::vector<int> queries{0};
  TabularPolicy policy(1, 4, 3, 3);
  Sampler sampler(policy, reward, small_config());
  for (int s = 0; s < 6; ++s) sampler.train_step(queries);
  REQUIRE(sampler.buffer().total_size() > 0);  // the buffer section is not empty
  const auto path = temp_path("good.ckpt");
  sampler.save(path);
  const std::string good = file_bytes(path);

  TabularPolicy other(1, 4, 3, 3);
  Sampler target(other, reward, small_config());
  target.train_step(queries);
  const std::string before = state_of(target);
  const auto bad = temp_path("bad.ckpt");

  // Where the sections lie in the file, to flip bytes inside each.
  const auto at = [&](const std::string& needle) {
    const auto pos = good.find(needle);
    REQUIRE(pos != std::string::npos);
    return pos;
  };
  const std::size_t magic = at("gfnlm.Sampler"), policy_params = at("policy.parameters"),
                    buffer = at("gfnlm.ReplayBuffer"),
                    end = good.size() - sealed::kTrailerBytes - 3;  // the "end" section
  REQUIRE(buffer + 40 < end);

  SECTION("one flipped byte, wherever it is") {
    for (const std::size_t i : {std::size_t(0), std::size_t(17), magic + 2, policy_params + 30,
                                policy_params + 60, buffer - 4, buffer + 2, buffer + 30,
                                (buffer + end) / 2, end - 2, good.size() - 20, good.size() - 1}) {
      INFO("byte " << i << " of " << good.size());
      std::string flipped = good;
      flipped[i] = static_cast<char>(flipped[i] ^ 0x04);
      write_bytes(bad, flipped);
      CHECK_THROWS_WITH(target.load(bad), Contains(bad.string()));
      CHECK(state_of(target) == before);
    }
    std::string flipped = good;
    flipped[(buffer + end) / 2] ^= 0x01;
    write_bytes(bad, flipped);
    CHECK_THROWS_WITH(target.load(bad), Contains("'" + bad.string() + "'") &&
                                            Contains("checksum mismatch, the file is corrupted"));
  }
  SECTION("bytes appended after the end") {
    write_bytes(bad, good + "trailing junk");
    CHECK_THROWS_WITH(target.load(bad), Contains(bad.string()) &&
                                            Contains("sampler checkpoint has 13 trailing bytes"));
  }
  SECTION("a cut copy") {
    for (const std::size_t keep : {std::size_t(20), good.size() / 2, good.size() - 1}) {
      INFO("kept " << keep);
      write_bytes(bad, good.substr(0, keep));
      CHECK_THROWS_WITH(target.load(bad),
                        Contains(bad.string()) && Contains("sampler checkpoint is truncated"));
    }
  }
  SECTION("an unsealed file of the old format") {
    // The payload alone is exactly what save() wrote before checkpoints were sealed.
    write_bytes(bad, read_sealed_file(path, "sampler checkpoint"));
    CHECK_THROWS_WITH(target.load(bad),
                      Contains("'" + bad.string() + "' has no gfnlm checksum trailer") &&
                          Contains("written by an older gfnlm"));
  }
  SECTION("junk inside a resealed payload") {
    const std::string payload = read_sealed_file(path, "sampler checkpoint");
    write_sealed_file(bad, "sampler checkpoint",
                      [&](std::ostream& os) { os << payload << "more"; });
    CHECK_THROWS_WITH(target.load(bad),
                      Contains(bad.string()) && Contains("4 bytes follow the 'end' section"));
  }
  SECTION("a NaN parameter in a resealed payload") {
    std::string payload = read_sealed_file(path, "sampler checkpoint");
    // The first value of tabular.logits: after its name, then the u64 value count.
    const auto name = payload.find("tabular.logits");
    REQUIRE(name != std::string::npos);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::memcpy(payload.data() + name + std::strlen("tabular.logits") + 8 + 4 * sizeof(float), &nan,
                sizeof nan);
    write_sealed_file(bad, "sampler checkpoint", [&](std::ostream& os) { os << payload; });
    CHECK_THROWS_WITH(target.load(bad), Contains(bad.string()) &&
                                            Contains("policy parameter 'tabular.logits'") &&
                                            Contains("nan at index 4"));
  }
  SECTION("a replay buffer holding trajectories this sampler cannot take") {
    TabularPolicy wide(1, 4, 3, 3);
    Sampler writer(wide, reward, small_config());
    writer.train_step(queries);
    writer.buffer().clear();
    REQUIRE(writer.buffer().add(0, std::vector<int32_t>{1, 7}, -1.0));  // token 7: V is 4
    writer.save(bad);
    CHECK_THROWS_WITH(target.load(bad), Contains(bad.string()) &&
                                            Contains("replay buffer holds token 7 at position 1"));
    writer.buffer().clear();
    REQUIRE(writer.buffer().add(0, std::vector<int32_t>{0, 1, 3}, -1.0));  // 3 is STOP
    writer.save(bad);
    CHECK_THROWS_WITH(target.load(bad), Contains("holds token 3 at position 2"));
    writer.buffer().clear();
    REQUIRE(writer.buffer().add(0, std::vector<int32_t>{0, 1, 2, 0}, -1.0));  // max_len is 3
    writer.save(bad);
    CHECK_THROWS_WITH(target.load(bad), Contains("trajectory of 4 actions"));
  }
  CHECK(state_of(target) == before);
  target.load(path);  // the good file still loads, into the same sampler
  CHECK(state_of(target) == state_of(sampler));
  fs::remove(path);
  fs::remove(bad);
}

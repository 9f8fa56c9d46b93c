// libFuzzer target: Sampler::load (gfn/checkpoint.hpp behind core/sealed_file.hpp) on arbitrary
// bytes, into a small Sampler over a TabularPolicy. The first byte picks what the rest is:
//   even: the checkpoint file itself (the seal's checks: header, length, trailer, checksum);
//   odd:  a payload, sealed here with a correct checksum, so the parser behind the seal is
//         fuzzed too (random bytes would almost never get past the checksum).
// Only gfnlm::Error may escape; a failed load must leave the sampler exactly as it was; after a
// successful one the sampler must train and sample. A crash or sanitizer report is a bug.
//
// GFNLM_FUZZ_WRITE_SEEDS=DIR makes the binary write seed inputs (real checkpoints of samplers
// trained a few steps, so the replay-buffer section is not empty, in both modes) to DIR and exit:
// make_seeds.py runs it, so the seeds always follow the current format.
#include "../gfn_sampler/sampler_state.hpp"

#include <gfnlm/core/sealed_file.hpp>
#include <gfnlm/gfn/objectives/trajectory_balance.hpp>
#include <gfnlm/gfn/sampler.hpp>
#include <gfnlm/policies/tabular.hpp>

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

namespace {

using namespace gfnlm;
using gfnlm::test::state_of;

constexpr int kQueries = 2, kVocab = 4, kStop = 3, kMaxLen = 3;

SamplerConfig config() {
  SamplerConfig c;
  c.quiet = true;  // one progress line per fuzz input would drown the log
  c.trajectories_per_query = 4;
  c.max_len = kMaxLen;
  c.optimizer.lr = 0.05;
  c.seed = 7;
  return c;
}

double reward(const int& q, std::span<const int32_t> z) {
  double r = -0.5 * double(z.size()) - q;
  for (const int32_t t : z) r += 0.1 * t;
  return r;
}

template <class O>
O make_objective() {
  if constexpr (std::is_same_v<O, TrajectoryBalance>)
    return TrajectoryBalance({.num_queries = kQueries});  // a learned log Z per query
  else
    return O{};
}

// The first byte's bit 1 picks the objective.
template <class O>
constexpr char kObjectiveBit = std::is_same_v<O, TrajectoryBalance> ? 2 : 0;

// A sampler over its own policy (the Sampler keeps a reference to it).
template <class O>
struct Setup {
  TabularPolicy policy{kQueries, kVocab, kStop, kMaxLen};
  Sampler<TabularPolicy, double (*)(const int&, std::span<const int32_t>), O> sampler{
      policy, &reward, config(), make_objective<O>()};
  Setup() {
    sampler.set_progress_callback([](const StepMetrics&) {});
  }
};

std::string file_bytes(const std::filesystem::path& path) {
  std::ifstream is(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(is), std::istreambuf_iterator<char>()};
}

void put(const std::filesystem::path& dir, const std::string& name, char mode,
         const std::string& bytes) {
  std::ofstream(dir / name, std::ios::binary) << mode << bytes;
}

template <class O>
void write_seeds(const std::filesystem::path& dir, const char* name, int steps) {
  Setup<O> s;
  const std::vector<int> queries{0, 1};
  for (int k = 0; k < steps; ++k) s.sampler.train_step(queries);
  const auto path = dir / (std::string(name) + ".ckpt.tmpseed");
  s.sampler.save(path);
  const std::string file = file_bytes(path);
  put(dir, std::string(name) + "_file", kObjectiveBit<O>, file);
  put(dir, std::string(name) + "_payload", char(kObjectiveBit<O> | 1),
      read_sealed_file(path, "seed"));
  std::filesystem::remove(path);
}

template <class O>
void fuzz_one(const std::filesystem::path& path) {
  Setup<O> s;
  const std::vector<int> queries{0, 1};
  s.sampler.train_step(queries);  // some state to keep or replace
  const std::string before = state_of(s.sampler);
  try {
    s.sampler.load(path);
  } catch (const Error&) {
    if (state_of(s.sampler) != before) std::abort();  // a failed load changed the sampler
    return;
  }
  // A checkpoint that loads must give a working sampler.
  try {
    s.sampler.train_step(queries);
    for (const auto& sample : s.sampler.sample(1, 3, 1.0))
      for (const int32_t t : sample.actions)
        if (t < 0 || t >= kVocab) std::abort();
  } catch (const Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("GFNLM_FUZZ_WRITE_SEEDS")) {
    std::filesystem::create_directories(dir);
    write_seeds<ModifiedSubTB>(dir, "subtb_fresh", 0);
    write_seeds<ModifiedSubTB>(dir, "subtb_trained", 6);
    write_seeds<TrajectoryBalance>(dir, "tb_trained", 4);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const auto path = std::filesystem::temp_directory_path() /
                           ("gfnlm_fuzz_" + std::to_string(::getpid()) + ".ckpt");
  const bool sealed = data[0] & 1, tb = data[0] & 2;
  const std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (sealed)
    write_sealed_file(path, "fuzz", [&](std::ostream& os) { os << bytes; });
  else
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  if (tb)
    fuzz_one<TrajectoryBalance>(path);
  else
    fuzz_one<ModifiedSubTB>(path);
  return 0;
}

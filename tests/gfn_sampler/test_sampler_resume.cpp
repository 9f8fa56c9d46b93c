// Acceptance 5: train N steps, save, load into a fresh sampler (fresh policy), train M more ==
// train N + M straight, bit-for-bit: parameters, optimiser-driven trajectories, buffer, metrics.
// And the checkpoint's validation: wrong files are refused with clear errors, leaving the
// sampler untouched.
#include "support.hpp"

#include <gfnlm/gfn/objectives/trajectory_balance.hpp>
#include <gfnlm/gfn/sampler.hpp>

#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace gfnlm;
using Catch::Matchers::Contains;

namespace {

std::filesystem::path temp_path(const std::string& name) {
  return std::filesystem::temp_directory_path() /
         ("gfnlm_sampler_" + std::to_string(::getpid()) + "_" + name);
}

SamplerConfig resume_config() {
  SamplerConfig config;
  config.trajectories_per_query = 8;
  config.max_len = 4;
  config.optimizer.lr = 0.05;
  config.reward_temperature = {.start = 1.5, .end = 1.0, .steps = 40};
  config.seed = 1234;
  return config;  // default exploration: on-policy, tempered and replay all happen
}

// Everything a step reports except wall-clock figures.
bool same_metrics(const StepMetrics& a, const StepMetrics& b) {
  auto bits = [](double x, double y) { return std::memcmp(&x, &y, sizeof(double)) == 0; };
  return a.step == b.step && bits(a.loss, b.loss) && bits(a.mean_log_r, b.mean_log_r) &&
         bits(a.log_z, b.log_z) && bits(a.log_z_spread, b.log_z_spread) &&
         bits(a.reward_temperature, b.reward_temperature) && bits(a.lr, b.lr) &&
         bits(a.grad_norm, b.grad_norm) && a.trajectories == b.trajectories &&
         a.replayed == b.replayed && a.new_in_buffer == b.new_in_buffer &&
         a.buffer_size == b.buffer_size;
}

std::vector<float> values(const ParameterList<float>& params) {
  std::vector<float> out;
  for (const auto& p : params) out.insert(out.end(), p.value, p.value + p.size);
  return out;
}

template <class S>
std::string buffer_bytes(const S& sampler) {
  std::ostringstream os;
  sampler.buffer().save(os);
  return os.str();
}

template <class MakeObjective>
void check_resume(MakeObjective make_objective, const char* name) {
  const int n_steps = 40, m_steps = 25;
  const std::vector<int> queries{0, 1};
  TabularPolicy straight_policy(2, 4, 3, 4);
  const test::EnumerableTarget target(straight_policy, 21, 6.0);
  auto reward = [&](const int& q, std::span<const int32_t> z) { return target(z) - q; };

  Sampler straight(straight_policy, reward, resume_config(), make_objective());
  std::vector<StepMetrics> straight_metrics;
  for (int s = 0; s < n_steps + m_steps; ++s)
    straight_metrics.push_back(straight.train_step(queries));

  const auto path = temp_path(std::string(name) + ".ckpt");
  {
    TabularPolicy first_policy(2, 4, 3, 4);
    Sampler first(first_policy, reward, resume_config(), make_objective());
    for (int s = 0; s < n_steps; ++s)
      REQUIRE(same_metrics(first.train_step(queries), straight_metrics[s]));
    first.save(path);
  }
  TabularPolicy resumed_policy(2, 4, 3, 4);
  Sampler resumed(resumed_policy, reward, resume_config(), make_objective());
  resumed.load(path);
  CHECK(resumed.step() == n_steps);
  int replayed = 0;
  for (int s = 0; s < m_steps; ++s) {
    const auto m = resumed.train_step(queries);
    replayed += m.replayed;
    INFO(name << " resumed step " << m.step);
    CHECK(same_metrics(m, straight_metrics[n_steps + s]));
  }
  CHECK(replayed > 0);  // the buffer really was restored and used
  CHECK(values(resumed_policy.parameters()) == values(straight_policy.parameters()));
  CHECK(values(resumed.objective().parameters()) == values(straight.objective().parameters()));
  CHECK(buffer_bytes(resumed) == buffer_bytes(straight));
  // The RNG continues identically too: the next samples agree.
  const auto a = resumed.sample(1, 5, 1.3), b = straight.sample(1, 5, 1.3);
  for (int k = 0; k < 5; ++k) CHECK(a[k].actions == b[k].actions);
  std::filesystem::remove(path);
}

}  // namespace

TEST_CASE("Resume is bit-for-bit (ModifiedSubTB)", "[gfn_sampler]") {
  check_resume([] { return ModifiedSubTB(); }, "modified_subtb");
}

TEST_CASE("Resume is bit-for-bit (TB: log Z and its optimiser are restored)", "[gfn_sampler]") {
  check_resume([] { return TrajectoryBalance({.num_queries = 2}); }, "tb");
}

TEST_CASE("Checkpoint validation names what is wrong and changes nothing", "[gfn_sampler]") {
  const std::vector<int> queries{0};
  auto reward = [](const int&, std::span<const int32_t> z) { return -0.3 * double(z.size()); };
  SamplerConfig small = resume_config();
  small.max_len = 3;
  TabularPolicy policy(1, 4, 3, 3);
  Sampler sampler(policy, reward, small);
  for (int s = 0; s < 5; ++s) sampler.train_step(queries);
  const auto path = temp_path("valid.ckpt");
  sampler.save(path);
  REQUIRE_FALSE(std::filesystem::exists(path.string() + ".tmp"));  // written atomically

  TabularPolicy other(1, 4, 3, 3);
  Sampler target(other, reward, small);
  target.train_step(queries);
  const auto before = values(other.parameters());

  SECTION("missing file") {
    REQUIRE_THROWS_WITH(target.load(temp_path("missing.ckpt")), Contains("cannot open"));
  }
  SECTION("foreign file") {
    const auto bad = temp_path("foreign.ckpt");
    std::ofstream(bad) << "hello, this is not a checkpoint";
    REQUIRE_THROWS_WITH(target.load(bad), Contains("no gfnlm checksum trailer"));
    std::filesystem::remove(bad);
  }
  SECTION("truncated file") {
    const auto cut = temp_path("cut.ckpt");
    std::filesystem::copy_file(path, cut, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::resize_file(cut, std::filesystem::file_size(path) - 20);
    REQUIRE_THROWS_WITH(target.load(cut), Contains("truncated"));
    std::filesystem::remove(cut);
  }
  SECTION("a policy of another shape") {
    TabularPolicy bigger(1, 4, 3, 4);
    Sampler wrong(bigger, reward, resume_config());
    REQUIRE_THROWS_WITH(wrong.load(path), Contains("tabular.logits") && Contains("holds"));
  }
  SECTION("an objective with other parameters") {
    TabularPolicy same_shape(1, 4, 3, 3);
    Sampler tb(same_shape, reward, small, TrajectoryBalance());
    REQUIRE_THROWS_WITH(tb.load(path), Contains("objective parameter tensors"));
  }
  CHECK(values(other.parameters()) == before);
  CHECK(target.step() == 1);
  target.load(path);
  CHECK(target.step() == 5);
  CHECK(values(other.parameters()) == values(policy.parameters()));
  std::filesystem::remove(path);
}

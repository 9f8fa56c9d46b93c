// Issue 21: the data-parallel Sampler (gfn/sampler.hpp, set_communicator) over MPI ranks.
// Run as `mpirun -np 2 test_distributed` and as one process. Every case is collective: both ranks
// run the same cases in the same order, so a case checks with CHECK (never stopping one rank
// early) and compares ranks through the communicator.
//   1. Equivalence: K steps over 2 ranks == K steps in one process over the same queries
//      (SamplerConfig::per_query_streams in both), for modified SubTB and TB (learned log Z),
//      with replay (one prompt repeated, as uniform integers trains, too); with a tool on an
//      LmPolicy. Parameters agree to float rounding (the two
//      ranks' partial gradient sums are added in another order); the largest difference is
//      printed. Every rank holds the same parameters, bit for bit.
//   2. Resume: N steps, checkpoint, resume, M steps == N + M straight, bit for bit, on every rank.
//   3. A checkpoint of another world size resumes (every rank holds the same state) to float
//      rounding of the run at the new size, saying so.
//   4. Bad setups: ranks that disagree on the configuration or the parameters, per_query_streams
//      off.
#define CATCH_CONFIG_RUNNER
#include <gfnlm/distributed/mpi.hpp>
#include <gfnlm/gfn/objectives/modified_subtb.hpp>
#include <gfnlm/gfn/objectives/trajectory_balance.hpp>
#include <gfnlm/gfn/sampler.hpp>
#include <gfnlm/model/transformer.hpp>
#include <gfnlm/policies/lm_policy.hpp>
#include <gfnlm/policies/tabular.hpp>

#include <unistd.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

using namespace gfnlm;
using Catch::Contains;

namespace {

MpiCommunicator* world = nullptr;  // built in main(), before Catch runs a case

std::vector<float> values(const ParameterList<float>& params) {
  std::vector<float> out;
  for (const auto& p : params) out.insert(out.end(), p.value, p.value + p.size);
  return out;
}

template <class S>
std::vector<float> all_values(S& sampler) {
  auto out = values(sampler.policy().parameters());
  const auto objective = values(sampler.objective().parameters());
  out.insert(out.end(), objective.begin(), objective.end());
  return out;
}

// True on every rank when every rank's `bytes` equal rank 0's.
bool same_on_every_rank(const std::string& bytes) {
  std::vector<uint64_t> length{bytes.size()};
  world->broadcast(std::as_writable_bytes(std::span<uint64_t>(length)), 0);
  bool same = length[0] == bytes.size();
  std::string root = bytes;
  root.resize(length[0]);
  world->broadcast(std::as_writable_bytes(std::span<char>(root)), 0);
  same = same && root == bytes;
  std::vector<double> mismatches{same ? 0.0 : 1.0};
  world->all_reduce_sum(std::span<double>(mismatches));
  return mismatches[0] == 0;
}

std::string as_bytes(const std::vector<float>& v) {
  return {reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)};
}

// A path every rank agrees on (rank 0's pid), for checkpoints.
std::filesystem::path shared_path(const std::string& name) {
  std::vector<double> pid{world->rank() == 0 ? double(::getpid()) : 0.0};
  world->all_reduce_sum(std::span<double>(pid));
  return std::filesystem::temp_directory_path() /
         ("gfnlm_dp_" + std::to_string(int64_t(pid[0])) + "_" + name);
}

SamplerConfig tabular_config() {
  SamplerConfig config;
  config.quiet = true;
  config.trajectories_per_query = 8;
  config.max_len = 4;
  config.optimizer.lr = 0.05;
  config.reward_temperature = {.start = 1.5, .end = 1.0, .steps = 20};
  config.exploration.replay_rows_per_query = 2;  // fresh steps mix replayed rows in too
  config.seed = 77;
  config.per_query_streams = true;
  return config;  // default exploration: on-policy, tempered and replay all happen
}

// log R of a sequence for query q: a fixed random table, different per query.
double tabular_log_reward(int q, std::span<const int32_t> z) {
  uint64_t h = 1469598103934665603ULL ^ uint64_t(q) * 0x9E3779B97F4A7C15ULL;
  for (int32_t t : z) h = (h ^ uint64_t(t + 1)) * 1099511628211ULL;
  return -2.0 * double(h % 1000) / 1000.0 - 0.2 * double(z.size());
}

// Queries 0..7 (query 3 twice: a repeated key gets its own stream).
const std::vector<int> kQueries{0, 1, 2, 3, 3, 4, 5, 6, 7};

// One learned log Z per query of kQueries.
TrajectoryBalance tb() {
  return TrajectoryBalance(TrajectoryBalanceConfig{.num_queries = 8});
}

template <class MakeObjective>
void check_equivalence(const char* name, int steps, MakeObjective make_objective,
                       const std::vector<int>& queries = kQueries) {
  auto reward = [](const int& q, std::span<const int32_t> z) { return tabular_log_reward(q, z); };
  TabularPolicy alone_policy(8, 4, 3, 4), split_policy(8, 4, 3, 4);
  Sampler alone(alone_policy, reward, tabular_config(), make_objective());
  Sampler split(split_policy, reward, tabular_config(), make_objective());
  split.set_communicator(*world);
  double largest_loss_gap = 0;
  int replayed = 0;
  for (int s = 0; s < steps; ++s) {
    const auto a = alone.train_step(queries);
    const auto b = split.train_step(queries);
    largest_loss_gap = std::max(largest_loss_gap, std::abs(a.loss - b.loss));
    CHECK(a.trajectories == b.trajectories);
    CHECK(a.replayed == b.replayed);
    CHECK(a.new_in_buffer == b.new_in_buffer);
    CHECK(a.buffer_size == b.buffer_size);
    replayed += b.replayed;
  }
  const auto x = all_values(alone), y = all_values(split);
  REQUIRE(x.size() == y.size());
  double largest = 0;
  for (std::size_t i = 0; i < x.size(); ++i)
    largest = std::max(largest, double(std::abs(x[i] - y[i])));
  if (world->rank() == 0)
    std::printf(
        "%s, %d steps, %d rank(s): largest parameter difference from one process %.3g, loss "
        "%.3g; %d rows replayed\n",
        name, steps, world->size(), largest, largest_loss_gap, replayed);
  CHECK(largest < 1e-4);
  CHECK(largest_loss_gap < 1e-4);
  CHECK(replayed > 0);
  CHECK(same_on_every_rank(as_bytes(y)));
}

}  // namespace

TEST_CASE("The ranks' blocks cover the step's queries in order, sizes within one",
          "[distributed]") {
  for (int count : {1, 2, 7, 9, 64})
    for (int size : {1, 2, 3, 8}) {
      int next = 0;
      for (int r = 0; r < size; ++r) {
        const auto [first, last] = shard_of(count, r, size);
        CHECK(first == next);
        CHECK(last - first >= count / size);
        CHECK(last - first <= count / size + 1);
        next = last;
      }
      CHECK(next == count);
    }
}

TEST_CASE("K steps over the ranks equal K steps in one process: modified SubTB", "[distributed]") {
  check_equivalence("modified SubTB", 30, [] { return ModifiedSubTB{}; });
}

TEST_CASE("K steps over the ranks equal K steps in one process: one prompt repeated",
          "[distributed]") {
  // Every row of the step shares one key, so one replay buffer: both ranks add to it and read it.
  check_equivalence(
      "modified SubTB, one query x 6", 30, [] { return ModifiedSubTB{}; }, std::vector<int>(6, 2));
}

TEST_CASE("K steps over the ranks equal K steps in one process: TB with learned log Z",
          "[distributed]") {
  check_equivalence("TB (learned log Z)", 30, tb);
}

TEST_CASE("K steps over the ranks equal K steps in one process: LmPolicy with a tool",
          "[distributed]") {
  TransformerConfig cfg;
  cfg.vocab_size = 6;
  cfg.max_seq_len = 16;
  cfg.n_layer = 1;
  cfg.n_head = 2;
  cfg.d_model = 16;
  const int32_t stop = 5;
  Rng init_a(3), init_b(3);
  Transformer<> model_a(cfg, init_a), model_b(cfg, init_b);
  LmPolicy<> policy_a(model_a, stop), policy_b(model_b, stop);
  // The tool answers token 1 with the context token 4 (a calculator's result, say).
  const ToolFunction<LmQuery> tool = [](const LmQuery&, std::span<const int32_t> actions) {
    return actions.back() == 1 ? std::vector<int32_t>{4} : std::vector<int32_t>{};
  };
  auto reward = [](const LmQuery& q, std::span<const int32_t> z, std::span<const ContextInsert> c) {
    return tabular_log_reward(int(q.id), z) + 0.5 * double(c.size());
  };
  SamplerConfig config = tabular_config();
  config.max_len = 5;
  config.allowed_tokens = {0, 1, 2, 3, stop};
  config.optimizer.lr = 1e-2;
  std::vector<LmQuery> queries;
  queries.reserve(6);
  for (int q = 0; q < 6; ++q) queries.push_back({{0, q % 4}, {}, q});
  Sampler alone(policy_a, reward, config), split(policy_b, reward, config);
  alone.set_tool(tool);
  split.set_tool(tool);
  split.set_communicator(*world);
  int with_context = 0;
  for (int s = 0; s < 15; ++s) {
    alone.train_step(queries);
    split.train_step(queries);
    for (int b = 0; b < split.last_batch().rows(); ++b)
      with_context += split.last_batch().context[b].empty() ? 0 : 1;
  }
  const auto x = values(policy_a.parameters()), y = values(policy_b.parameters());
  double largest = 0, scale = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    largest = std::max(largest, double(std::abs(x[i] - y[i])));
    scale = std::max(scale, double(std::abs(x[i])));
  }
  if (world->rank() == 0)
    std::printf(
        "LmPolicy + tool, 15 steps, %d rank(s): largest parameter difference %.3g (largest "
        "parameter %.3g)\n",
        world->size(), largest, scale);
  CHECK(largest < 1e-4);
  CHECK(with_context > 0);
  CHECK(same_on_every_rank(as_bytes(y)));
}

TEST_CASE("Resume over the ranks: N steps, save, load, M steps == N + M straight",
          "[distributed]") {
  auto reward = [](const int& q, std::span<const int32_t> z) { return tabular_log_reward(q, z); };
  const int n_steps = 12, m_steps = 10;
  const auto path = shared_path("resume.ckpt");
  TabularPolicy straight_policy(8, 4, 3, 4);
  Sampler straight(straight_policy, reward, tabular_config(), tb());
  straight.set_communicator(*world);
  std::vector<StepMetrics> expected;
  expected.reserve(n_steps + m_steps);
  for (int s = 0; s < n_steps + m_steps; ++s) expected.push_back(straight.train_step(kQueries));
  {
    TabularPolicy policy(8, 4, 3, 4);
    Sampler first(policy, reward, tabular_config(), tb());
    first.set_communicator(*world);
    for (int s = 0; s < n_steps; ++s) first.train_step(kQueries);
    first.save(path);
  }
  TabularPolicy policy(8, 4, 3, 4);
  Sampler resumed(policy, reward, tabular_config(), tb());
  resumed.set_communicator(*world);
  resumed.load(path);
  CHECK(resumed.step() == n_steps);
  bool same_metrics = true;
  for (int s = n_steps; s < n_steps + m_steps; ++s) {
    const auto m = resumed.train_step(kQueries);
    same_metrics = same_metrics &&
                   std::bit_cast<uint64_t>(m.loss) == std::bit_cast<uint64_t>(expected[s].loss) &&
                   m.replayed == expected[s].replayed && m.buffer_size == expected[s].buffer_size;
  }
  CHECK(same_metrics);
  CHECK(as_bytes(all_values(resumed)) == as_bytes(all_values(straight)));
  std::ostringstream a, b;
  resumed.buffer().save(a);
  straight.buffer().save(b);
  CHECK(a.str() == b.str());
  // The same file in one process (no communicator): it loads, saying it was written by more.
  TabularPolicy single_policy(8, 4, 3, 4);
  Sampler single(single_policy, reward, tabular_config(), tb());
  std::vector<std::string> said;
  single.set_message_sink([&](const std::string& line) { said.push_back(line); });
  single.load(path);
  CHECK(single.step() == n_steps);
  CHECK(said.size() == (world->size() > 1 ? 1u : 0u));
  world->barrier();
  if (world->rank() == 0) std::filesystem::remove(path);
}

TEST_CASE("A checkpoint of one process resumes on the ranks, to float rounding", "[distributed]") {
  auto reward = [](const int& q, std::span<const int32_t> z) { return tabular_log_reward(q, z); };
  const auto path = shared_path("one_process.ckpt");
  TabularPolicy alone_policy(8, 4, 3, 4);
  Sampler alone(alone_policy, reward, tabular_config(), tb());  // no communicator
  for (int s = 0; s < 8; ++s) alone.train_step(kQueries);
  if (world->rank() == 0) alone.save(path);
  world->barrier();
  TabularPolicy policy(8, 4, 3, 4);
  Sampler split(policy, reward, tabular_config(), tb());
  std::vector<std::string> said;
  split.set_message_sink([&](const std::string& line) { said.push_back(line); });
  split.set_communicator(*world);
  split.load(path);
  CHECK(split.step() == 8);
  if (world->rank() == 0 && world->size() > 1) {
    REQUIRE(said.size() == 1);
    CHECK_THAT(said[0],
               Contains("written by a run of 1 rank(s), on 2") && Contains("not bit for bit"));
  } else {
    CHECK(said.empty());
  }
  for (int s = 0; s < 8; ++s) alone.train_step(kQueries), split.train_step(kQueries);
  const auto x = all_values(alone), y = all_values(split);
  double largest = 0;
  for (std::size_t i = 0; i < x.size(); ++i)
    largest = std::max(largest, double(std::abs(x[i] - y[i])));
  CHECK(largest < 1e-4);
  world->barrier();
  if (world->rank() == 0) std::filesystem::remove(path);
}

TEST_CASE("Bad data-parallel setups are errors on every rank", "[distributed]") {
  auto reward = [](const int& q, std::span<const int32_t> z) { return tabular_log_reward(q, z); };
  if (world->size() > 1) {
    SECTION("ranks with different configurations") {
      auto config = tabular_config();
      config.seed += uint64_t(world->rank());
      TabularPolicy policy(8, 4, 3, 4);
      Sampler sampler(policy, reward, config);
      CHECK_THROWS_WITH(sampler.set_communicator(*world),
                        world->rank() == 0 ? Contains("stopped the run")
                                           : Contains("sampler configuration (SamplerConfig) "
                                                      "differs from rank 0's"));
    }
    SECTION("ranks with different parameters") {
      TabularPolicy policy(8, 4, 3, 4);
      if (world->rank() == 1) policy.parameters()[0].value[0] += 0.5f;
      Sampler sampler(policy, reward, tabular_config());
      CHECK_THROWS_WITH(sampler.set_communicator(*world), world->rank() == 0
                                                              ? Contains("stopped the run")
                                                              : Contains("model fingerprint"));
    }
    SECTION("one shared stream") {
      auto config = tabular_config();
      config.per_query_streams = false;
      TabularPolicy policy(8, 4, 3, 4);
      Sampler sampler(policy, reward, config);
      CHECK_THROWS_WITH(sampler.set_communicator(*world), Contains("per_query_streams = true"));
    }
  }
}

int main(int argc, char** argv) {
  try {
    MpiCommunicator comm;
    world = &comm;
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    return Catch::Session().run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "test_distributed: %s\n", e.what());
    return 1;
  }
}

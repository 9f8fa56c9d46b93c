// The Sampler's plumbing: tool context (SPEC 5), masks (SPEC 4), non-finite rewards (SPEC 3),
// the reward forms it dispatches to, and the behaviour mixture's bookkeeping.
#include "mock_context_policy.hpp"
#include "support.hpp"

#include <gfnlm/gfn/objectives/trajectory_balance.hpp>
#include <gfnlm/gfn/sampler.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

using namespace gfnlm;
using Catch::Matchers::Contains;

namespace {

// Calculator-like tool: after every action equal to 1, append the context tokens {100, 101}.
std::vector<int32_t> tool(const int&, std::span<const int32_t> actions) {
  if (!actions.empty() && actions.back() == 1) return {100, 101};
  return {};
}

// The context a row with these actions must carry.
std::vector<ContextInsert> expected_context(std::span<const int32_t> actions) {
  std::vector<ContextInsert> out;
  for (std::size_t t = 0; t < actions.size(); ++t)
    if (actions[t] == 1) out.push_back({int(t + 1), {100, 101}});
  return out;
}

bool same(const std::vector<ContextInsert>& a, const std::vector<ContextInsert>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].after_action != b[i].after_action || a[i].tokens != b[i].tokens) return false;
  return true;
}

// A ContextReward that checks, at every prefix, that it sees exactly the tool output so far.
struct ContextCheckingReward {
  int* mismatches;
  int* calls;
  double operator()(const int&, std::span<const int32_t> z, std::span<const ContextInsert> ctx) {
    ++*calls;
    const auto want = expected_context(z);
    if (!same(want, {ctx.begin(), ctx.end()})) ++*mismatches;
    return -0.5 * double(z.size());
  }
};

}  // namespace

TEST_CASE("Tool context is recorded, given to the policy and the reward, never scored",
          "[gfn_sampler]") {
  test::MockContextPolicy policy(4, 3, 5);
  int mismatches = 0, calls = 0;
  SamplerConfig config;
  config.trajectories_per_query = 32;
  config.max_len = 5;
  config.exploration = {.p_on_policy = 1, .p_tempered = 0, .p_replay = 0};
  Sampler sampler(policy, ContextCheckingReward{&mismatches, &calls}, config);
  sampler.set_tool(tool);
  const std::vector<int> queries{0};

  SECTION("fresh rollouts") {
    sampler.train_step(queries);
    const auto& batch = sampler.last_batch();
    int with_context = 0;
    for (int b = 0; b < batch.rows(); ++b) {
      const int e = batch.length[b];
      std::vector<int32_t> actions;
      for (int t = 0; t < batch.max_len(); ++t) {
        const int32_t a = batch.actions(b, t);
        if (t < e) {
          actions.push_back(a);
          CHECK(a != 100);
          CHECK(a != 101);
          CHECK(std::isfinite(batch.log_pf(b, t)));
        } else {
          CHECK(a == -1);                     // nothing past the actions ...
          CHECK(batch.log_pf(b, t) == 0.0f);  // ... and no log-prob for context tokens
        }
      }
      CHECK(same(batch.context[b], expected_context(actions)));
      CHECK(same(policy.scored_context[b], batch.context[b]));  // score() saw the context
      // The rollout state of row b interleaves actions and context in order.
      std::vector<int32_t> state;
      for (int t = 0; t < e; ++t) {
        state.push_back(actions[t]);
        if (actions[t] == 1) state.insert(state.end(), {100, 101});
      }
      CHECK(policy.state(b) == state);
      with_context += !batch.context[b].empty();
    }
    CHECK(with_context > 0);
    int expected_appends = 0;
    for (int b = 0; b < batch.rows(); ++b) expected_appends += int(batch.context[b].size());
    CHECK(int(policy.appended.size()) == expected_appends);
    for (const auto& a : policy.appended) CHECK(a.after_action >= 1);
    CHECK(calls > 0);
    CHECK(mismatches == 0);

    // sample() runs the tool too.
    const auto samples = sampler.sample(0, 20);
    for (const auto& s : samples) CHECK(same(s.context, expected_context(s.actions)));
  }

  SECTION("replayed rows get their context back from the tool") {
    SamplerConfig replay = config;
    replay.exploration = {.p_on_policy = 0, .p_tempered = 0, .p_replay = 1};
    replay.buffer.near_duplicate_tolerance = 0;
    test::MockContextPolicy policy2(4, 3, 5);
    Sampler sampler2(policy2, ContextCheckingReward{&mismatches, &calls}, replay);
    sampler2.set_tool(tool);
    CHECK(sampler2.seed_buffer(0, {{1, 0, 1}, {0, 1}, {2, 2, 2, 2, 2}}) == 3);
    const auto m = sampler2.train_step(queries);
    CHECK(m.replayed == 32);
    const auto& batch = sampler2.last_batch();
    for (int b = 0; b < batch.rows(); ++b) {
      std::vector<int32_t> actions;
      actions.reserve(batch.length[b]);
      for (int t = 0; t < batch.length[b]; ++t) actions.push_back(batch.actions(b, t));
      CHECK(same(batch.context[b], expected_context(actions)));
      CHECK(batch.stopped[b] == (actions.size() < 5u));  // a max_len item replays unstopped
    }
    CHECK(policy2.appended.empty());  // no rollout happened
    CHECK(mismatches == 0);
  }
}

TEST_CASE("Min-length and vocabulary masks hold in samples and in the loss", "[gfn_sampler]") {
  TabularPolicy policy(1, 4, 3, 4);
  Rng init(5);
  policy.randomize(init, 1.0);
  SamplerConfig config;
  config.trajectories_per_query = 16;
  config.max_len = 4;
  config.min_len = 2;
  config.allowed_tokens = {0, 2, 3};
  auto reward = [](const int&, std::span<const int32_t> z) { return 0.3 * double(z.size()); };
  Sampler sampler(policy, reward, config);
  const std::vector<int> queries{0};
  for (int step = 0; step < 30; ++step) sampler.train_step(queries);

  // The loss sees the same mask: STOP has probability 0 before min_len.
  const auto& batch = sampler.last_batch();
  for (int b = 0; b < batch.rows(); ++b) {
    CHECK(batch.length[b] >= 2);
    CHECK(batch.log_stop(b, 0) == -std::numeric_limits<float>::infinity());
    CHECK(batch.log_stop(b, 1) == -std::numeric_limits<float>::infinity());
    CHECK(std::isfinite(batch.log_stop(b, 2)));
  }

  for (double temperature : {1.0, 2.0, 0.5}) {
    const auto samples = sampler.sample(0, 300, temperature);
    int unstopped = 0;
    for (const auto& s : samples) {
      CHECK(s.actions.size() >= 2u);
      CHECK(s.actions.size() <= 4u);
      for (int32_t a : s.actions) CHECK((a == 0 || a == 2));
      CHECK(s.stopped == (s.actions.size() < 4u));
      unstopped += !s.stopped;
      CHECK(s.log_r == Approx(0.3 * double(s.actions.size())));
      // log q at T = 1 under the same masks, by hand from the table.
      double log_q = 0;
      for (std::size_t t = 0; t <= s.actions.size(); ++t) {
        if (t == s.actions.size() && !s.stopped) break;
        auto row = policy.logits(0, std::span(s.actions).first(t));
        std::vector<double> allowed;
        for (int v : {0, 2, 3})
          if (!(v == 3 && t < 2)) allowed.push_back(row[v]);
        const double lse = logsumexp(std::span<const double>(allowed));
        log_q += row[t < s.actions.size() ? s.actions[t] : 3] - lse;
      }
      CHECK(s.log_q == Approx(log_q).margin(1e-9));
    }
    CHECK(unstopped > 0);
  }
}

TEST_CASE("A NaN reward is an error naming the query and the tokens", "[gfn_sampler]") {
  TabularPolicy policy(2, 4, 3, 3);
  auto reward = [](const int& q, std::span<const int32_t> z) {
    return (q == 1 && !z.empty() && z[0] == 2) ? std::nan("") : 0.0;
  };
  SamplerConfig config;
  config.trajectories_per_query = 64;
  config.max_len = 3;
  config.exploration = {.p_on_policy = 1, .p_tempered = 0, .p_replay = 0};
  Sampler sampler(policy, reward, config);
  const std::vector<int> queries{0, 1};
  REQUIRE_THROWS_AS(sampler.train_step(queries), Error);
  REQUIRE_THROWS_WITH(sampler.train_step(queries),
                      Contains("log R = nan") && Contains("query 1") && Contains("tokens [2"));
  const std::vector<int> only_0{0};
  CHECK_NOTHROW(sampler.train_step(only_0));
}

TEST_CASE("A NaN grad_clip and an empty log-partition estimate are errors", "[gfn_sampler]") {
  TabularPolicy policy(1, 4, 3, 3);
  auto reward = [](const int&, std::span<const int32_t>) { return 0.0; };
  SamplerConfig config;
  config.max_len = 3;
  config.grad_clip = std::nan("");
  REQUIRE_THROWS_WITH(Sampler(policy, reward, config), Contains("grad_clip is NaN"));
  config.grad_clip = 1.0;
  Sampler sampler(policy, reward, config);
  REQUIRE_THROWS_WITH(sampler.log_partition(0, 0), Contains("n = 0 samples"));
  const auto estimate = sampler.log_partition(0, 1);
  CHECK(std::isfinite(estimate.mean));
}

TEST_CASE("A -inf reward (zero reward) trains without poisoning the loss", "[gfn_sampler]") {
  TabularPolicy policy(1, 4, 3, 4);
  const test::EnumerableTarget target(policy, 3, 6.0);
  // Zero reward for every sequence containing token 2 (a forbidden pattern).
  auto has_2 = [](std::span<const int32_t> z) {
    return std::find(z.begin(), z.end(), 2) != z.end();
  };
  auto reward = [&](const int&, std::span<const int32_t> z) {
    return has_2(z) ? -std::numeric_limits<double>::infinity() : target(z);
  };
  SamplerConfig config;
  config.trajectories_per_query = 16;
  config.max_len = 4;
  config.optimizer.lr = 0.05;
  config.grad_clip = 0;
  Sampler sampler(policy, reward, config);
  const std::vector<int> queries{0};
  for (int step = 0; step < 300; ++step) {
    const auto m = sampler.train_step(queries);
    REQUIRE(std::isfinite(m.loss));
    REQUIRE(std::isfinite(m.grad_norm));
  }
  for (float v : std::span(policy.parameters()[0].value, policy.parameters()[0].size))
    REQUIRE(std::isfinite(v));
  const auto seqs = policy.enumerate_sequences();
  const auto log_q = policy.terminal_log_probs(0);
  double mass_on_zero = 0;
  for (std::size_t i = 0; i < seqs.size(); ++i)
    if (has_2(seqs[i])) mass_on_zero += std::exp(log_q[i]);
  std::printf("-inf reward: q mass on zero-reward sequences after 300 steps: %.5f\n", mass_on_zero);
  CHECK(mass_on_zero < 0.02);  // started at 1 - (1/4 + ... ) ~ 0.7 under the uniform policy
  CHECK(sampler.buffer().total_size() > 0);
}

namespace {

// Offers every form; the sampler must pick the batched one, once per step.
struct BatchedReward {
  int batch_calls = 0, rows_seen = 0;
  void prefix_log_rewards_batch(std::span<const RewardRequest<int>> rows) {
    ++batch_calls;
    rows_seen += int(rows.size());
    for (const auto& r : rows)
      for (std::size_t t = 0; t <= r.actions.size(); ++t) r.out[t] = -double(t);
  }
  double operator()(const int&, std::span<const int32_t>) { return 0.0; }  // never used
};

struct PrefixOnlyReward {
  int calls = 0;
  void prefix_log_rewards(const int&, std::span<const int32_t> z, std::span<double> out) {
    ++calls;
    REQUIRE(out.size() == z.size() + 1);
    for (std::size_t t = 0; t <= z.size(); ++t) out[t] = -double(t);
  }
};

}  // namespace

TEST_CASE("The sampler asks the richest reward form, and tempers log R in the loss",
          "[gfn_sampler]") {
  SamplerConfig config;
  config.trajectories_per_query = 8;
  config.max_len = 3;
  config.reward_temperature = {.start = 2.0, .end = 1.0, .steps = 10};
  const std::vector<int> queries{0, 1};

  SECTION("batched") {
    TabularPolicy policy(2, 4, 3, 3);
    Sampler sampler(policy, BatchedReward{}, config);
    const auto m = sampler.train_step(queries);
    CHECK(sampler.reward().batch_calls == 1);
    CHECK(sampler.reward().rows_seen == 16);
    CHECK(m.reward_temperature == 2.0);
    const auto& batch = sampler.last_batch();
    for (int b = 0; b < batch.rows(); ++b)
      for (int t = 0; t <= batch.length[b]; ++t) CHECK(batch.log_r(b, t) == float(-t / 2.0));
    CHECK(sampler.train_step(queries).reward_temperature == Approx(1.9));
  }
  SECTION("prefix") {
    TabularPolicy policy(2, 4, 3, 3);
    Sampler sampler(policy, PrefixOnlyReward{}, config);
    sampler.train_step(queries);
    CHECK(sampler.reward().calls == 16);  // one call per row, not per prefix
  }
  SECTION("min-length penalty replaces log R of too-short prefixes") {
    config.min_len = 2;
    config.min_len_penalty = -99;
    TabularPolicy policy(2, 4, 3, 3);
    Sampler sampler(policy, PrefixOnlyReward{}, config);
    sampler.train_step(queries);
    const auto& batch = sampler.last_batch();
    for (int b = 0; b < batch.rows(); ++b) {
      CHECK(batch.log_r(b, 0) == -99.0f);
      CHECK(batch.log_r(b, 1) == -99.0f);
      CHECK(batch.log_r(b, 2) == -1.0f);  // -2 / T_R = 2
    }
  }
}

TEST_CASE("Behaviour mixture and metrics", "[gfn_sampler]") {
  TabularPolicy policy(3, 4, 3, 3);
  auto reward = [](const int& q, std::span<const int32_t> z) { return double(q) - 0.1 * z.size(); };
  SamplerConfig config;
  config.trajectories_per_query = 4;
  config.max_len = 3;
  Sampler sampler(policy, reward, config);
  std::vector<StepMetrics> seen;
  sampler.set_progress_callback([&](const StepMetrics& m) { seen.push_back(m); });
  const std::vector<int> queries{0, 1, 2};
  int replayed = 0;
  for (int step = 0; step < 200; ++step) replayed += sampler.train_step(queries).replayed;
  REQUIRE(seen.size() == 200u);
  CHECK(seen[0].replayed == 0);  // nothing to replay yet
  CHECK(seen[0].new_in_buffer > 0);
  CHECK(seen.back().step == 199);
  CHECK(seen.back().trajectories == 12);
  CHECK(seen.back().buffer_size == sampler.buffer().total_size());
  CHECK(seen[0].lr == Approx(config.optimizer.lr / 20));  // warm-up over 20 steps
  CHECK(seen[30].lr == Approx(config.optimizer.lr));
  // Replay p = 1/4 per query once the buffer holds something: 200 x 3 x 4 x 1/4 rows expected.
  const double share = replayed / (200.0 * 12.0);
  CHECK(share > 0.18);
  CHECK(share < 0.32);
  for (const auto& m : seen) {
    CHECK(std::isfinite(m.loss));
    CHECK(std::isfinite(m.log_z));
    CHECK(m.samples_per_s > 0);
  }
}

TEST_CASE("Replayed rows mix into a fresh query's batch", "[gfn_sampler]") {
  TabularPolicy policy(2, 4, 3, 3);
  const std::vector<std::vector<int32_t>> seeds{{2, 2, 2}, {1, 0, 2}};
  // The seeds score highest, so fresh rows never push them out of the buffer.
  auto reward = [&seeds](const int&, std::span<const int32_t> z) {
    const std::vector<int32_t> v(z.begin(), z.end());
    return v == seeds[0] || v == seeds[1] ? 0.0 : -2.0 - 0.1 * double(z.size());
  };
  SamplerConfig config;
  config.trajectories_per_query = 8;
  config.max_len = 3;
  config.exploration = {.p_on_policy = 1, .p_tempered = 0, .p_replay = 0};
  config.exploration.replay_rows_per_query = 3;
  config.buffer.near_duplicate_tolerance = 0;
  Sampler sampler(policy, reward, config);
  REQUIRE(sampler.seed_buffer(0, seeds) == 2);
  const auto is_seed = [&](const TrajectoryBatch& batch, int b) {
    std::vector<int32_t> actions(static_cast<std::size_t>(batch.length[b]));
    for (int t = 0; t < batch.length[b]; ++t) actions[t] = batch.actions(b, t);
    return actions == seeds[0] || actions == seeds[1];
  };
  // Query 1's buffer starts empty: step 0 replays 3 rows (query 0's) and fills it.
  const std::vector<int> queries{0, 1};
  CHECK(sampler.train_step(queries).replayed == 3);
  CHECK(sampler.train_step(queries).replayed == 6);
  // Query 0 alone: its last 3 rows come from the seeds (with replacement), the first 5 fresh.
  const std::vector<int> only_0{0};
  const auto m = sampler.train_step(only_0);
  CHECK(m.replayed == 3);
  CHECK(m.trajectories == 8);
  const auto& batch = sampler.last_batch();
  for (int b = 5; b < 8; ++b) CHECK(is_seed(batch, b));
  CHECK(std::isfinite(m.loss));

  SamplerConfig all_replayed = config;
  all_replayed.exploration.replay_rows_per_query = 8;
  CHECK_THROWS_WITH(
      Sampler(policy, reward, all_replayed),
      Contains("replay_rows_per_query = 8") && Contains("trajectories_per_query = 8"));
}

TEST_CASE("train_step's policy gradient matches finite differences (masks, two queries)",
          "[gfn_sampler]") {
  // Replay-only exploration from a seeded buffer makes the trajectories independent of the
  // parameters, so the step's loss is a smooth function of the table: d loss / d table from the
  // sampler's chain (objective -> policy.backward through the fused masked log-softmax) must match
  // central differences. lr = 0 keeps the parameters where they were.
  SamplerConfig config;
  config.trajectories_per_query = 6;
  config.max_len = 3;
  config.min_len = 1;
  config.allowed_tokens = {0, 2, 3};
  config.exploration = {.p_on_policy = 0, .p_tempered = 0, .p_replay = 1};
  config.buffer.near_duplicate_tolerance = 0;
  config.optimizer.lr = 0;
  config.objective_lr = 0;
  config.quiet = true;  // one Sampler per perturbed parameter: hundreds of one-step runs
  config.grad_clip = 0;
  config.reward_temperature = {.start = 1.3, .end = 1.3, .steps = 0};
  auto reward = [](const int& q, std::span<const int32_t> z) {
    double r = 0.4 * q;
    for (std::size_t t = 0; t < z.size(); ++t) r += (z[t] == 0 ? 0.7 : -0.5) * double(t + 1);
    return r;
  };
  Rng init(17);
  std::vector<float> table;
  {
    TabularPolicy p(2, 4, 3, 3);
    p.randomize(init, 0.8);
    const auto v = p.parameters()[0];
    table.assign(v.value, v.value + v.size);
  }
  // Loss and gradient with table entry k moved by delta.
  auto run = [&](std::size_t k, float delta, std::vector<float>* grad) {
    TabularPolicy p(2, 4, 3, 3);
    const auto v = p.parameters()[0];
    std::copy(table.begin(), table.end(), v.value);
    v.value[k] += delta;
    Sampler sampler(p, reward, config);
    sampler.seed_buffer(0, {{0}, {0, 2}, {2, 2, 0}, {2}});
    sampler.seed_buffer(1, {{2, 0}, {0, 0, 0}, {0, 2, 2}});
    const std::vector<int> queries{0, 1};
    const double loss = sampler.train_step(queries).loss;
    if (grad) grad->assign(v.grad, v.grad + v.size);
    return loss;
  };
  std::vector<float> grad;
  run(0, 0.0f, &grad);
  const float eps = 1e-2f;
  int checked = 0;
  for (std::size_t k = 0; k < grad.size(); ++k) {
    const double fd = (run(k, eps, nullptr) - run(k, -eps, nullptr)) / (2.0 * eps);
    INFO("table entry " << k << " (state " << k / 4 << ", token " << k % 4 << ")");
    CHECK(grad[k] == Approx(fd).margin(2e-3).epsilon(2e-2));
    checked += std::abs(grad[k]) > 1e-3;
    if (k % 4 == 1) CHECK(grad[k] == 0.0f);  // token 1 is masked: its logit gets no gradient
  }
  CHECK(checked > 10);
}

TEST_CASE("The objective's parameters get their own learning rate", "[gfn_sampler]") {
  // Adam's first step moves every parameter with a non-zero gradient by exactly lr.
  auto reward = [](const int&, std::span<const int32_t> z) { return 2.0 - 0.3 * z.size(); };
  const std::vector<int> queries{0};
  SamplerConfig config;
  config.max_len = 3;
  for (auto [given, expected] : {std::pair{-1.0, 0.7}, std::pair{0.2, 0.2}}) {
    if (given >= 0) config.objective_lr = given;  // unset: TrajectoryBalanceConfig::log_z_lr
    TabularPolicy policy(1, 4, 3, 3);
    Sampler sampler(policy, reward, config, TrajectoryBalance({.log_z_lr = 0.7}));
    sampler.train_step(queries);
    CHECK(std::abs(sampler.objective().log_z(0)) == Approx(expected).epsilon(1e-5));
  }
}

// Issue 21: with per_query_streams a query's rows are a function of (seed, step, key, occurrence)
// and the parameters only, not of the other queries of the step: the data-parallel Sampler's
// premise (tests/distributed run the ranks themselves). With the one shared stream they are not.
TEST_CASE("Per-query streams: a query's rows do not depend on the other queries of the step",
          "[gfn_sampler]") {
  const auto reward = [](const int& q, std::span<const int32_t> z) {
    return -0.4 * double(z.size()) + 0.1 * q;
  };
  const auto last_rows = [&](bool per_query, const std::vector<int>& queries) {
    SamplerConfig config;
    config.quiet = true;
    config.trajectories_per_query = 8;
    config.max_len = 4;
    config.seed = 5;
    config.exploration = {.p_on_policy = 1, .p_tempered = 0, .p_replay = 0};
    config.per_query_streams = per_query;
    TabularPolicy policy(4, 4, 3, 4);
    Sampler sampler(policy, reward, config);
    sampler.train_step(queries);  // last_batch(): the rows of the last query, 2
    std::vector<std::vector<int32_t>> rows;
    const auto& batch = sampler.last_batch();
    for (int b = 0; b < batch.rows(); ++b) {
      rows.emplace_back();
      for (int t = 0; t < batch.length[b]; ++t) rows.back().push_back(batch.actions(b, t));
    }
    return rows;
  };
  CHECK(last_rows(true, {0, 1, 2}) == last_rows(true, {2}));
  CHECK(last_rows(true, {1, 0, 2}) == last_rows(true, {2}));
  CHECK(last_rows(false, {0, 1, 2}) != last_rows(false, {2}));
  // A repeated query's second occurrence has a stream of its own.
  CHECK(last_rows(true, {2, 2}) != last_rows(true, {2}));
}

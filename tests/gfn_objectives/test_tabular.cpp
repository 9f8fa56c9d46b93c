// TabularPolicy: exact probabilities, the Policy rollout / score / backward contract, and the
// zero of every objective at the exact target policy.
#include "tabular_loop.hpp"

#include <gfnlm/gfn/objectives/detailed_balance.hpp>
#include <gfnlm/gfn/objectives/modified_subtb.hpp>
#include <gfnlm/gfn/objectives/subtb.hpp>
#include <gfnlm/gfn/objectives/trajectory_balance.hpp>

#include <catch2/catch.hpp>

using namespace gfnlm;

static_assert(Policy<TabularPolicy>);

TEST_CASE("TabularPolicy enumerates every sequence and its probabilities sum to one",
          "[gfn_objectives]") {
  TabularPolicy policy(2, 4, /*stop=*/1, /*max_len=*/4);
  REQUIRE(policy.num_prefixes() == 1 + 3 + 9 + 27 + 81);
  Rng rng(3);
  policy.randomize(rng, 1.5);
  const auto seqs = policy.enumerate_sequences();
  REQUIRE(seqs.size() == policy.num_prefixes());
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    REQUIRE(policy.row_index(0, seqs[i]) == i);
    REQUIRE(policy.row_index(1, seqs[i]) == i + policy.num_prefixes());
    for (int32_t tok : seqs[i]) REQUIRE(tok != 1);
  }
  for (int q = 0; q < 2; ++q) {
    const auto lp = policy.terminal_log_probs(q);
    double total = 0;
    for (std::size_t i = 0; i < seqs.size(); ++i) {
      REQUIRE(lp[i] == Approx(policy.log_prob_terminal(q, seqs[i])).epsilon(1e-12));
      total += std::exp(lp[i]);
    }
    REQUIRE(total == Approx(1.0).epsilon(1e-12));
  }
  // A hand-checked probability: uniform table, "0 2" then STOP = (1/4)^3.
  TabularPolicy uniform(1, 4, 1, 4);
  const std::vector<int32_t> z{0, 2};
  REQUIRE(uniform.log_prob(0, z, true) == Approx(3 * std::log(0.25)));
  REQUIRE_THROWS_WITH(uniform.log_prob(0, z, false), Catch::Contains("max_len 4"));
  const std::vector<int32_t> bad{0, 1};
  REQUIRE_THROWS_WITH(uniform.log_prob(0, bad, true), Catch::Contains("token 1 at position 1"));
}

TEST_CASE("TabularPolicy rollouts, score and backward follow the Policy contract",
          "[gfn_objectives]") {
  TabularPolicy policy(2, 3, /*stop=*/2, /*max_len=*/2);
  Rng rng(9);
  policy.randomize(rng, 1.0);
  const std::vector<int> queries{1, 0, 1};
  policy.start_rollout(queries);
  std::vector<float> logits(9);
  policy.next_logits(logits);
  const std::vector<int32_t> empty;
  for (int v = 0; v < 3; ++v) REQUIRE(logits[v] == policy.logits(1, empty)[v]);
  policy.advance(std::vector<int32_t>{0, 2, 1});  // row 1 stops
  policy.next_logits(logits);
  const std::vector<int32_t> p0{0}, p1{1};
  for (int v = 0; v < 3; ++v) {
    REQUIRE(logits[v] == policy.logits(1, p0)[v]);
    REQUIRE(logits[6 + v] == policy.logits(1, p1)[v]);
  }
  policy.advance(std::vector<int32_t>{1, -1, 1});
  REQUIRE_THROWS_WITH(policy.advance(std::vector<int32_t>{0, -1, 2}),
                      Catch::Contains("row 0 is at max_len 2"));
  REQUIRE_THROWS_WITH(policy.append_context(0, std::vector<int32_t>{5}),
                      Catch::Contains("no context"));
  REQUIRE_NOTHROW(policy.append_context(0, empty));

  // score: state logits are table rows; backward accumulates per table row.
  TrajectoryBatch b;
  b.resize(3, 2);
  b.length = {2, 0, 1};
  b.stopped = {false, true, true};
  b.actions(0, 0) = 0, b.actions(0, 1) = 1, b.actions(2, 0) = 0;
  Tensor<float, 3> state_logits;
  policy.score(queries, b, state_logits);
  REQUIRE(state_logits.shape()[1] == 3);
  for (int v = 0; v < 3; ++v) {
    REQUIRE(state_logits(0, 1, v) == policy.logits(1, p0)[v]);
    REQUIRE(state_logits(1, 0, v) == policy.logits(0, empty)[v]);
    REQUIRE(state_logits(2, 1, v) == policy.logits(1, p0)[v]);
  }
  Tensor<float, 3> d(state_logits.shape(), 0.0f);
  d(0, 1, 2) = 1.5f;
  d(2, 1, 2) = 0.25f;
  d(1, 0, 0) = -1.0f;
  d(1, 1, 0) = 100.0f;  // past row 1's length: ignored
  auto params = policy.parameters();
  REQUIRE(params.size() == 1);
  REQUIRE(params[0].size == 2 * 7 * 3);
  zero_grad(params);
  policy.backward(d);
  const auto g = [&](int q, const std::vector<int32_t>& prefix, int v) {
    return params[0].grad[policy.row_index(q, prefix) * 3 + v];
  };
  REQUIRE(g(1, p0, 2) == 1.75f);
  REQUIRE(g(0, empty, 0) == -1.0f);
  double total = 0;
  for (std::size_t i = 0; i < params[0].size; ++i) total += params[0].grad[i];
  REQUIRE(total == Approx(0.75));
  b.context[2].push_back({1, {7}});
  REQUIRE_THROWS_WITH(policy.score(queries, b, state_logits), Catch::Contains("row 2"));
}

TEST_CASE("every objective is zero at the exact target policy", "[gfn_objectives]") {
  TabularPolicy policy(1, 4, /*stop=*/3, /*max_len=*/4);
  Rng rng(21);
  const auto target = test::random_target(policy, rng, -4.0, 4.0);
  test::set_exact(policy, target);
  REQUIRE(test::kl_target_q(policy, target) < 1e-9);
  auto ro = test::sample(policy, target, rng, 64);
  TrajectoryGrad g;
  TrajectoryBalance tb;
  tb.set_log_z(0, float(target.log_z));
  // Float log-probs: zero up to float rounding of values of size ~10.
  REQUIRE(ModifiedSubTB{}(ro.batch, g) < 1e-9);
  REQUIRE(ModifiedSubTB({.lambda = 0.9, .include_stop_transition = true})(ro.batch, g) < 1e-9);
  REQUIRE(tb(ro.batch, g) < 1e-9);
  REQUIRE(SubTB({.lambda = 0.9})(ro.batch, g) < 1e-9);
  REQUIRE(DetailedBalance{}(ro.batch, g) < 1e-9);
  REQUIRE(ModifiedDB{}(ro.batch, g) < 1e-9);
  // And clearly non-zero for a perturbed policy.
  policy.logits(0, std::vector<int32_t>{})[0] += 1.0f;
  ro = test::sample(policy, target, rng, 64);
  REQUIRE(ModifiedSubTB{}(ro.batch, g) > 1e-3);
  REQUIRE(tb(ro.batch, g) > 1e-3);
}

// TabularPolicy: exact probabilities, the Policy rollout / score / backward contract, and the
// zero of every objective at the exact target policy.
#include "tabular_loop.hpp"

#include <gfnlm/gfn/objectives/detailed_balance.hpp>
#include <gfnlm/gfn/objectives/modified_subtb.hpp>
#include <gfnlm/gfn/objectives/subtb.hpp>
#include <gfnlm/gfn/objectives/trajectory_balance.hpp>

#include <catch2/catch.hpp>

#include <limits>

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

namespace {
// log softmax of a table row in double, with the masked entries (mask[v] false) at -inf.
std::vector<double> reference_log_softmax(std::span<const float> row,
                                          const std::vector<bool>& allowed) {
  std::vector<double> x(row.size());
  for (std::size_t v = 0; v < row.size(); ++v)
    x[v] = allowed[v] ? double(row[v]) : -std::numeric_limits<double>::infinity();
  const double lse = logsumexp(std::span<const double>(x));
  for (auto& v : x) v -= lse;
  return x;
}
}  // namespace

TEST_CASE("TabularPolicy draws, scores and back-propagates through the gathered Policy contract",
          "[gfn_objectives]") {
  TabularPolicy policy(2, 3, /*stop=*/2, /*max_len=*/2);
  Rng rng(9);
  policy.randomize(rng, 1.0);
  const LogitMask mask(3, 2, /*min_len=*/0);
  const std::vector<bool> all{true, true, true};
  const std::vector<int> queries{1, 0, 1};
  const std::vector<int32_t> empty, p0{0}, p1{1};

  // draw: the inverse CDF of softmax(row / T) at the given uniform; log q at T = 1.
  policy.start_rollout(queries);
  const std::vector<uint8_t> live{1, 1, 1};
  const std::vector<double> temps{1.0, 0.5, 2.0}, uniforms{0.1, 0.6, 0.95};
  std::vector<int32_t> drawn(3);
  std::vector<double> log_q(3);
  policy.draw(mask, DrawStep{0, live, temps, uniforms}, drawn, log_q);
  for (int r = 0; r < 3; ++r) {
    const auto lp = reference_log_softmax(policy.logits(queries[r], empty), all);
    std::vector<double> w(3);
    for (int v = 0; v < 3; ++v) w[v] = std::exp(lp[v] / temps[r]);
    REQUIRE(drawn[r] == categorical_at(std::span<const double>(w), uniforms[r]));
    REQUIRE(log_q[r] == Approx(lp[drawn[r]]).margin(1e-12));
  }
  policy.advance(std::vector<int32_t>{0, 2, 1});  // row 1 stops
  const std::vector<uint8_t> live2{1, 0, 1};
  policy.draw(mask, DrawStep{1, live2, temps, uniforms}, drawn, log_q);
  REQUIRE(drawn[1] == -1);
  {
    const auto lp = reference_log_softmax(policy.logits(1, p1), all);
    REQUIRE(log_q[2] == Approx(lp[drawn[2]]).margin(1e-12));
  }
  policy.advance(std::vector<int32_t>{1, -1, 1});
  REQUIRE_THROWS_WITH(policy.advance(std::vector<int32_t>{0, -1, 2}),
                      Catch::Contains("row 0 is at max_len 2"));
  REQUIRE_THROWS_WITH(policy.append_context(0, std::vector<int32_t>{5}),
                      Catch::Contains("no context"));
  REQUIRE_NOTHROW(policy.append_context(0, empty));

  // score: log_pf / log_stop are the table rows' log-softmax at the actions and STOP.
  TrajectoryBatch b;
  b.resize(3, 2);
  b.length = {2, 0, 1};
  b.stopped = {false, true, true};
  b.actions(0, 0) = 0, b.actions(0, 1) = 1, b.actions(2, 0) = 0;
  policy.score(queries, mask, b);
  const auto l1 = reference_log_softmax(policy.logits(1, empty), all);
  const auto l1p0 = reference_log_softmax(policy.logits(1, p0), all);
  const auto l0 = reference_log_softmax(policy.logits(0, empty), all);
  REQUIRE(b.log_pf(0, 0) == Approx(l1[0]).margin(1e-6));
  REQUIRE(b.log_pf(0, 1) == Approx(l1p0[1]).margin(1e-6));
  REQUIRE(b.log_stop(0, 1) == Approx(l1p0[2]).margin(1e-6));
  REQUIRE(b.log_stop(1, 0) == Approx(l0[2]).margin(1e-6));
  REQUIRE(b.log_stop(2, 1) == Approx(l1p0[2]).margin(1e-6));

  // backward: d table row = sum over its states of g_pf (e_a - p) + g_stop (e_stop - p).
  TrajectoryGrad g;
  g.resize_like(b);
  g.log_pf(0, 1) = 1.5f;      // state (1, [0]) of row 0, action 1
  g.log_stop(2, 1) = 0.25f;   // state (1, [0]) of row 2, STOP
  g.log_stop(1, 0) = -1.0f;   // state (0, []) of row 1, STOP
  g.log_stop(0, 2) = 100.0f;  // the end of row 0, which did not stop: ignored
  g.log_pf(1, 1) = 100.0f;    // past row 1's length: ignored
  auto params = policy.parameters();
  REQUIRE(params.size() == 1);
  REQUIRE(params[0].size == 2 * 7 * 3);
  zero_grad(params);
  policy.backward(g, 2.0);
  const auto grad = [&](int q, const std::vector<int32_t>& prefix, int v) {
    return double(params[0].grad[policy.row_index(q, prefix) * 3 + v]);
  };
  for (int v = 0; v < 3; ++v) {
    const double p = std::exp(l1p0[v]);
    const double want = 2.0 * (1.5 * ((v == 1) - p) + 0.25 * ((v == 2) - p));
    REQUIRE(grad(1, p0, v) == Approx(want).margin(1e-6));
    REQUIRE(grad(0, empty, v) == Approx(2.0 * -1.0 * ((v == 2) - std::exp(l0[v]))).margin(1e-6));
  }
  double total = 0;
  for (std::size_t i = 0; i < params[0].size; ++i) total += std::abs(params[0].grad[i]);
  double counted = 0;
  for (int v = 0; v < 3; ++v) counted += std::abs(grad(1, p0, v)) + std::abs(grad(0, empty, v));
  REQUIRE(total == Approx(counted));  // nothing else moved

  // Masks: a forbidden token and the min-length STOP ban are -inf and take no gradient.
  const std::vector<int32_t> allowed{0, 2};
  const LogitMask strict(3, 2, /*min_len=*/1, allowed);
  policy.score(queries, strict, b);
  REQUIRE(b.log_pf(0, 1) == -std::numeric_limits<float>::infinity());    // token 1 forbidden
  REQUIRE(b.log_stop(1, 0) == -std::numeric_limits<float>::infinity());  // STOP before min_len
  const auto l1_strict = reference_log_softmax(policy.logits(1, empty), {true, false, false});
  REQUIRE(b.log_pf(0, 0) == Approx(l1_strict[0]).margin(1e-6));  // the only allowed token: 0
  zero_grad(params);
  policy.backward(g, 1.0);
  for (int v = 0; v < 3; ++v) REQUIRE(grad(0, empty, v) == 0.0);  // the banned STOP's gradient
  // Tool context is an error naming the row.
  b.context[2].push_back({1, {7}});
  REQUIRE_THROWS_WITH(policy.score(queries, mask, b), Catch::Contains("row 2"));
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

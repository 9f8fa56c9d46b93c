// Hand-worked losses, non-finite rewards, and the log-partition estimate.
#include "helpers.hpp"

#include <gfnlm/gfn/log_partition.hpp>
#include <gfnlm/gfn/objectives/detailed_balance.hpp>
#include <gfnlm/gfn/objectives/modified_subtb.hpp>
#include <gfnlm/gfn/objectives/subtb.hpp>
#include <gfnlm/gfn/objectives/trajectory_balance.hpp>

#include <catch2/catch.hpp>

using namespace gfnlm;

namespace {

// One row: two actions then STOP. log_pf = (-1, -2), log_stop = (-3, -1, -0.5),
// log R = (-4, -2, -6).
BasicTrajectoryBatch<double> one_row() {
  BasicTrajectoryBatch<double> b;
  b.resize(1, 2);
  b.actions(0, 0) = 0;
  b.actions(0, 1) = 1;
  b.log_pf(0, 0) = -1;
  b.log_pf(0, 1) = -2;
  b.log_stop(0, 0) = -3;
  b.log_stop(0, 1) = -1;
  b.log_stop(0, 2) = -0.5;
  b.log_r(0, 0) = -4;
  b.log_r(0, 1) = -2;
  b.log_r(0, 2) = -6;
  b.length[0] = 2;
  return b;
}

// Flows by the stop identity: log F = log R - log q(STOP): F0 = -1, F1 = -1, F2 = -5.5.
// delta_0 = F0 + log_pf0 - F1 = -1 - 1 + 1 = -1;  delta_1 = F1 + log_pf1 - F2 = -1 - 2 + 5.5 = 2.5.
constexpr double d0 = -1.0, d1 = 2.5;

}  // namespace

TEST_CASE("ModifiedSubTB on a one-row batch, by hand", "[gfn_objectives]") {
  auto b = one_row();
  BasicTrajectoryGrad<double> g;
  // lambda = 1: terms (0,1), (1,2), (0,2).
  ModifiedSubTB plain;
  REQUIRE(plain(b, g) == Approx((d0 * d0 + d1 * d1 + (d0 + d1) * (d0 + d1)) / 3));
  // d/d log_pf0: only the sums containing delta_0: 2 d0 + 2 (d0 + d1), over 3.
  REQUIRE(g.log_pf(0, 0) == Approx((2 * d0 + 2 * (d0 + d1)) / 3));
  // log_stop_2 enters delta_1 with +1: 2 d1 + 2 (d0 + d1), over 3.
  REQUIRE(g.log_stop(0, 2) == Approx((2 * d1 + 2 * (d0 + d1)) / 3));
  // lambda = 0.5: weights 1, 1, 0.5.
  ModifiedSubTB half({.lambda = 0.5});
  REQUIRE(half(b, g) == Approx((d0 * d0 + d1 * d1 + 0.5 * (d0 + d1) * (d0 + d1)) / 2.5));
  // With the STOP transition (delta 0): (2,3) adds 0, (1,3) repeats d1, (0,3) repeats d0 + d1.
  ModifiedSubTB with_stop({.include_stop_transition = true});
  REQUIRE(with_stop(b, g) == Approx((d0 * d0 + 2 * d1 * d1 + 2 * (d0 + d1) * (d0 + d1)) / 6));
}

TEST_CASE("TB, SubTB, DB and ModifiedDB on a one-row batch, by hand", "[gfn_objectives]") {
  auto b = one_row();
  BasicTrajectoryGrad<double> g;
  TrajectoryBalance tb;
  tb.set_log_z(0, 2.0f);
  // 2 + (-1 - 2) + (-0.5) - (-6) = 4.5
  REQUIRE(tb(b, g) == Approx(4.5 * 4.5));
  REQUIRE(g.log_pf(0, 1) == Approx(9.0));
  REQUIRE(g.log_stop(0, 2) == Approx(9.0));
  REQUIRE(g.log_stop(0, 0) == 0.0);
  // ModifiedDB: mean of delta^2 over the row's transitions, the STOP one (delta 0) included.
  ModifiedDB mdb;
  REQUIRE(mdb(b, g) == Approx((d0 * d0 + d1 * d1) / 3));
  REQUIRE(g.log_pf(0, 0) == Approx(2 * d0 / 3));
  // DB, stop identity: two deltas plus the STOP term, identically 0; mean over 3 terms.
  DetailedBalance db;
  REQUIRE(db(b, g) == Approx((d0 * d0 + d1 * d1) / 3));
  // SubTB, stop identity: pairs among s0, s1, s2, terminal (6 pairs, lambda = 1).
  SubTB subtb;
  REQUIRE(subtb(b, g) == Approx((d0 * d0 + 2 * d1 * d1 + 2 * (d0 + d1) * (d0 + d1)) / 6));
  // SubTB, learned flow: F = (1, 0, -2), terminal F = log R_2 = -6, transition log q =
  // (-1, -2, -0.5). Residuals: (0,1) 1-1-0=0; (1,2) 0-2+2=0; (2,T) -2-0.5+6=3.5;
  // (0,2) 1-3+2=0; (1,T) 0-2.5+6=3.5; (0,T) 1-3.5+6=3.5.
  b.log_flow = Tensor<double, 2>({1, 3});
  b.log_flow(0, 0) = 1;
  b.log_flow(0, 1) = 0;
  b.log_flow(0, 2) = -2;
  SubTB learned({.lambda = 1.0, .flow = FlowSource::learned});
  REQUIRE(learned(b, g) == Approx(3 * 3.5 * 3.5 / 6));
  REQUIRE(g.log_flow(0, 0) == Approx(2 * 3.5 / 6));
  REQUIRE(g.log_flow(0, 2) == Approx(2 * 3.5 / 6));
  REQUIRE(g.log_stop(0, 0) == 0.0);  // learned flows: intermediate STOP probabilities unused
}

TEST_CASE("a max-length row counts as stopped with log q(STOP) = 0", "[gfn_objectives]") {
  auto b = one_row();
  b.stopped[0] = false;
  b.log_stop(0, 2) = std::numeric_limits<double>::quiet_NaN();  // must not be read
  BasicTrajectoryGrad<double> g;
  ModifiedSubTB obj;
  const double e0 = d0, e1 = d1 + 0.5;  // log F(s_2) = log R_2 - 0 = -6
  REQUIRE(obj(b, g) == Approx((e0 * e0 + e1 * e1 + (e0 + e1) * (e0 + e1)) / 3));
  REQUIRE(g.log_stop(0, 2) == 0.0);
  REQUIRE(ModifiedDB{}(b, g) == Approx((e0 * e0 + e1 * e1) / 2));  // no STOP transition
  // No STOP transition to include for a row that never stopped.
  ModifiedSubTB with_stop({.include_stop_transition = true});
  REQUIRE(with_stop(b, g) == Approx((e0 * e0 + e1 * e1 + (e0 + e1) * (e0 + e1)) / 3));
  TrajectoryBalance tb;
  REQUIRE(tb(b, g) == Approx(3.0 * 3.0));  // log Z 0, log_pf -3, no STOP factor, +6
}

TEST_CASE("zero rewards (-inf) are clamped, masked STOPs are not end points, NaN is an error",
          "[gfn_objectives]") {
  Rng rng(11);
  auto b = test::random_batch(rng, 6, 5, true, 2);
  b.log_r(0, 0) = -INFINITY;  // row 0 has max length
  b.log_r(0, 3) = -INFINITY;
  b.log_stop(0, 1) = -INFINITY;  // STOP masked (min length)
  b.log_r(0, 1) = -INFINITY;
  auto clamped = b;
  clamped.log_r(0, 0) = clamped.log_r(0, 3) = kDefaultLogRewardFloor;
  clamped.log_r(0, 1) = -INFINITY;
  auto check = [&](auto&& obj) {
    BasicTrajectoryGrad<double> g, gc;
    const double loss = obj(b, g);
    REQUIRE(std::isfinite(loss));
    for (double v : g.log_pf) REQUIRE(std::isfinite(v));
    for (double v : g.log_stop) REQUIRE(std::isfinite(v));
    for (double v : g.log_flow) REQUIRE(std::isfinite(v));
    REQUIRE(obj(clamped, gc) == Approx(loss));
    REQUIRE(g.log_stop(0, 1) == 0.0);  // no gradient into a masked STOP
    // The gradient is still right around the clamped and masked entries.
    const auto rep = test::check_gradients(obj, b);
    INFO(rep.worst);
    REQUIRE(rep.max_rel < 1e-6);
  };
  check(ModifiedSubTB{});
  check(ModifiedSubTB({.lambda = 0.8, .include_stop_transition = true}));
  check(SubTB{});
  check(SubTB({.flow = FlowSource::learned}));
  check(DetailedBalance{});
  check(ModifiedDB{});
  TrajectoryBalance tb({.num_queries = 2});
  check(tb);

  b.log_r(2, 0) = NAN;
  BasicTrajectoryGrad<double> g;
  REQUIRE_THROWS_WITH(ModifiedSubTB{}(b, g), Catch::Contains("log_r[2][0]"));
  REQUIRE_THROWS_AS(SubTB{}(b, g), Error);
}

// Only -inf is clamped. Clamping every log R under the floor flattened likelihood rewards of
// -100 to -400 nats into one value, and sentence continuation trained q towards garbage.
TEST_CASE("a finite log R below the floor is read as it is, not clamped", "[gfn_objectives]") {
  auto b = one_row();
  b.log_r(0, 1) = -150;  // below kDefaultLogRewardFloor = -100
  b.log_r(0, 2) = -300;
  auto clamped = b;
  clamped.log_r(0, 1) = clamped.log_r(0, 2) = kDefaultLogRewardFloor;
  // Flows by the stop identity: F0 = -1, F1 = -149, F2 = -299.5.
  const double e0 = -1 - 1 + 149, e1 = -149 - 2 + 299.5;
  BasicTrajectoryGrad<double> g;
  REQUIRE(DetailedBalance{}(b, g) == Approx((e0 * e0 + e1 * e1) / 3));  // and the STOP term, 0
  const auto differs = [&](auto&& obj) {
    BasicTrajectoryGrad<double> g1, g2;
    REQUIRE(obj(b, g1) != Approx(obj(clamped, g2)));
  };
  differs(ModifiedSubTB{});
  differs(SubTB{});
  differs(ModifiedDB{});
  differs(TrajectoryBalance{});
}

TEST_CASE("bad batches are rejected with the entry named", "[gfn_objectives]") {
  auto b = one_row();
  BasicTrajectoryGrad<double> g;
  b.log_stop(0, 2) = -INFINITY;  // stopped where STOP was impossible
  REQUIRE_THROWS_WITH(ModifiedSubTB{}(b, g), Catch::Contains("row 0 stopped at position 2"));
  b = one_row();
  b.log_pf(0, 1) = NAN;
  REQUIRE_THROWS_WITH(TrajectoryBalance{}(b, g), Catch::Contains("log_pf[0][1]"));
  b = one_row();
  b.length[0] = 3;
  REQUIRE_THROWS_WITH(ModifiedSubTB{}(b, g), Catch::Contains("row 0 has length 3"));
  b = one_row();
  b.query[0] = 4;
  REQUIRE_THROWS_WITH(TrajectoryBalance{}(b, g), Catch::Contains("query 4"));
  REQUIRE_THROWS_WITH(SubTB({.flow = FlowSource::learned})(one_row(), g),
                      Catch::Contains("log_flow shape"));
}

TEST_CASE("an empty batch or all-empty rows give zero loss", "[gfn_objectives]") {
  BasicTrajectoryBatch<double> b;
  b.resize(3, 4);
  BasicTrajectoryGrad<double> g;
  REQUIRE(ModifiedSubTB{}(b, g) == 0.0);
  REQUIRE(ModifiedDB{}(b, g) == 0.0);
  b.resize(0, 4);
  REQUIRE(TrajectoryBalance{}(b, g) == 0.0);
  REQUIRE(SubTB{}(b, g) == 0.0);
}

TEST_CASE("log-partition estimates per query", "[gfn_objectives]") {
  BasicTrajectoryBatch<double> b;
  b.resize(4, 2);
  // x = log R - log q(z STOP): query 0 gets 1 and 3, query 2 gets 5; row 3 has zero reward.
  const int len[] = {2, 1, 0, 2};
  const double x[] = {1, 3, 5, 0};
  for (int r = 0; r < 4; ++r) {
    b.length[r] = len[r];
    b.query[r] = r < 2 ? 0 : 2;
    for (int t = 0; t < len[r]; ++t) b.log_pf(r, t) = -0.5;
    b.log_stop(r, len[r]) = -1;
    b.log_r(r, len[r]) = x[r] + (-0.5 * len[r] - 1);
  }
  b.stopped[0] = false;  // max length: no STOP factor
  b.log_r(0, 2) += 1;
  b.log_r(3, 2) = -INFINITY;
  const auto est = estimate_log_partition(b);
  REQUIRE(est.size() == 3);
  REQUIRE(est[0].count == 2);
  REQUIRE(est[0].mean == Approx(2.0));
  REQUIRE(est[0].std == Approx(std::sqrt(2.0)));
  REQUIRE(est[0].log_mean_exp == Approx(std::log((std::exp(1.0) + std::exp(3.0)) / 2)));
  REQUIRE(est[1].count == 0);
  REQUIRE(std::isnan(est[1].mean));
  REQUIRE(est[2].count == 1);
  REQUIRE(est[2].zero_reward == 1);
  REQUIRE(est[2].mean == Approx(5.0));
  REQUIRE(est[2].std == 0.0);
}

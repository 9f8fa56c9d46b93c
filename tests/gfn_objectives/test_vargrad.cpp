// VarGradTB (gfn/objectives/vargrad.hpp): the loss by hand, and its analytic gradient against
// central differences on random ragged batches with several queries, like the other objectives.
#include "helpers.hpp"

#include <gfnlm/gfn/objectives/vargrad.hpp>

#include <catch2/catch.hpp>

#include <cstdio>

using namespace gfnlm;

static_assert(Objective<VarGradTB>);

TEST_CASE("VarGradTB: loss is the per-query variance of log q - log R; gradient by hand") {
  BasicTrajectoryBatch<double> batch;
  batch.resize(3, 2);
  // Rows 0, 1 answer query 5; row 2 is alone in query 9 (zero loss).
  batch.query = {5, 5, 9};
  batch.length = {2, 1, 1};
  batch.log_pf(0, 0) = -1.0, batch.log_pf(0, 1) = -0.5, batch.log_stop(0, 2) = -0.2;
  batch.log_pf(1, 0) = -2.0, batch.log_stop(1, 1) = -0.1;
  batch.log_pf(2, 0) = -3.0, batch.log_stop(2, 1) = -0.3;
  batch.log_r(0, 2) = -4.0, batch.log_r(1, 1) = -1.0, batch.log_r(2, 1) = -7.0;
  // d0 = -1.7 + 4 = 2.3, d1 = -2.1 + 1 = -1.1, mean 0.6: residuals 1.7, -1.7.
  BasicTrajectoryGrad<double> grad;
  VarGradTB objective;
  const double loss = objective(batch, grad);
  CHECK(loss == Approx((1.7 * 1.7 * 2) / 3));
  CHECK(grad.log_pf(0, 0) == Approx(2 * 1.7 / 3));
  CHECK(grad.log_pf(0, 1) == Approx(2 * 1.7 / 3));
  CHECK(grad.log_stop(0, 2) == Approx(2 * 1.7 / 3));
  CHECK(grad.log_stop(1, 1) == Approx(-2 * 1.7 / 3));
  CHECK(grad.log_pf(2, 0) == Approx(0.0).margin(1e-12));
  // Finite differences on one entry.
  const double h = 1e-6;
  auto shifted = batch;
  shifted.log_pf(1, 0) += h;
  BasicTrajectoryGrad<double> g2;
  CHECK((objective(shifted, g2) - loss) / h == Approx(grad.log_pf(1, 0)).epsilon(1e-4));
  CHECK(objective.parameters().empty());
}

TEST_CASE("VarGradTB gradient matches finite differences", "[gfn_objectives]") {
  double worst = 0;
  for (int seed = 1; seed <= 6; ++seed) {
    Rng rng(2000 + seed);
    // 9 rows over 3 queries: groups of several rows, possibly a singleton.
    const auto batch = test::random_batch(rng, 9, 6, false, 3);
    VarGradTB objective;
    BasicTrajectoryGrad<double> grad;
    const double loss = objective(batch, grad);
    REQUIRE(std::isfinite(loss));
    REQUIRE(loss > 0);
    // Nothing past a row's end, and no STOP gradient for rows cut at max length.
    for (int r = 0; r < batch.rows(); ++r) {
      const int e = batch.length[r];
      for (int t = e; t < batch.max_len(); ++t) REQUIRE(grad.log_pf(r, t) == 0.0);
      if (!batch.stopped[r]) REQUIRE(grad.log_stop(r, e) == 0.0);
    }
    const auto rep = test::check_gradients(objective, batch);
    INFO("seed " << seed << " worst " << rep.worst);
    REQUIRE(rep.max_rel < 1e-6);
    worst = std::max(worst, rep.max_rel);
  }
  std::printf("FD %-40s max rel err %.2e\n", "VarGradTB", worst);
}

// ModifiedSubTB with a min-length mask at the root (docs/uniform_integers.md, "Findings"): without
// a learned root flow the first transition gets no gradient at all; with learn_root_flow the root
// takes log Z as its flow, and the loss and its gradients (log q and log Z) are checked against a
// direct computation and central differences.
#include <gfnlm/core/rng.hpp>
#include <gfnlm/gfn/objectives/modified_subtb.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

using gfnlm::BasicTrajectoryBatch;
using gfnlm::BasicTrajectoryGrad;
using gfnlm::ModifiedSubTB;
using gfnlm::ModifiedSubTBConfig;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Rows of lengths 1..4 with STOP masked at the root (min length 1), two queries.
BasicTrajectoryBatch<double> masked_root_batch(gfnlm::Rng& rng, bool mask_root = true) {
  BasicTrajectoryBatch<double> b;
  const int rows = 4, max_len = 4;
  b.resize(rows, max_len);
  for (int r = 0; r < rows; ++r) {
    const int e = r + 1;
    b.length[r] = e;
    b.stopped[r] = true;
    b.query[r] = r % 2;
    for (int t = 0; t < e; ++t) {
      b.actions(r, t) = 0;
      b.log_pf(r, t) = rng.uniform(-3.0, -0.1);
    }
    for (int t = 0; t <= e; ++t) {
      b.log_stop(r, t) = t == 0 && mask_root ? -kInf : rng.uniform(-4.0, -0.1);
      b.log_r(r, t) = t == 0 ? -99.0 : rng.uniform(-10.0, 8.0);
    }
  }
  return b;
}

}  // namespace

TEST_CASE("ModifiedSubTB: a masked root leaves the first transition without gradient",
          "[tasks_uniform]") {
  gfnlm::Rng rng(3);
  const auto batch = masked_root_batch(rng);
  BasicTrajectoryGrad<double> grad;
  ModifiedSubTB plain;
  REQUIRE(plain(batch, grad) > 0);
  REQUIRE(plain.parameters().empty());
  for (int r = 0; r < batch.rows(); ++r) {
    CHECK(grad.log_pf(r, 0) == Approx(0.0).margin(1e-12));
    if (batch.length[r] > 1) CHECK(std::abs(grad.log_pf(r, 1)) > 1e-6);
  }
}

TEST_CASE("ModifiedSubTB learn_root_flow: loss, log q and log Z gradients", "[tasks_uniform]") {
  gfnlm::Rng rng(5);
  const auto batch = masked_root_batch(rng);
  ModifiedSubTB obj(
      ModifiedSubTBConfig{.learn_root_flow = true, .num_queries = 2, .log_z_init = 7.0});
  auto params = obj.parameters();
  REQUIRE(params.size() == 1);
  REQUIRE(params[0].size == 2);
  params[0].value[1] = 9.5f;  // a different log Z per query

  // The loss directly: C_0 = log Z_q, C_t = log R_t - log q(STOP|s_t) - sum_{k<t} log q_k; every
  // pair i < j (lambda = 1), one normaliser.
  double sum = 0, count = 0;
  for (int r = 0; r < batch.rows(); ++r) {
    const int e = batch.length[r];
    std::vector<double> c(std::size_t(e + 1));
    double prefix = 0;
    for (int t = 0; t <= e; ++t) {
      c[t] = t == 0 ? double(params[0].value[batch.query[r]])
                    : batch.log_r(r, t) - batch.log_stop(r, t) - prefix;
      if (t < e) prefix += batch.log_pf(r, t);
    }
    for (int i = 0; i <= e; ++i)
      for (int j = i + 1; j <= e; ++j) sum += (c[i] - c[j]) * (c[i] - c[j]), count += 1;
  }
  BasicTrajectoryGrad<double> grad;
  params[0].grad[0] = params[0].grad[1] = 0;
  const double loss = obj(batch, grad);
  REQUIRE(loss == Approx(sum / count).epsilon(1e-10));

  // Central differences (the loss is quadratic: exact up to rounding).
  const double h = 1e-3;
  auto loss_at = [&](const BasicTrajectoryBatch<double>& b) {
    BasicTrajectoryGrad<double> g;
    const float keep0 = params[0].grad[0], keep1 = params[0].grad[1];
    const double l = obj(b, g);
    params[0].grad[0] = keep0, params[0].grad[1] = keep1;
    return l;
  };
  for (int r = 0; r < batch.rows(); ++r) {
    REQUIRE(std::abs(grad.log_pf(r, 0)) > 1e-6);  // the first transition is trained now
    REQUIRE(grad.log_stop(r, 0) == 0.0);          // masked STOP: no gradient
    for (int t = 0; t < batch.length[r]; ++t) {
      auto up = batch, down = batch;
      up.log_pf(r, t) += h;
      down.log_pf(r, t) -= h;
      CHECK(grad.log_pf(r, t) == Approx((loss_at(up) - loss_at(down)) / (2 * h)).epsilon(1e-5));
    }
    for (int t = 1; t <= batch.length[r]; ++t) {
      auto up = batch, down = batch;
      up.log_stop(r, t) += h;
      down.log_stop(r, t) -= h;
      CHECK(grad.log_stop(r, t) == Approx((loss_at(up) - loss_at(down)) / (2 * h)).epsilon(1e-5));
    }
  }
  // log Z is float: a larger step, a looser tolerance.
  for (int q = 0; q < 2; ++q) {
    const float keep = params[0].value[q];
    const double hz = 1.0 / 64;  // exact in float
    params[0].value[q] = keep + float(hz);
    const double up = loss_at(batch);
    params[0].value[q] = keep - float(hz);
    const double down = loss_at(batch);
    params[0].value[q] = keep;
    CHECK(params[0].grad[q] == Approx((up - down) / (2 * hz)).epsilon(1e-4));
  }
}

TEST_CASE("ModifiedSubTB learn_root_flow: a root where STOP is allowed keeps the identity",
          "[tasks_uniform]") {
  gfnlm::Rng rng(9);
  const auto batch = masked_root_batch(rng, /*mask_root=*/false);
  ModifiedSubTB plain;
  ModifiedSubTB learned(ModifiedSubTBConfig{.learn_root_flow = true, .num_queries = 2});
  BasicTrajectoryGrad<double> g1, g2;
  REQUIRE(learned(batch, g2) == Approx(plain(batch, g1)).epsilon(1e-12));
  for (int r = 0; r < batch.rows(); ++r)
    for (int t = 0; t < batch.length[r]; ++t)
      CHECK(g2.log_pf(r, t) == Approx(g1.log_pf(r, t)).margin(1e-12));
  auto params = learned.parameters();
  CHECK(params[0].grad[0] == 0.0f);
  CHECK(params[0].grad[1] == 0.0f);
}

// Acceptance 1 of issue 3: every objective's analytic gradient against central differences
// (double), on random ragged batches with stopped and max-length rows, lambda != 1 too.
#include "helpers.hpp"

#include <gfnlm/gfn/objectives/detailed_balance.hpp>
#include <gfnlm/gfn/objectives/modified_subtb.hpp>
#include <gfnlm/gfn/objectives/subtb.hpp>
#include <gfnlm/gfn/objectives/trajectory_balance.hpp>

#include <catch2/catch.hpp>

#include <cstdio>

using namespace gfnlm;
using gfnlm::test::check_gradients;
using gfnlm::test::random_batch;

static_assert(Objective<ModifiedSubTB>);
static_assert(Objective<TrajectoryBalance>);
static_assert(Objective<SubTB>);
static_assert(Objective<DetailedBalance>);
static_assert(Objective<ModifiedDB>);

namespace {

constexpr double kTol = 1e-6;

// Gradients outside what a row reads are exactly zero.
void require_zero_outside(const BasicTrajectoryBatch<double>& b,
                          const BasicTrajectoryGrad<double>& g) {
  for (int r = 0; r < b.rows(); ++r) {
    const int e = b.length[r];
    for (int t = e; t < b.max_len(); ++t) REQUIRE(g.log_pf(r, t) == 0.0);
    for (int t = e + 1; t <= b.max_len(); ++t) REQUIRE(g.log_stop(r, t) == 0.0);
    if (!b.stopped[r]) REQUIRE(g.log_stop(r, e) == 0.0);
    if (g.log_flow.size() > 0)
      for (int t = e + 1; t <= b.max_len(); ++t) REQUIRE(g.log_flow(r, t) == 0.0);
  }
}

template <class Obj>
void check(const char* name, Obj& objective, bool with_flow, int seeds = 4) {
  double worst = 0;
  int checked = 0;
  for (int seed = 1; seed <= seeds; ++seed) {
    Rng rng(1000 + seed);
    auto batch = random_batch(rng, 7, 6, with_flow, 3);
    BasicTrajectoryGrad<double> grad;
    const double loss = objective(batch, grad);
    REQUIRE(std::isfinite(loss));
    REQUIRE(loss > 0);
    require_zero_outside(batch, grad);
    const auto rep = check_gradients(objective, batch);
    INFO(name << " seed " << seed << " worst " << rep.worst);
    REQUIRE(rep.max_rel < kTol);
    worst = std::max(worst, rep.max_rel);
    checked += rep.checked;
  }
  std::printf("FD %-40s entries %4d  max rel err %.2e\n", name, checked, worst);
}

}  // namespace

TEST_CASE("ModifiedSubTB gradient matches finite differences", "[gfn_objectives]") {
  for (double lambda : {1.0, 0.7, 1.3})
    for (bool stop : {false, true}) {
      ModifiedSubTB obj({.lambda = lambda, .include_stop_transition = stop});
      const std::string name =
          "ModifiedSubTB lambda=" + std::to_string(lambda) + (stop ? " +stop" : "");
      check(name.c_str(), obj, false);
    }
}

TEST_CASE("SubTB gradient matches finite differences", "[gfn_objectives]") {
  for (double lambda : {1.0, 0.6})
    for (auto flow : {FlowSource::stop_identity, FlowSource::learned}) {
      SubTB obj({.lambda = lambda, .flow = flow});
      const std::string name = "SubTB lambda=" + std::to_string(lambda) +
                               (flow == FlowSource::learned ? " learned flow" : " stop identity");
      check(name.c_str(), obj, flow == FlowSource::learned);
    }
}

TEST_CASE("DB and ModifiedDB gradients match finite differences", "[gfn_objectives]") {
  DetailedBalance db_id;
  check("DetailedBalance stop identity", db_id, false);
  DetailedBalance db_flow({.flow = FlowSource::learned});
  check("DetailedBalance learned flow", db_flow, true);
  ModifiedDB mdb;
  check("ModifiedDB", mdb, false);
}

TEST_CASE("TrajectoryBalance gradient, log Z included, matches finite differences",
          "[gfn_objectives]") {
  TrajectoryBalance tb({.num_queries = 3});
  for (int q = 0; q < 3; ++q) tb.set_log_z(q, 1.25f + q);  // exactly representable
  check("TrajectoryBalance (log_pf, log_stop)", tb, false);
  // log Z: the loss is quadratic in it, so a coarse exact step (0.25) gives exact differences.
  Rng rng(77);
  const auto batch = random_batch(rng, 9, 5, false, 3);
  BasicTrajectoryGrad<double> grad;
  auto params = tb.parameters();
  REQUIRE(params.size() == 1);
  REQUIRE(params[0].size == 3);
  REQUIRE_FALSE(params[0].weight_decay);
  zero_grad(params);
  tb(batch, grad);
  std::vector<double> analytic(params[0].grad, params[0].grad + 3);
  double worst = 0;
  for (int q = 0; q < 3; ++q) {
    const float z0 = tb.log_z(q);
    tb.set_log_z(q, z0 + 0.25f);
    const double lp = tb(batch, grad);
    tb.set_log_z(q, z0 - 0.25f);
    const double lm = tb(batch, grad);
    tb.set_log_z(q, z0);
    const double fd = (lp - lm) / 0.5;
    const double rel = std::abs(fd - analytic[q]) / std::max(std::abs(fd), 1e-3);
    INFO("query " << q << " fd " << fd << " analytic " << analytic[q]);
    REQUIRE(rel < 1e-5);  // the analytic value went through a float gradient buffer
    worst = std::max(worst, rel);
  }
  std::printf("FD %-40s entries %4d  max rel err %.2e\n", "TrajectoryBalance log Z", 3, worst);
  // Parameter gradients accumulate across calls (gradient accumulation), batch grads do not.
  zero_grad(params);
  tb(batch, grad);
  tb(batch, grad);
  for (int q = 0; q < 3; ++q) REQUIRE(params[0].grad[q] == Approx(2 * analytic[q]).epsilon(1e-5));
}

TEST_CASE("float batches give the double loss and gradients to float precision",
          "[gfn_objectives]") {
  Rng rng(5);
  const auto bd = random_batch(rng, 6, 5, true, 1);
  BasicTrajectoryBatch<float> bf;
  bf.resize(bd.rows(), bd.max_len());
  bf.actions = bd.actions;
  bf.log_pf = xt::cast<float>(bd.log_pf);
  bf.log_stop = xt::cast<float>(bd.log_stop);
  bf.log_r = xt::cast<float>(bd.log_r);
  bf.log_flow = xt::cast<float>(bd.log_flow);
  bf.length = bd.length;
  bf.stopped = bd.stopped;
  bf.query = bd.query;
  SubTB obj({.lambda = 0.9, .flow = FlowSource::learned});
  BasicTrajectoryGrad<double> gd;
  BasicTrajectoryGrad<float> gf;
  const double ld = obj(bd, gd), lf = obj(bf, gf);
  REQUIRE(lf == Approx(ld).epsilon(1e-5));
  for (int r = 0; r < bd.rows(); ++r)
    for (int t = 0; t < bd.length[r]; ++t)
      REQUIRE(gf.log_pf(r, t) == Approx(gd.log_pf(r, t)).epsilon(1e-4).margin(1e-6));
}

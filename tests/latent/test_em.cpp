// Latent-variable EM where every answer is known (issue 23, acceptance 1): TabularPolicy prior
// p(Z | X), classifier p(Y | X, Z) and E-step q(Z | X, Y), all enumerable.
// - The E-step reward equals the posterior's unnormalised log-probability computed here from the
//   tables directly, and the Sampler's q reaches that posterior: KL < 0.01 by enumeration.
// - EM with a GFlowNet E-step recovers a planted classifier from (X, Y) pairs alone.
// - E-step-only prediction (marginal_predict) estimates the model's p(Y | X) by importance
//   sampling: unbiased under any q, exact once q is the E-step's target.
#include <gfnlm/eval/distribution.hpp>
#include <gfnlm/gfn/objectives/trajectory_balance.hpp>
#include <gfnlm/gfn/sampler.hpp>
#include <gfnlm/latent/em.hpp>
#include <gfnlm/latent/label_scorer.hpp>
#include <gfnlm/latent/latent_reward.hpp>
#include <gfnlm/latent/marginal_predict.hpp>
#include <gfnlm/policies/tabular.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <cstdio>
#include <functional>
#include <vector>

using namespace gfnlm;

namespace {

using Scorer = LabelScorer<TabularPolicy>;
using EReward = LatentLabelReward<TabularPolicy, TabularPolicy, int>;
using Binding = LatentBinding<int, int, int>;

double log_softmax_at(std::span<const float> row, int a) {
  const std::vector<double> x(row.begin(), row.end());
  return x[a] - logsumexp<double>(x);
}

// log p(z | x) of the prior, with no STOP factor (as LatentLabelReward reads it).
double prior_log_prob(TabularPolicy& prior, int x, const std::vector<int32_t>& z) {
  double log_p = 0;
  for (std::size_t t = 0; t < z.size(); ++t)
    log_p += log_softmax_at(prior.logits(x, std::span(z).first(t)), z[t]);
  return log_p;
}

// The classifier's log-likelihoods of labels 0 and 1 (tokens 1 and 2) after (x, z).
std::array<double, 2> label_log_probs(TabularPolicy& classifier, const TabularPolicy& prior, int x,
                                      const std::vector<int32_t>& z) {
  const int nz = static_cast<int>(prior.num_prefixes());
  const auto row = classifier.logits(x * nz + int(prior.row_index(0, z)), {});
  return {log_softmax_at(row, 1), log_softmax_at(row, 2)};
}

// E-step queries are x * 2 + y; the classifier's query of (x, z) is x * |Z| + z's table index.
Binding binding(const TabularPolicy& prior, bool classifier_sees_x) {
  const int nz = static_cast<int>(prior.num_prefixes());
  return {[](const int& q) { return q / 2; },
          [&prior, nz, classifier_sees_x](const int& q, std::span<const int32_t> z) {
            const int zi = static_cast<int>(prior.row_index(0, z));
            return classifier_sees_x ? (q / 2) * nz + zi : zi;
          },
          [](const int& q) { return q % 2; }};
}

SamplerConfig tabular_config(int max_len, int min_len, uint64_t seed) {
  SamplerConfig c;
  c.trajectories_per_query = 16;
  c.max_len = max_len;
  c.min_len = min_len;
  c.optimizer.lr = 0.05;
  c.grad_clip = 0;  // tabular logits: clipping only slows the fit
  c.seed = seed;
  c.quiet = true;
  return c;
}

}  // namespace

TEST_CASE("E-step: the reward is the posterior's log-probability and q reaches it (KL < 0.01)",
          "[latent]") {
  for (const LabelTerm term : {LabelTerm::joint, LabelTerm::posterior}) {
    const bool joint = term == LabelTerm::joint;
    INFO((joint ? "joint" : "posterior"));
    Rng rng(joint ? 3 : 4);
    const int nx = 3, V = 4, max_len = 2;  // Z: every sequence of <= 2 of 3 tokens (13)
    TabularPolicy prior(nx, V, 0, max_len);
    prior.randomize(rng, 1.0);
    const int nz = static_cast<int>(prior.num_prefixes());
    TabularPolicy classifier(nx * nz, 3, 0, 1);  // labels: tokens 1 and 2
    classifier.randomize(rng, 1.5);
    Scorer scorer(classifier, {{1}, {2}});
    const double penalty = 1.5;  // finite, so the penalised Z stay in the enumerable target
    EReward reward(prior, scorer, binding(prior, true), {term, penalty});

    TabularPolicy q(nx * 2, V, 0, max_len);
    const auto seqs = q.enumerate_sequences();
    std::vector<std::vector<double>> target(nx * 2);
    for (int query = 0; query < nx * 2; ++query) {
      const int x = query / 2, y = query % 2;
      for (const auto& z : seqs) {
        const double log_p = prior_log_prob(prior, x, z);
        const auto [s0, s1] = label_log_probs(classifier, prior, x, z);
        const double sy = y == 0 ? s0 : s1, so = y == 0 ? s1 : s0;
        const double label = joint ? sy : sy - std::log(std::exp(s0) + std::exp(s1));
        const double log_r = log_p + label - (so > sy ? penalty : 0.0);
        CHECK(reward(query, z) == Approx(log_r).margin(1e-5));
        target[query].push_back(std::exp(log_r));
      }
    }

    Sampler sampler(q, std::move(reward), tabular_config(max_len, 0, 5));
    const std::vector<int> queries{0, 1, 2, 3, 4, 5};
    for (int step = 0; step < 1500; ++step)
      REQUIRE(std::isfinite(sampler.train_step(queries).loss));
    double worst = 0;
    for (int query = 0; query < nx * 2; ++query) {
      std::vector<double> qz;
      for (const auto& z : seqs) qz.push_back(std::exp(q.log_prob_terminal(query, z)));
      const double d =
          detail::kl(std::span<const double>(target[query]), std::span<const double>(qz));
      worst = std::max(worst, d);
    }
    std::printf("E-step (%s label term): worst KL(posterior || q) over 6 queries %.5f\n",
                joint ? "joint" : "posterior", worst);
    CHECK(worst < 0.01);
  }
}

TEST_CASE("LabelScorer: K-way cross-entropy and its gradient step", "[latent]") {
  TabularPolicy classifier(2, 4, 0, 1);
  Rng rng(9);
  classifier.randomize(rng, 1.0);
  Scorer scorer(classifier, {{1}, {3}, {2}}, {.lr = 0.1});
  const std::vector<int> queries{0, 1};
  const auto lp = scorer.log_posteriors(queries);
  for (int i = 0; i < 2; ++i) {
    const auto row = classifier.logits(i, {});
    const std::vector<double> three{row[1], row[3], row[2]};
    for (int k = 0; k < 3; ++k) CHECK(lp[i][k] == Approx(three[k] - logsumexp<double>(three)));
  }
  const std::vector<int> labels{2, 0};
  const double before = scorer.train_step(queries, labels);
  CHECK(before == Approx(-(lp[0][2] + lp[1][0]) / 2));
  double after = before;
  for (int i = 0; i < 200; ++i) after = scorer.train_step(queries, labels);
  CHECK(after < 0.05);  // the table can fit two rows exactly
  CHECK_THROWS_WITH(scorer.train_step(queries, std::vector<int>{3, 0}),
                    Catch::Contains("row 0 has label 3"));
  CHECK_THROWS_WITH(Scorer(classifier, {{1}}), Catch::Contains("1 labels"));
  CHECK_THROWS_WITH(Scorer(classifier, {{1}, {0}}), Catch::Contains("stop token"));
  CHECK_THROWS_WITH(Scorer(classifier, {{1}, {1}}), Catch::Contains("same tokens"));
}

TEST_CASE("EM with a GFlowNet E-step recovers a planted classifier p(Y | Z)", "[latent]") {
  // X in 0..3, Z one of three tokens (min_len = max_len = 1), Y in {0, 1}; the classifier reads
  // Z alone, so p(Y = 1 | X) = sum_z p(z | X) theta_z identifies theta from four X.
  const int nx = 4;
  TabularPolicy prior(nx, 4, 0, 1);
  const double p[nx][3] = {{.7, .2, .1}, {.1, .7, .2}, {.2, .1, .7}, {.4, .4, .2}};
  for (int x = 0; x < nx; ++x) {
    auto row = prior.logits(x, {});
    row[0] = -30.0f;  // STOP: masked by min_len anyway
    for (int z = 0; z < 3; ++z) row[z + 1] = static_cast<float>(std::log(p[x][z]));
  }
  const double theta[3] = {0.9, 0.2, 0.6};  // planted p(Y = 1 | z)
  // 200 examples per X, labels in the exact proportions p(Y = 1 | X).
  std::vector<int> labelled;
  for (int x = 0; x < nx; ++x) {
    double p1 = 0;
    for (int z = 0; z < 3; ++z) p1 += p[x][z] * theta[z];
    const int ones = static_cast<int>(std::lround(200 * p1));
    for (int i = 0; i < 200; ++i) labelled.push_back(x * 2 + (i < ones ? 1 : 0));
  }
  TabularPolicy classifier(static_cast<int>(prior.num_prefixes()), 3, 0, 1);
  for (int z = 0; z < int(prior.num_prefixes()); ++z) classifier.logits(z, {})[0] = -30.0f;
  Scorer scorer(classifier, {{1}, {2}}, {.lr = 0.05, .max_grad_norm = 0});
  EReward reward(prior, scorer, binding(prior, false), {LabelTerm::posterior, 0.0});
  TabularPolicy q(nx * 2, 4, 0, 1);
  auto sc = tabular_config(1, 1, 11);
  sc.exploration.p_replay = 0;  // the target moves every round: old buffer rows mislead
  sc.exploration.p_on_policy = 0.5;
  // Trajectory balance: with min_len = max_len = 1 the only state STOP may end at is the last,
  // so modified SubTB (the default) has no pair of states to balance and would train nothing.
  Sampler sampler(q, std::move(reward), sc, TrajectoryBalance({.num_queries = nx * 2}));
  ExpectationMaximization em(sampler, scorer, binding(prior, false),
                             EmConfig{.rounds = 30,
                                      .e_steps = 60,
                                      .e_queries_per_step = 8,
                                      .m_rationales = 8,
                                      .m_steps = 60,
                                      .m_batch = 0,
                                      .max_len = 1});
  Rng rng(12);
  const auto estimate = [&] {
    std::vector<double> t;
    for (int z = 1; z <= 3; ++z) {
      const std::vector<int32_t> zz{z};
      const auto row = classifier.logits(int(prior.row_index(0, zz)), {});
      t.push_back(1 / (1 + std::exp(double(row[1]) - double(row[2]))));
    }
    return t;
  };
  const auto rounds = em.train(labelled, rng, [&](int i, const EmRound& r) {
    const auto t = estimate();
    if (i % 5 == 4)
      std::printf("EM round %d: theta %.3f %.3f %.3f  right %.3f  M-step CE %.4f -> %.4f\n", i + 1,
                  t[0], t[1], t[2], r.right_share, r.m_loss_first, r.m_loss_last);
  });
  REQUIRE(rounds.size() == 30);
  const auto t = estimate();
  for (int z = 0; z < 3; ++z) CHECK(std::abs(t[z] - theta[z]) < 0.03);
  // The recovered classifier predicts the planted one's labels from held-out draws.
  std::vector<int> test{0, 2, 4, 6};
  Rng vote_rng(13);
  const LogitMask mask(4, 0, 1);
  const auto votes = vote_predict(prior, scorer, binding(prior, false), std::span<const int>(test),
                                  200, 1, mask, vote_rng);
  // Planted majority per X: theta_z > 0.5 for z = 1, 3; p(label 1 | X) over the vote is the
  // prior mass on those z: .8, .3, .8, .6.
  const int expected[nx] = {1, 0, 1, 1};
  for (int x = 0; x < nx; ++x) CHECK(votes[x].label == expected[x]);
}

TEST_CASE("marginal_predict: importance sampling with q recovers the model's p(Y | X)",
          "[latent]") {
  Rng rng(21);
  const int nx = 3, V = 4, max_len = 2;
  TabularPolicy prior(nx, V, 0, max_len);
  prior.randomize(rng, 1.0);
  const int nz = static_cast<int>(prior.num_prefixes());
  TabularPolicy classifier(nx * nz, 3, 0, 1);
  classifier.randomize(rng, 2.0);
  Scorer scorer(classifier, {{1}, {2}});
  // The exact marginal: Z_k(x) = sum_z p(z | x) p(k | x, z), over every z of <= 2 tokens.
  TabularPolicy q(nx * 2, V, 0, max_len);
  const auto seqs = q.enumerate_sequences();
  std::vector<std::array<double, 2>> exact(nx, {0.0, 0.0});
  for (int x = 0; x < nx; ++x)
    for (const auto& z : seqs) {
      const double log_p = prior_log_prob(prior, x, z);
      const auto [s0, s1] = label_log_probs(classifier, prior, x, z);
      const double norm = std::log(std::exp(s0) + std::exp(s1));
      exact[x][0] += std::exp(log_p + s0 - norm);
      exact[x][1] += std::exp(log_p + s1 - norm);
    }
  const std::vector<int> queries{0, 2, 4};  // x * 2 + (any label: with_label sets it)
  const std::function<int(const int&, int)> with_label = [](const int& query, int k) {
    return (query / 2) * 2 + k;
  };
  const LogitMask mask(V, 0, 0);
  const auto check = [&](int samples, double tolerance, const char* what) {
    EReward marginal(prior, scorer, binding(prior, true), {LabelTerm::posterior, 0.0});
    Rng draw(22);
    const auto p = marginal_predict(q, mask, marginal, std::span<const int>(queries), with_label, 2,
                                    samples, max_len, draw);
    REQUIRE(p.size() == 3);
    double worst = 0;
    for (int x = 0; x < nx; ++x)
      for (int k = 0; k < 2; ++k)
        worst = std::max(worst, std::abs(p[x].log_marginal[k] - std::log(exact[x][k])));
    std::printf("marginal_predict (%s, %d draws per label): worst |log Z_k error| %.4f\n", what,
                samples, worst);
    for (int x = 0; x < nx; ++x) {
      INFO(what << ", x " << x);
      for (int k = 0; k < 2; ++k)
        CHECK(p[x].log_marginal[k] == Approx(std::log(exact[x][k])).margin(tolerance));
      CHECK(p[x].label == (exact[x][1] > exact[x][0] ? 1 : 0));
      CHECK(p[x].posterior[0] + p[x].posterior[1] == Approx(1.0));
    }
  };
  // Any q that covers the target: a random one, many draws.
  q.randomize(rng, 0.5);
  check(20000, 0.03, "random q");
  // The E-step's q trained towards each label's target (penalty 0): every weight is Z_k, so a
  // handful of draws is exact up to how far q is from the target.
  EReward target(prior, scorer, binding(prior, true), {LabelTerm::posterior, 0.0});
  Sampler sampler(q, std::move(target), tabular_config(max_len, 0, 23));
  const std::vector<int> all{0, 1, 2, 3, 4, 5};
  for (int step = 0; step < 1500; ++step) REQUIRE(std::isfinite(sampler.train_step(all).loss));
  check(4, 0.005, "trained q");
}

#include <gfnlm/baselines/grpo.hpp>
#include <gfnlm/baselines/ppo.hpp>
#include <gfnlm/policies/tabular.hpp>

#include "tabular_rl.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <span>
#include <vector>

namespace grpo = gfnlm::grpo;
using gfnlm::TabularPolicy;

using gfnlm::test::exact_kl;
using gfnlm::test::kMaxLen;
using gfnlm::test::kStop;
using gfnlm::test::kVocab;
using gfnlm::test::target_reward;

TEST_CASE("GRPO advantages: group mean and sample std, by hand", "[baselines]") {
  // Group 1: rewards 1 2 3 4, mean 2.5, sample std sqrt(5/3). Group 2: all 5, std 0.
  const std::vector<double> r{1, 2, 3, 4, 5, 5, 5, 5};
  grpo::AdvantageStats s;
  const auto a = grpo::group_advantages(r, 4, grpo::ScaleRewards::group, &s);
  const double sd = std::sqrt(5.0 / 3.0);
  REQUIRE(a[0] == Approx(-1.5 / (sd + 1e-4)));
  REQUIRE(a[3] == Approx(1.5 / (sd + 1e-4)));
  for (int i = 4; i < 8; ++i) REQUIRE(a[i] == 0.0);
  REQUIRE(s.mean_group_std == Approx(sd / 2));
  REQUIRE(s.zero_std_fraction == 0.5);
  // Batch scale: the std of all eight (mean 3.75).
  double ss = 0;
  for (double v : r) ss += (v - 3.75) * (v - 3.75);
  const double batch_sd = std::sqrt(ss / 7);
  const auto b = grpo::group_advantages(r, 4, grpo::ScaleRewards::batch);
  REQUIRE(b[1] == Approx(-0.5 / (batch_sd + 1e-4)));
  const auto c = grpo::group_advantages(r, 4, grpo::ScaleRewards::none);
  REQUIRE(c[2] == Approx(0.5));
  REQUIRE_THROWS_AS(grpo::group_advantages(r, 3, grpo::ScaleRewards::group), gfnlm::Error);
  REQUIRE_THROWS_AS(grpo::group_advantages(r, 1, grpo::ScaleRewards::group), gfnlm::Error);
  auto bad = r;
  bad[5] = std::numeric_limits<double>::quiet_NaN();
  REQUIRE_THROWS_WITH(grpo::group_advantages(bad, 4, grpo::ScaleRewards::group),
                      Catch::Contains("episode 5"));
}

TEST_CASE("GRPO loss normalisations: grpo, dr_grpo and dapo token weights", "[baselines]") {
  const std::vector<int> tokens{2, 4, 0};  // the third episode has no tokens
  const auto g = grpo::episode_token_weights(grpo::LossType::grpo, tokens, 5);
  REQUIRE(g[0] == Approx(1.0 / (3 * 2)));
  REQUIRE(g[1] == Approx(1.0 / (3 * 4)));
  REQUIRE(g[2] == 0.0);
  const auto d = grpo::episode_token_weights(grpo::LossType::dr_grpo, tokens, 5);
  REQUIRE(d[0] == Approx(1.0 / 15));
  REQUIRE(d[1] == Approx(1.0 / 15));
  const auto p = grpo::episode_token_weights(grpo::LossType::dapo, tokens, 5);
  REQUIRE(p[0] == Approx(1.0 / 6));
  REQUIRE(p[1] == Approx(1.0 / 6));
  // Total weight: grpo 2/3 (one episode empty), dapo 1.
  REQUIRE(2 * g[0] + 4 * g[1] == Approx(2.0 / 3));
  REQUIRE(2 * p[0] + 4 * p[1] == Approx(1.0));
  REQUIRE_THROWS_AS(grpo::episode_token_weights(grpo::LossType::dapo, std::vector<int>{6}, 5),
                    gfnlm::Error);
}

TEST_CASE("GRPO token loss: hand values and finite differences with the KL term", "[baselines]") {
  // Asymmetric clip [0.8, 1.28]: ratio 1.25 with A > 0 stays inside (it would be clipped at 1.2).
  const std::vector<float> old{0, 0, 0};
  const std::vector<float> now{std::log(1.25f), std::log(0.5f), std::log(1.5f)};
  const std::vector<float> adv{1, -2, 1};
  const std::vector<double> w{0.5, 0.25, 0.25};
  std::vector<float> grad(3);
  const auto s = grpo::token_loss(now, old, {}, adv, w, 0.2, 0.28, 0.0, grad);
  // t0: -1.25 (grad -1.25 x 0.5); t1: max(1.0, 1.6) = 1.6 clipped; t2: max(-1.5, -1.28) clipped.
  REQUIRE(s.loss == Approx(0.5 * -1.25 + 0.25 * 1.6 + 0.25 * -1.28));
  REQUIRE(grad[0] == Approx(-0.625));
  REQUIRE(grad[1] == 0.0f);
  REQUIRE(grad[2] == 0.0f);
  REQUIRE(s.clip_fraction == Approx(2.0 / 3));

  // With beta the k3 term adds beta w (exp(ref - new) - (ref - new) - 1); central differences in
  // double of the whole loss.
  const std::vector<float> ref{-0.3f, 0.4f, 0.1f};
  std::vector<float> x{-0.1f, 0.05f, 0.3f};
  const std::vector<float> old2{0.0f, 0.0f, 0.0f};
  const std::vector<float> adv2{0.7f, -1.3f, 2.0f};
  const double beta = 0.3;
  grpo::token_loss(x, old2, ref, adv2, w, 0.2, 0.2, beta, grad);
  auto loss_at = [&](const std::vector<double>& lp) {
    double l = 0;
    for (int t = 0; t < 3; ++t) {
      const double r = std::exp(lp[t] - old2[t]);
      const double c = std::clamp(r, 0.8, 1.2);
      const double d = ref[t] - lp[t];
      l += w[t] * (std::max(-adv2[t] * r, -adv2[t] * c) + beta * (std::exp(d) - d - 1));
    }
    return l;
  };
  std::vector<float> scratch(3);
  const std::vector<double> xd(x.begin(), x.end());
  REQUIRE(grpo::token_loss(x, old2, ref, adv2, w, 0.2, 0.2, beta, scratch).loss ==
          Approx(loss_at(xd)).epsilon(1e-5));
  for (int t = 0; t < 3; ++t) {
    const double h = 1e-6;
    auto plus = xd, minus = xd;
    plus[t] += h;
    minus[t] -= h;
    INFO("token " << t);
    REQUIRE(grad[t] == Approx((loss_at(plus) - loss_at(minus)) / (2 * h)).margin(1e-5));
  }
  REQUIRE_THROWS_AS(grpo::token_loss(x, old2, {}, adv2, w, 0.2, 0.2, beta, grad), gfnlm::Error);
}

TEST_CASE("GRPO raises the probability of the rewarded answer", "[baselines]") {
  TabularPolicy policy(1, kVocab, kStop, kMaxLen), reference(1, kVocab, kStop, kMaxLen);
  const std::vector<int> z{0, 1};
  const double before = std::exp(policy.log_prob(0, z, true));
  gfnlm::GrpoConfig config{.num_generations = 16, .max_len = kMaxLen, .lr = 0.05};
  gfnlm::GrpoTrainer trainer(policy, gfnlm::frozen_reference(reference), target_reward, config, 11);
  const std::vector<int> queries(4, 0);  // 4 groups of 16 episodes: PPO's test's 64 per step
  double first = -1, last = -1;
  for (int step = 0; step < 40; ++step) {
    const auto s = trainer.train_step(queries);
    if (step == 0) first = s.mean_reward;
    last = s.mean_reward;
    REQUIRE(s.updates == 1);
    REQUIRE(std::isfinite(s.loss));
  }
  const double after = std::exp(policy.log_prob(0, z, true));
  INFO("p(0 1 STOP): " << before << " -> " << after << "; reward " << first << " -> " << last);
  REQUIRE(after > 0.7);
  REQUIRE(last > first);
}

TEST_CASE("GRPO's KL term holds the policy near the reference", "[baselines]") {
  auto run = [](double beta, grpo::LossType type) {
    TabularPolicy policy(1, kVocab, kStop, kMaxLen), reference(1, kVocab, kStop, kMaxLen);
    gfnlm::GrpoConfig config{.num_generations = 16,
                             .max_len = kMaxLen,
                             .beta = beta,
                             .num_iterations = 2,
                             .minibatch_groups = 2,
                             .loss_type = type,
                             .lr = 0.05};
    gfnlm::GrpoTrainer trainer(policy, gfnlm::frozen_reference(reference), target_reward, config,
                               17);
    const std::vector<int> queries(4, 0);
    gfnlm::GrpoStats s;
    for (int step = 0; step < 30; ++step) s = trainer.train_step(queries);
    REQUIRE(s.updates == 4);  // 2 passes x 2 minibatches of 2 groups
    return std::pair{std::exp(policy.log_prob(0, std::vector<int>{0, 1}, true)),
                     exact_kl(policy, reference)};
  };
  for (auto type : {grpo::LossType::grpo, grpo::LossType::dr_grpo, grpo::LossType::dapo}) {
    const auto [p_free, kl_free] = run(0.0, type);
    const auto [p_held, kl_held] = run(1.0, type);
    INFO(grpo::name(type) << ": beta 0: p " << p_free << " KL " << kl_free << "; beta 1: p "
                          << p_held << " KL " << kl_held);
    REQUIRE(p_free > 0.5);
    REQUIRE(kl_held < 0.5 * kl_free);
    REQUIRE(p_held < p_free);
  }
}

TEST_CASE("GRPO leaves the policy alone when every completion earns the same reward",
          "[baselines]") {
  // Advantages are all 0 and beta = 0: no gradient, so AdamW (no weight decay) moves nothing.
  TabularPolicy policy(1, kVocab, kStop, kMaxLen), reference(1, kVocab, kStop, kMaxLen);
  gfnlm::Rng init(2);
  policy.randomize(init, 1.0);
  const auto param = policy.parameters().at(0);
  const std::vector<float> before(param.value, param.value + param.size);
  const auto constant = [](int, std::span<const int32_t>, bool) { return 3.0; };
  gfnlm::GrpoTrainer trainer(policy, gfnlm::frozen_reference(reference), constant,
                             gfnlm::GrpoConfig{.max_len = kMaxLen, .lr = 0.05}, 5);
  const std::vector<int> queries(3, 0);
  const auto s = trainer.train_step(queries);
  REQUIRE(s.zero_std_fraction == 1.0);
  REQUIRE(s.mean_reward == 3.0);
  for (std::size_t i = 0; i < before.size(); ++i) REQUIRE(param.value[i] == before[i]);
}

TEST_CASE("GRPO names a row whose reward is not finite, and checks its config", "[baselines]") {
  TabularPolicy policy(1, kVocab, kStop, kMaxLen), reference(1, kVocab, kStop, kMaxLen);
  const auto nan_reward = [](int, std::span<const int32_t>, bool) {
    return std::numeric_limits<double>::quiet_NaN();
  };
  gfnlm::GrpoTrainer trainer(policy, gfnlm::frozen_reference(reference), nan_reward,
                             gfnlm::GrpoConfig{.max_len = kMaxLen}, 5);
  const std::vector<int> queries(2, 0);
  REQUIRE_THROWS_WITH(trainer.train_step(queries), Catch::Contains("row 0"));
  auto make = [&](gfnlm::GrpoConfig c) {
    return gfnlm::GrpoTrainer(policy, gfnlm::frozen_reference(reference), target_reward, c, 1);
  };
  REQUIRE_THROWS_WITH(make({.num_generations = 1}), Catch::Contains("num_generations = 1"));
  REQUIRE_THROWS_WITH(make({.epsilon = 1.5}), Catch::Contains("epsilon = 1.5"));
  REQUIRE_THROWS_WITH(make({.beta = -1}), Catch::Contains("beta = -1"));
  REQUIRE_THROWS_WITH(make({.num_iterations = 0}), Catch::Contains("num_iterations = 0"));
}

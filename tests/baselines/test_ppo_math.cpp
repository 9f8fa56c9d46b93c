#include <gfnlm/baselines/ppo_math.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

namespace ppo = gfnlm::ppo;

TEST_CASE("clipped surrogate: hand-computed loss, gradient and clip fraction", "[baselines]") {
  // ratios 1.5, 1.5, 0.5, 1.1 with advantages 1, -1, -2, 3 and eps = 0.2:
  //  t0: max(-1.5, -1.2) = -1.2 clipped (grad 0)   t1: max(1.5, 1.2) = 1.5 (grad -A r / 4 = .375)
  //  t2: max(1.0, 1.6) = 1.6 clipped (grad 0)      t3: -3.3 inside the range (grad -3.3 / 4)
  const std::vector<float> old{0, 0, 0, 0};
  const std::vector<float> now{std::log(1.5f), std::log(1.5f), std::log(0.5f), std::log(1.1f)};
  const std::vector<float> adv{1, -1, -2, 3};
  std::vector<float> grad(4, 99.f);
  const auto s = ppo::clipped_surrogate(now, old, adv, 0.2, grad);
  REQUIRE(s.loss == Approx((-1.2 + 1.5 + 1.6 - 3.3) / 4));
  REQUIRE(s.clip_fraction == Approx(0.5));
  REQUIRE(s.approx_kl == Approx(-(2 * std::log(1.5) + std::log(0.5) + std::log(1.1)) / 4));
  REQUIRE(grad[0] == 0.0f);
  REQUIRE(grad[1] == Approx(0.375));
  REQUIRE(grad[2] == 0.0f);
  REQUIRE(grad[3] == Approx(-3.3 / 4));
  // An explicit normaliser replaces the token count.
  ppo::clipped_surrogate(now, old, adv, 0.2, grad, 8.0);
  REQUIRE(grad[3] == Approx(-3.3 / 8));
}

TEST_CASE("clipped surrogate gradient matches finite differences", "[baselines]") {
  const std::vector<float> old{-1.0f, -0.5f, -2.0f};
  std::vector<float> now{-0.9f, -0.7f, -2.05f};  // ratios inside and outside [0.8, 1.2]
  const std::vector<float> adv{0.7f, -1.3f, 2.0f};
  std::vector<float> grad(3), scratch(3);
  ppo::clipped_surrogate(now, old, adv, 0.1, grad);
  for (int t = 0; t < 3; ++t) {
    const float h = 1e-3f;
    auto plus = now, minus = now;
    plus[t] += h;
    minus[t] -= h;
    const double lp = ppo::clipped_surrogate(plus, old, adv, 0.1, scratch).loss;
    const double lm = ppo::clipped_surrogate(minus, old, adv, 0.1, scratch).loss;
    INFO("token " << t);
    REQUIRE(grad[t] == Approx((lp - lm) / (2 * h)).margin(1e-3));
  }
  REQUIRE_THROWS_AS(ppo::clipped_surrogate(now, old, std::vector<float>{1.f}, 0.1, grad),
                    gfnlm::Error);
}

TEST_CASE("GAE with gamma = 1 by hand", "[baselines]") {
  const std::vector<float> rewards{0, 0, 1}, values{0.5f, 0.2f, 0.4f};
  std::vector<float> adv(3), ret(3);
  // lambda = 0.5: deltas -0.3, 0.2, 0.6; A2 = 0.6, A1 = 0.2 + 0.3 = 0.5, A0 = -0.3 + 0.25.
  ppo::gae(rewards, values, 1.0, 0.5, adv, ret);
  REQUIRE(adv[2] == Approx(0.6));
  REQUIRE(adv[1] == Approx(0.5));
  REQUIRE(adv[0] == Approx(-0.05));
  REQUIRE(ret[0] == Approx(0.45));
  REQUIRE(ret[1] == Approx(0.7));
  REQUIRE(ret[2] == Approx(1.0));
  // lambda = 1: Monte-Carlo advantages, return-to-go minus value.
  ppo::gae(rewards, values, 1.0, 1.0, adv, ret);
  REQUIRE(adv[0] == Approx(0.5));
  REQUIRE(adv[1] == Approx(0.8));
  REQUIRE(adv[2] == Approx(0.6));
  // gamma = 0.5, lambda = 0: one-step TD errors.
  ppo::gae(rewards, values, 0.5, 0.0, adv, ret);
  REQUIRE(adv[0] == Approx(0 + 0.5 * 0.2 - 0.5));
  REQUIRE(adv[1] == Approx(0 + 0.5 * 0.4 - 0.2));
  REQUIRE(adv[2] == Approx(1 - 0.4));
}

TEST_CASE("KL-penalised per-token rewards", "[baselines]") {
  const std::vector<float> logp{-1, -2}, ref{-1.5f, -1};
  std::vector<float> r(2);
  ppo::kl_penalised_rewards(logp, ref, 0.1, 5.0, r);
  REQUIRE(r[0] == Approx(-0.05));
  REQUIRE(r[1] == Approx(0.1 + 5.0));
}

TEST_CASE("adaptive KL controller (Ziegler et al.)", "[baselines]") {
  ppo::AdaptiveKlController kl(0.2, 6.0, 10000);
  kl.update(9.0, 256);  // error clipped to +0.2
  REQUIRE(kl.beta() == Approx(0.2 * (1 + 0.2 * 256 / 10000.0)));
  const double before = kl.beta();
  kl.update(5.4, 100);  // error -0.1
  REQUIRE(kl.beta() == Approx(before * (1 - 0.1 * 100 / 10000.0)));
  kl.update(0.0, 10000);  // error clipped to -0.2 over a whole horizon
  REQUIRE(kl.beta() == Approx(before * (1 - 0.1 * 0.01) * 0.8));
  REQUIRE_THROWS_AS(ppo::AdaptiveKlController(0.1, 0.0, 10), gfnlm::Error);
}

TEST_CASE("clipped value loss and its gradient", "[baselines]") {
  // t0: v = 1 moves past old + 0.2 but the unclipped error (1) is the larger: gradient flows.
  // t1: the clipped error (0.7 - 3)^2 = 5.29 is the larger: no gradient.
  const std::vector<float> v{1.0f, 2.0f}, old{0.5f, 0.5f}, ret{0.0f, 3.0f};
  std::vector<float> g(2);
  const double loss = ppo::clipped_value_loss(v, old, ret, 0.2, g);
  REQUIRE(loss == Approx(0.5 * (1.0 + 5.29) / 2));
  REQUIRE(g[0] == Approx(0.5));
  REQUIRE(g[1] == 0.0f);
}

TEST_CASE("whiten", "[baselines]") {
  std::vector<float> x{1, 2, 3};
  ppo::whiten(x);
  REQUIRE(x[0] == Approx(-std::sqrt(1.5)));
  REQUIRE(x[1] == Approx(0.0).margin(1e-7));
  REQUIRE(x[2] == Approx(std::sqrt(1.5)));
}

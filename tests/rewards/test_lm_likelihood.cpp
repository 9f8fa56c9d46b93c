#include <gfnlm/rewards/lm_likelihood.hpp>

#include "decode_reference.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

using gfnlm::test::decode_log_prob;

TEST_CASE("LM-likelihood prefix rewards equal token-by-token decoding", "[rewards]") {
  gfnlm::Rng rng(11);
  gfnlm::Transformer<> model(gfnlm::test::tiny_lm_config(), rng);
  model.enable_lora({.rank = 2, .alpha = 4}, rng);
  for (auto& p : model.lora_parameters())
    for (std::size_t i = 0; i < p.size; ++i) p.value[i] = 0.3f * static_cast<float>(rng.normal());

  for (bool multi : {false, true}) {
    gfnlm::LmLikelihoodConfig cfg;
    cfg.context = {5, 6};
    cfg.end_tokens = {12};
    gfnlm::LmQuery q{{1, 2}, multi ? std::vector<int32_t>{7, 8} : std::vector<int32_t>{}};
    gfnlm::LmLikelihoodReward<> reward(model, cfg);
    const std::vector<int32_t> actions{3, 4, 9};
    const std::vector<gfnlm::ContextInsert> ctx{{1, {10, 11}}};
    std::vector<double> out(4);
    const gfnlm::RewardRequest<gfnlm::LmQuery> req{&q, actions, ctx, out};
    reward.prefix_log_rewards_batch(std::span<const gfnlm::RewardRequest<gfnlm::LmQuery>>(&req, 1));
    REQUIRE(model.adapters_enabled());  // restored

    model.set_adapters_enabled(false);  // the reference scores with the base model too
    // States: t=0 "D X", t=1 "D X 3 10 11", t=2 "... 4", t=3 "... 9"; then terminal.
    const std::vector<std::vector<int32_t>> states{{5, 6, 1, 2},
                                                   {5, 6, 1, 2, 3, 10, 11},
                                                   {5, 6, 1, 2, 3, 10, 11, 4},
                                                   {5, 6, 1, 2, 3, 10, 11, 4, 9}};
    for (int t = 0; t < 4; ++t) {
      auto seq = states[t];
      seq.push_back(12);
      if (multi) seq.insert(seq.end(), {7, 8});
      const double expected = decode_log_prob(model, seq, 4);
      INFO("multi " << multi << " t " << t);
      REQUIRE(out[t] == Approx(expected).epsilon(1e-4));
    }
    model.set_adapters_enabled(true);
  }
}

TEST_CASE("LM-likelihood reward without terminal tokens is an error", "[rewards]") {
  gfnlm::Rng rng(2);
  gfnlm::Transformer<> model(gfnlm::test::tiny_lm_config(), rng);
  gfnlm::LmLikelihoodReward<> reward(model, {});
  const gfnlm::LmQuery q{{1}, {}};
  const std::vector<int32_t> a{3};
  REQUIRE_THROWS_WITH(reward(q, a), Catch::Contains("no terminal tokens"));
}

TEST_CASE("LM-likelihood reward with no_terminal: log p(Z | D X) of every prefix, one pass",
          "[rewards]") {
  gfnlm::Rng rng(7);
  gfnlm::Transformer<> model(gfnlm::test::tiny_lm_config(), rng);
  gfnlm::LmLikelihoodConfig cfg;
  cfg.context = {5};
  cfg.no_terminal = true;
  gfnlm::LmLikelihoodReward<> reward(model, cfg);
  const gfnlm::LmQuery q{{1, 2}, {}};
  const std::vector<int32_t> actions{3, 4, 9};
  std::vector<double> out(4);
  const gfnlm::RewardRequest<gfnlm::LmQuery> req{&q, actions, {}, out};
  reward.prefix_log_rewards_batch(std::span<const gfnlm::RewardRequest<gfnlm::LmQuery>>(&req, 1));
  CHECK(out[0] == 0.0);  // the empty Z: probability one
  for (int t = 1; t <= 3; ++t) {
    std::vector<int32_t> seq{5, 1, 2};
    seq.insert(seq.end(), actions.begin(), actions.begin() + t);
    INFO("t " << t);
    CHECK(out[t] == Approx(decode_log_prob(model, seq, 3)).epsilon(1e-4));
  }
}

TEST_CASE("LM-likelihood reward: a batch of rows of different lengths scores each row as alone",
          "[rewards]") {
  gfnlm::Rng rng(5);
  gfnlm::Transformer<> model(gfnlm::test::tiny_lm_config(), rng);
  using Request = gfnlm::RewardRequest<gfnlm::LmQuery>;
  for (bool multi : {false, true}) {
    gfnlm::LmLikelihoodConfig cfg;
    cfg.context = {5};
    cfg.end_tokens = {12};
    cfg.max_rows_per_pass = 3;  // the per-prefix case runs in several forwards
    gfnlm::LmLikelihoodReward<> reward(model, cfg);
    const std::vector<int32_t> suffix = multi ? std::vector<int32_t>{7, 8} : std::vector<int32_t>{};
    const std::vector<gfnlm::LmQuery> queries{{{1, 2}, suffix}, {{3}, suffix}, {{4, 4, 4}, suffix}};
    const std::vector<std::vector<int32_t>> actions{{3, 4, 9}, {}, {6, 1}};
    const std::vector<std::vector<gfnlm::ContextInsert>> ctx{{{1, {10, 11}}}, {}, {{2, {10}}}};
    std::vector<std::vector<double>> out(3), alone(3);
    std::vector<Request> requests;
    for (int i = 0; i < 3; ++i) {
      out[i].resize(actions[i].size() + 1);
      requests.push_back({&queries[i], actions[i], ctx[i], out[i]});
    }
    reward.prefix_log_rewards_batch(std::span<const Request>(requests));
    for (int i = 0; i < 3; ++i) {
      alone[i].resize(actions[i].size() + 1);
      const Request one{&queries[i], actions[i], ctx[i], alone[i]};
      reward.prefix_log_rewards_batch(std::span<const Request>(&one, 1));
      for (std::size_t t = 0; t < out[i].size(); ++t) {
        INFO("multi " << multi << " row " << i << " t " << t);
        CHECK(std::isfinite(out[i][t]));
        CHECK(out[i][t] == Approx(alone[i][t]).epsilon(1e-5));
      }
    }
  }
}

TEST_CASE("LM-likelihood reward with final_only scores the complete sequence alone", "[rewards]") {
  gfnlm::Rng rng(8);
  gfnlm::Transformer<> model(gfnlm::test::tiny_lm_config(), rng);
  model.enable_lora({.rank = 2, .alpha = 4}, rng);
  for (auto& p : model.lora_parameters())
    for (std::size_t i = 0; i < p.size; ++i) p.value[i] = 0.3f * static_cast<float>(rng.normal());
  using Request = gfnlm::RewardRequest<gfnlm::LmQuery>;
  for (bool multi : {false, true}) {
    gfnlm::LmLikelihoodConfig cfg;
    cfg.context = {5, 6};
    cfg.end_tokens = {12};
    gfnlm::LmLikelihoodReward<> every(model, cfg);
    cfg.final_only = true;
    cfg.max_rows_per_pass = 1;  // one forward per row
    gfnlm::LmLikelihoodReward<> final_only(model, cfg);
    REQUIRE(final_only.config().final_only);
    const std::vector<int32_t> suffix = multi ? std::vector<int32_t>{7, 8} : std::vector<int32_t>{};
    const std::vector<gfnlm::LmQuery> queries{{{1, 2}, suffix}, {{3}, suffix}};
    const std::vector<std::vector<int32_t>> actions{{3, 4, 9}, {6}};
    const std::vector<std::vector<gfnlm::ContextInsert>> ctx{{{1, {10, 11}}}, {}};
    for (int i = 0; i < 2; ++i) {
      std::vector<double> all(actions[i].size() + 1), last(actions[i].size() + 1, 0.0);
      const Request a{&queries[i], actions[i], ctx[i], all};
      every.prefix_log_rewards_batch(std::span<const Request>(&a, 1));
      const Request b{&queries[i], actions[i], ctx[i], last};
      final_only.prefix_log_rewards_batch(std::span<const Request>(&b, 1));
      INFO("multi " << multi << " row " << i);
      CHECK(last.back() == Approx(all.back()).epsilon(1e-5));
      for (std::size_t t = 0; t + 1 < last.size(); ++t) CHECK(last[t] == -INFINITY);
      // The context form is the same number.
      CHECK(final_only(queries[i], actions[i], ctx[i]) == Approx(all.back()).epsilon(1e-5));
    }
    REQUIRE(model.adapters_enabled());
  }
}

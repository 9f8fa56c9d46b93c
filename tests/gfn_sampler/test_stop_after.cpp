// SamplerConfig::stop_after_tokens (gfn/masks.hpp): STOP is legal only right after some tokens.
// The samples, the loss's log q and the trained distribution all see the same mask, and the
// Sampler reaches the exact target over the sequences the mask allows.
#include "support.hpp"

#include <gfnlm/gfn/objectives/trajectory_balance.hpp>
#include <gfnlm/gfn/sampler.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <vector>

using namespace gfnlm;

namespace {

constexpr int32_t kStop = 3;
constexpr int kMaxLen = 4;

SamplerConfig stop_after_config(uint64_t seed) {
  SamplerConfig config;
  config.trajectories_per_query = 16;
  config.max_len = kMaxLen;
  config.stop_after_tokens = {2};  // tokens 0, 1, 2: an answer may end only after a 2
  config.optimizer.lr = 0.05;
  config.lr_schedule = {.warmup = 20, .total = 1500, .final_fraction = 0.05};
  config.grad_clip = 0;
  config.seed = seed;
  config.quiet = true;
  return config;
}

// Legal end points under the mask: sequences ending in 2, and every sequence of max_len.
bool legal(const std::vector<int32_t>& z) {
  return z.size() == std::size_t(kMaxLen) || (!z.empty() && z.back() == 2);
}

}  // namespace

TEST_CASE("stop_after_tokens holds in samples and in the loss", "[gfn_sampler]") {
  TabularPolicy policy(1, 4, kStop, kMaxLen);
  Rng init(11);
  policy.randomize(init, 1.0);
  auto reward = [](const int&, std::span<const int32_t> z) { return 0.2 * double(z.size()); };
  Sampler sampler(policy, reward, stop_after_config(2));
  const std::vector<int> queries{0};
  for (int step = 0; step < 20; ++step) sampler.train_step(queries);

  const auto& batch = sampler.last_batch();
  int banned = 0, legal_states = 0;
  for (int b = 0; b < batch.rows(); ++b)
    for (int t = 0; t <= batch.length[b]; ++t) {
      if (t == batch.length[b] && !batch.stopped[b]) continue;  // max length: q(STOP) = 1
      const bool after_two = t > 0 && batch.actions(b, t - 1) == 2;
      INFO("row " << b << " state " << t);
      if (after_two) {
        CHECK(std::isfinite(batch.log_stop(b, t)));
        ++legal_states;
      } else {
        CHECK(batch.log_stop(b, t) == -std::numeric_limits<float>::infinity());
        ++banned;
      }
    }
  CHECK(banned > 0);
  CHECK(legal_states > 0);

  for (double temperature : {1.0, 2.0}) {
    int stopped = 0;
    for (const auto& s : sampler.sample(0, 300, temperature)) {
      CHECK(legal(s.actions));
      CHECK(s.stopped == (s.actions.size() < std::size_t(kMaxLen)));
      stopped += s.stopped;
    }
    CHECK(stopped > 0);
  }

  // A seeded sequence the sampler could never end is refused, naming its last token; one ending
  // in a 2, and one of max_len (no STOP drawn), are stored.
  Sampler fresh(policy, reward, stop_after_config(2));
  CHECK_THROWS_WITH(fresh.seed_buffer(0, {{0, 1}}),
                    Catch::Contains("ends with token 1, after which STOP is masked"));
  CHECK(fresh.seed_buffer(0, {{0, 2}, {1, 1, 1, 1}}) == 2);
}

TEST_CASE("stop_after_tokens are checked when the Sampler is made", "[gfn_sampler]") {
  TabularPolicy policy(1, 4, kStop, kMaxLen);
  auto reward = [](const int&, std::span<const int32_t>) { return 0.0; };
  auto config = stop_after_config(2);
  config.stop_after_tokens = {2, 7};
  CHECK_THROWS_WITH(Sampler(policy, reward, config),
                    Catch::Contains("stop_after token 7 (entry 1) is outside the vocabulary"));
  config.stop_after_tokens = {kStop};
  CHECK_THROWS_WITH(Sampler(policy, reward, config),
                    Catch::Contains("stop_after entry 0 is the stop token 3 itself"));
  config.stop_after_tokens = {1};
  config.allowed_tokens = {0, 2, kStop};
  CHECK_THROWS_WITH(Sampler(policy, reward, config),
                    Catch::Contains("stop_after token 1 (entry 0) is forbidden by the vocabulary"));
}

TEST_CASE("Sampler + TB with stop_after_tokens fits the exact target over legal sequences",
          "[gfn_sampler]") {
  TabularPolicy policy(1, 4, kStop, kMaxLen);
  const auto sequences = policy.enumerate_sequences();
  // Random log R over the 94 legal end points (81 of length 4, 13 shorter ones ending in 2).
  Rng rng(7);
  std::map<std::vector<int32_t>, double> log_r;
  for (const auto& z : sequences)
    if (legal(z)) log_r[z] = 3.0 * rng.normal();
  REQUIRE(log_r.size() == 94);
  // The reward is asked about banned end points too (prefix rewards); they never count.
  auto reward = [&](const int&, std::span<const int32_t> z) {
    const auto it = log_r.find({z.begin(), z.end()});
    return it == log_r.end() ? -50.0 : it->second;
  };
  const SamplerConfig config = stop_after_config(3);
  const LogitMask mask(4, kStop, 0, {}, config.stop_after_tokens);
  auto kl = [&] {
    const auto log_q = test::masked_terminal_log_probs(policy, mask);
    double lse = -INFINITY;
    for (const auto& [z, v] : log_r) lse = std::max(lse, v);
    double sum = 0, mass = 0, kl = 0;
    for (const auto& [z, v] : log_r) sum += std::exp(v - lse);
    const double log_z = lse + std::log(sum);
    for (std::size_t i = 0; i < sequences.size(); ++i) {
      mass += std::exp(log_q[i]);
      if (!legal(sequences[i])) {
        CHECK(log_q[i] == -INFINITY);  // the mask gives banned end points no mass at all
        continue;
      }
      const double log_p = log_r.at(sequences[i]) - log_z;
      kl += std::exp(log_p) * (log_p - log_q[i]);
    }
    CHECK(mass == Approx(1.0).margin(1e-9));
    return kl;
  };
  Sampler sampler(policy, reward, config, TrajectoryBalance{});
  const double kl0 = kl();
  const std::vector<int> queries{0};
  for (int step = 0; step < 1500; ++step) sampler.train_step(queries);
  const double kl1 = kl();
  std::printf("TB with stop_after_tokens {2}: KL(target || q) %.4f -> %.5f\n", kl0, kl1);
  CHECK(kl0 > 0.3);
  CHECK(kl1 < 0.01);
}

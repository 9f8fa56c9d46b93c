#pragma once
// Sentence continuation (paper section 4.1, issue 19): X = the first 1-3 sentences of a story, Z
// = the next sentence, up to its period. As in the paper (SPEC section 3), STOP is the "." token
// itself and log R(Z STOP) = log p_LM(Z "." | X): every prefix's reward comes from one forward
// pass, and the base LM already "stops" where it would end the sentence, so at T_R = 1 the base
// is the target and the GFlowNet learns only what the anneal to T_R < 1 changes. (Z cannot hold
// a "." before its end; it may hold a "!" or "?": the paper's definition, kept for comparison.)
// The baselines decode the base with the same STOP, so every method samples from the same family
// of sequences. Every method gives n samples per test prompt, scored by the base: mean and max
// log p_LM(Z "." | X), and the diversity of the n.
#include <gfnlm/baselines/beam_search.hpp>
#include <gfnlm/baselines/sample_decode.hpp>
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/eval/diversity.hpp>
#include <gfnlm/gfn/objectives/modified_subtb.hpp>
#include <gfnlm/gfn/sampler.hpp>
#include <gfnlm/model/config.hpp>
#include <gfnlm/policies/lm_policy.hpp>
#include <gfnlm/rewards/lm_likelihood.hpp>
#include <gfnlm/tasks/stories/items.hpp>
#include <gfnlm/tasks/stories/reward_floor.hpp>
#include <gfnlm/tasks/stories/tokens.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

namespace gfnlm::stories {

struct ContinuationConfig {
  uint64_t seed = 0;  // GFlowNet initialisation, exploration and every sampler's draws
  int samples = 10;   // n per prompt, the same for every method
  int max_len = 30;   // tokens of Z
  int eval_prompts = 40;
  // GFlowNet (SPEC sections 3-4; T_R 1.0 -> 0.8..0.95 over 750 steps in the paper).
  int steps = 600;
  int prompts_per_step = 4;
  int trajectories = 8;  // per prompt and step
  double lr = 5e-4;
  LoraConfig lora{.rank = 16, .alpha = 16.0};  // a 64-wide model: rank 16 is already generous
  double reward_t_start = 1.0, reward_t_end = 0.85;
  int reward_t_steps = 450;
  int buffer = 50;
  // Baselines.
  double diversity_penalty = 1.0;  // Hugging Face's usual example value
  double top_p = 0.95;
  int progress_every = 50;

  void validate() const {
    GFNLM_CHECK(samples >= 2, "continuation: samples = {} must be >= 2 (diversity needs pairs)",
                samples);
    GFNLM_CHECK(max_len >= 1, "continuation: max_len = {} must be >= 1", max_len);
    GFNLM_CHECK(eval_prompts >= 1, "continuation: eval_prompts = {} must be >= 1", eval_prompts);
    GFNLM_CHECK(steps >= 1 && prompts_per_step >= 1 && trajectories >= 2,
                "continuation: steps {} / prompts_per_step {} / trajectories {} must be >= 1/1/2",
                steps, prompts_per_step, trajectories);
    GFNLM_CHECK(reward_t_start > 0 && reward_t_end > 0 && reward_t_steps >= 0,
                "continuation: reward temperatures {} -> {} must be > 0 over {} >= 0 steps",
                reward_t_start, reward_t_end, reward_t_steps);
    GFNLM_CHECK(top_p > 0 && top_p <= 1, "continuation: top_p = {} must be in (0, 1]", top_p);
  }
};

// One method's samples for every evaluated prompt, and their figures.
struct MethodResult {
  std::string method, setting;
  std::vector<std::vector<std::vector<int32_t>>> samples;  // [prompt][sample] tokens of Z
  std::vector<std::vector<double>> log_likelihood;         // [prompt][sample] log p_LM(Z | X)
  double mean_ll = 0, max_ll = 0;  // means over prompts of the per-prompt mean and max
  double edit_diversity = 0;       // mean over prompts of the mean pairwise normalised distance
  double distinct2 = 0;            // mean over prompts of distinct-2 over the n samples
  double distinct_samples = 0;     // mean over prompts of the number of distinct samples
  double seconds = 0;
};

// The GFlowNet's training curve: log Z estimate's spread is the acceptance's "falls" figure.
struct TrainPoint {
  int step;
  double loss, mean_log_r, log_z, log_z_spread, reward_temperature;
};

struct ContinuationResults {
  std::vector<MethodResult> methods;
  std::vector<TrainPoint> curve;
  double train_seconds = 0;
};

namespace detail {
using Clock = std::chrono::steady_clock;
inline double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// The per-prompt figures of a method, from its samples' log-likelihoods.
inline void summarise(MethodResult& r) {
  const std::size_t P = r.samples.size();
  r.mean_ll = r.max_ll = r.edit_diversity = r.distinct2 = r.distinct_samples = 0;
  for (std::size_t p = 0; p < P; ++p) {
    const auto& ll = r.log_likelihood[p];
    double mean = 0, best = -std::numeric_limits<double>::infinity();
    for (double v : ll) mean += v / double(ll.size()), best = std::max(best, v);
    r.mean_ll += mean / double(P);
    r.max_ll += best / double(P);
    r.edit_diversity += mean_pairwise_edit_distance(r.samples[p]) / double(P);
    r.distinct2 += distinct_n(r.samples[p], 2) / double(P);
    r.distinct_samples += double(count_distinct(r.samples[p])) / double(P);
  }
}
}  // namespace detail

// Runs every method on `eval` prompts, the GFlowNet trained on `train` prompts first. The model
// is the base: the GFlowNet trains LoRA adapters (and STOP's rows) on it, switched off for the
// baselines and every score. on_method receives each method as soon as it is scored (the example
// writes results as they come, so a late failure loses nothing).
template <class Model>
ContinuationResults run_continuation(
    Model& model, int32_t period, std::span<const LmQuery> train, std::span<const LmQuery> eval,
    const ContinuationConfig& config, const std::function<void(const std::string&)>& say,
    const std::function<void(const ContinuationResults&)>& on_method = {}) {
  config.validate();
  GFNLM_CHECK(!train.empty() && !eval.empty(), "continuation: {} training and {} test prompts",
              train.size(), eval.size());
  using Policy = BasicLmPolicy<Model, LmQuery>;
  const int n = config.samples, V = model.config().vocab_size;
  ContinuationResults results;

  // The base's log p(Z | X) of every sample, one forward row each.
  // log p(Z "." | X): the "." is STOP's token, the terminal of the likelihood.
  LmLikelihoodConfig likelihood;
  likelihood.end_tokens = {period};
  BasicLmLikelihoodReward<Model> score(model, [&] {
    auto c = likelihood;
    c.final_only = true;
    return c;
  }());
  const auto finish = [&](MethodResult r, detail::Clock::time_point t0) {
    r.log_likelihood.resize(r.samples.size());
    for (std::size_t p = 0; p < r.samples.size(); ++p) {
      std::vector<RewardRequest<LmQuery>> requests;
      std::vector<std::vector<double>> out(r.samples[p].size());
      for (std::size_t i = 0; i < r.samples[p].size(); ++i) {
        out[i].resize(r.samples[p][i].size() + 1);
        requests.push_back({&eval[p], r.samples[p][i], {}, out[i]});
      }
      score.prefix_log_rewards_batch(std::span<const RewardRequest<LmQuery>>(requests));
      for (const auto& o : out) r.log_likelihood[p].push_back(o.back());
    }
    detail::summarise(r);
    r.seconds = detail::since(t0);
    say(
        fmt::format("  {:13s} {:10s} mean LL {:7.2f}  max LL {:7.2f}  edit div {:.3f}  "
                    "distinct-2 {:.3f}  distinct {:4.1f}/{}  ({:.1f} s)",
                    r.method, r.setting, r.mean_ll, r.max_ll, r.edit_diversity, r.distinct2,
                    r.distinct_samples, n, r.seconds));
    results.methods.push_back(std::move(r));
    if (on_method) on_method(results);
  };

  // ---- the baselines, on the base model (adapters off) ----
  const LogitMask mask(V, period, /*min_len=*/1);
  Policy base(model, period, /*adapters=*/false);
  Rng rng(config.seed * 0x9E3779B97F4A7C15ULL + 101);
  const auto sampled = [&](std::string method, std::string setting, SamplingDecoder d, int count) {
    const auto t0 = detail::Clock::now();
    d.max_len = config.max_len;
    MethodResult r;
    r.method = std::move(method), r.setting = std::move(setting);
    for (auto& rows : sample_decode(base, eval, count, mask, d, rng)) {
      r.samples.emplace_back();
      for (auto& t : rows) r.samples.back().push_back(std::move(t.actions));
    }
    finish(std::move(r), t0);
  };
  const auto searched = [&](std::string method, int beams, int groups, double penalty) {
    const auto t0 = detail::Clock::now();
    BeamSearchConfig c{.beams = beams,
                       .groups = groups,
                       .diversity_penalty = penalty,
                       .max_len = config.max_len,
                       .return_sequences = n};
    MethodResult r;
    r.method = std::move(method), r.setting = fmt::format("{} beams", beams);
    for (auto& hyps : beam_search(base, eval, mask, c)) {
      r.samples.emplace_back();
      for (auto& h : hyps) r.samples.back().push_back(std::move(h.actions));
    }
    finish(std::move(r), t0);
  };
  say(fmt::format("decoding baselines: {} test prompts, n = {} samples each", eval.size(), n));
  sampled("greedy", "", greedy_decoder(config.max_len), 1);
  searched("beam", n, 1, 0.0);
  searched("beam", 5 * n, 1, 0.0);
  // n groups, so each group's best is one of the n samples (Hugging Face's num_beam_groups).
  searched("diverse_beam", n, n, config.diversity_penalty);
  searched("diverse_beam", 5 * n, n, config.diversity_penalty);
  sampled("nucleus", fmt::format("p = {}", config.top_p), {1.0, {0, config.top_p}}, n);
  sampled("ancestral", "T = 1", {1.0, {}}, n);
  sampled("ancestral", fmt::format("T = {}", config.reward_t_end), {config.reward_t_end, {}}, n);

  // ---- the GFlowNet ----
  Rng init(config.seed * 1000003ULL + 1);
  model.enable_lora(config.lora, init);
  Policy policy(model, period);
  using Reward = BasicLmLikelihoodReward<Model>;
  Reward reward(model, likelihood);
  SamplerConfig sc;
  sc.trajectories_per_query = config.trajectories;
  sc.max_len = config.max_len;
  sc.min_len = 1;
  sc.optimizer.lr = config.lr;
  sc.buffer.capacity = config.buffer;
  sc.lr_schedule = WarmupDecay{.warmup = 20, .total = config.steps, .final_fraction = 1.0};
  sc.reward_temperature = {config.reward_t_start, config.reward_t_end, config.reward_t_steps};
  sc.seed = config.seed * 7 + 1;
  sc.progress_every = config.progress_every;
  ModifiedSubTB::Config oc;
  oc.log_reward_floor = kStoriesLogRewardFloor;  // log R is -10 to -300 nats here
  Sampler<Policy, Reward, ModifiedSubTB> sampler(policy, std::move(reward), sc, ModifiedSubTB(oc));
  sampler.set_message_sink([&](const std::string& line) { say("  GFlowNet " + line); });
  say(fmt::format("GFlowNet: {} steps x {} prompts x {} trajectories on {} training prompts",
                  config.steps, config.prompts_per_step, config.trajectories, train.size()));
  const auto t0 = detail::Clock::now();
  std::vector<LmQuery> batch(config.prompts_per_step);
  Rng order(config.seed * 31 + 5);
  for (int step = 0; step < config.steps; ++step) {
    for (auto& q : batch) q = train[order.below(train.size())];
    const auto m = sampler.train_step(std::span<const LmQuery>(batch));
    results.curve.push_back(
        {step, m.loss, m.mean_log_r, m.log_z, m.log_z_spread, m.reward_temperature});
  }
  results.train_seconds = detail::since(t0);
  const auto t1 = detail::Clock::now();
  MethodResult gfn;
  gfn.method = "gfn", gfn.setting = "q, T = 1";
  for (auto& rows :
       sample_decode(policy, eval, n, sampler.mask(), {1.0, {}, config.max_len}, rng)) {
    gfn.samples.emplace_back();
    for (auto& t : rows) gfn.samples.back().push_back(std::move(t.actions));
  }
  finish(std::move(gfn), t1);
  return results;
}

}  // namespace gfnlm::stories

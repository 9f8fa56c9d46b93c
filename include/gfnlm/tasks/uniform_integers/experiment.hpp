#pragma once
// The whole random-integer experiment of issue 5 as one function, shared by the example program
// (examples/uniform_integers.cpp) and its quick-mode test: from one base model (base_model.hpp),
// four LoRA fine-tunings - GFlowNet (trajectory balance or modified SubTB through gfnlm::Sampler,
// with SPEC section 4's min-length mask), PPO and GRPO on the task's reward, and SFT on
// uniform draws - then every model sampled `samples` times and scored (SPEC section 6).
#include <gfnlm/baselines/grpo.hpp>
#include <gfnlm/baselines/ppo.hpp>
#include <gfnlm/baselines/rollout.hpp>
#include <gfnlm/baselines/sft.hpp>
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/distributed/communicator.hpp>
#include <gfnlm/eval/distribution.hpp>
#include <gfnlm/gfn/log_partition.hpp>
#include <gfnlm/gfn/masks.hpp>
#include <gfnlm/gfn/objectives/modified_subtb.hpp>
#include <gfnlm/gfn/objectives/trajectory_balance.hpp>
#include <gfnlm/gfn/rollout.hpp>
#include <gfnlm/gfn/sampler.hpp>
#include <gfnlm/policies/lm_policy.hpp>
#include <gfnlm/policies/lm_query.hpp>
#include <gfnlm/tasks/uniform_integers/answer.hpp>
#include <gfnlm/tasks/uniform_integers/base_model.hpp>
#include <gfnlm/tasks/uniform_integers/corpus.hpp>
#include <gfnlm/tasks/uniform_integers/exact.hpp>
#include <gfnlm/tasks/uniform_integers/help.hpp>
#include <gfnlm/tasks/uniform_integers/reward.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace gfnlm::uniform_integers {

// The most samples per model an evaluation takes (ExperimentConfig::samples). Sampling runs at
// about 1,000 answers a second per model on a 2-core machine (10,000 in 10-12 s,
// docs/uniform_integers.md), so this is some 20 minutes per model and 80 for the four; a larger
// request (2e9 ran for hours) is almost surely a typo, refused before any work.
inline constexpr int kMaxSamples = 1'000'000;

// What a real checkpoint gets by default (with_real_model_help): seeded answers, and GFlowNet
// steps (the validation runs used 800).
inline constexpr int kRealModelSeedAnswers = 10;
inline constexpr int kRealModelGfnSteps = 800;

struct ExperimentConfig {
  BaseModelConfig base{};
  std::filesystem::path cache_dir;  // where the base model is cached; empty: never cached
  // The ranks the GFlowNet phase runs over (data-parallel Sampler, docs/distributed.md); null or
  // one rank: one process. Every other phase runs whole on every rank.
  Communicator* world = nullptr;
  uint64_t seed = 0;                           // fine-tuning and evaluation randomness
  int samples = 10000;                         // per model, for every figure
  int eval_chunk = 1000;                       // rows decoded together while sampling
  LoraConfig lora{.rank = 16, .alpha = 16.0};  // a 64-wide model: rank 16 is already generous

  // GFlowNet. Each step draws `gfn_groups` behaviours of `gfn_batch` rows each for the one prompt
  // (a step mixes on-policy, tempered and replayed rows instead of alternating whole steps).
  // Exploration departs from SPEC section 4's mixture (1/4, 1/2 at T in [0.5, 2], 1/4): with
  // log R = -8 per invalid token, T = 2 rollouts are long junk whose huge TB errors dominate every
  // step; T <= 1 keeps the steps about the shape of the valid answers (docs/uniform_integers.md).
  enum class Objective { modified_subtb, trajectory_balance };
  // Modified SubTB (issue 5) with a learned root flow: the min-length mask hides STOP at the
  // root, and without a root flow the first token gets no gradient (KL ~0.14 instead of ~0.01;
  // docs/uniform_integers.md). Trajectory balance remains available (`--objective tb`).
  Objective gfn_objective = Objective::modified_subtb;
  int gfn_steps = 600;
  int gfn_batch = 8;  // trajectories per behaviour group
  int gfn_groups = 4;
  double gfn_lr = 2e-3;
  double gfn_lr_final_fraction = 0.1;  // linear decay after 20 warm-up steps: less noise at the end
  ExplorationConfig gfn_exploration{
      .p_on_policy = 0.5, .p_tempered = 0.25, .p_replay = 0.25, .t_low = 0.5, .t_high = 1.0};
  // STOP masked before this many answer tokens (SPEC section 4's min-length mask; section 3's
  // continuation task uses 1 too). With 1 the root is no end point, so its flow is not anchored
  // to the empty answer's log R (docs/uniform_integers.md); the GFlowNet never answers "".
  int gfn_min_len = 1;
  int gfn_buffer = 128;         // replay capacity: above the 101 answers sharing the top reward
  double gfn_log_z_init = 8.0;  // TB and the SubTB root flow: the largest log R, known to a user
  double gfn_log_z_lr = 0.05;
  LinearSchedule gfn_reward_temperature{1.0, 1.0, 0};
  GfnRewardConfig gfn_reward{};
  // Modified SubTB: a learned log F of the root, whose STOP the min-length mask hides
  // (ModifiedSubTBConfig::learn_root_flow); without it the first token gets no gradient.
  bool gfn_subtb_root_flow = true;
  double gfn_subtb_lambda = 1.0;  // SPEC section 2: lambda = 1 in every experiment of the paper
  // Replay near-duplicate tolerance (ReplayBufferConfig). SPEC section 4's 0.25 makes "10" and
  // "100" near duplicates (edit distance 1 < 0.25 x 5), so the buffer never holds both.
  // Exact duplicates only: the 101 answers are short and one character apart.
  double gfn_buffer_tolerance = 0.0;
  int gfn_curve_every = 0;  // > 0: exact KL and validity of the GFlowNet every this many steps

  // PPO: TRL's defaults except the learning rate and the (short-answer) KL target.
  int ppo_steps = 100;
  PpoConfig ppo{.max_len = kMaxAnswerTokens,
                .minibatch_size = 16,
                .epochs = 4,
                .lr = 1e-3,
                .init_kl_coef = 0.2,
                .target_kl = 1.0};
  int ppo_batch = 64;  // episodes per step
  PpoRewardScheme ppo_reward{};

  // GRPO (issue 20) on PPO's reward and with its rollout budget: grpo_groups x num_generations
  // = ppo_batch episodes per step, as many steps. TRL's defaults (G 8, beta 0, one pass, dapo
  // normalisation, group-std scaling) with PPO's learning rate.
  int grpo_steps = 100;
  int grpo_groups = 8;
  GrpoConfig grpo{.num_generations = 8, .max_len = kMaxAnswerTokens, .lr = 1e-3};

  // Help for a base that never answers validly (issue 24; docs/concepts.md, "When the base never
  // succeeds"), given to all three fine-tunings alike so the comparison stays fair:
  // - seed_answers: this many known-good answers, evenly spaced over 0..100 (seeded_answers()),
  //   go into the GFlowNet's replay buffer before its first step (Sampler::seed_buffer) and are
  //   SFT's only data (without them SFT draws from all 101 integers, more than the others know);
  // - stop_after_digit: STOP is legal only right after a token whose text ends in a digit
  //   (SamplerConfig::stop_after_tokens), in the GFlowNet's sampler, PPO's rollouts and the PPO,
  //   SFT and GFlowNet evaluations; the base is evaluated as it is.
  // - digits_only: the vocabulary mask allows only tokens whose text is all digits (and STOP),
  //   in the same places as stop_after_digit.
  // - train_answer_tokens: each fine-tuning also trains the embedding and head rows of the digit
  //   tokens and STOP (LoraHost::enable_trainable_tokens), for a base that never learned them:
  //   stories260K's are one and the same vector (model/trainable_tokens.hpp).
  int seed_answers = 0;
  bool stop_after_digit = false;
  bool digits_only = false;
  bool train_answer_tokens = false;

  // SFT: maximum likelihood on integers drawn uniformly from 0..100 (or from the seeded answers).
  int sft_steps = 200;
  int sft_batch = 32;
  double sft_lr = 1e-3;

  // Every field in its range, combinations included; an error names the field and the value.
  // Called by run_fine_tunings before any work, and by the example before it pretrains.
  void validate() const {
    const auto positive = [](const char* field, double v) {
      GFNLM_CHECK(std::isfinite(v) && v > 0, "ExperimentConfig: {} = {} must be finite and > 0",
                  field, v);
    };
    GFNLM_CHECK(samples >= 1 && samples <= kMaxSamples,
                "ExperimentConfig: samples = {} must be from 1 to {}", samples, kMaxSamples);
    GFNLM_CHECK(eval_chunk >= 1, "ExperimentConfig: eval_chunk = {} must be >= 1", eval_chunk);
    GFNLM_CHECK(lora.rank >= 1, "ExperimentConfig: lora.rank = {} must be >= 1", lora.rank);
    positive("lora.alpha", lora.alpha);
    GFNLM_CHECK(base.steps >= 1 && base.batch >= 1 && base.d_model >= 1 && base.n_layer >= 1 &&
                    base.n_head >= 1 && base.d_model % base.n_head == 0,
                "ExperimentConfig: base model steps {} batch {} d_model {} n_layer {} n_head {}: "
                "all must be >= 1 and d_model a multiple of n_head",
                base.steps, base.batch, base.d_model, base.n_layer, base.n_head);
    positive("base.lr", base.lr);
    GFNLM_CHECK(
        gfn_steps >= 1 && ppo_steps >= 1 && grpo_steps >= 1 && sft_steps >= 1,
        "ExperimentConfig: gfn_steps {}, ppo_steps {}, grpo_steps {}, sft_steps {} must all "
        "be >= 1",
        gfn_steps, ppo_steps, grpo_steps, sft_steps);
    GFNLM_CHECK(grpo_groups >= 1, "ExperimentConfig: grpo_groups = {} must be >= 1", grpo_groups);
    grpo.validate();
    GFNLM_CHECK(
        gfn_batch >= 1 && gfn_groups >= 1 && gfn_buffer >= 1 && ppo_batch >= 1 && sft_batch >= 1,
        "ExperimentConfig: gfn_batch {}, gfn_groups {}, gfn_buffer {}, ppo_batch {}, "
        "sft_batch {} must all be >= 1",
        gfn_batch, gfn_groups, gfn_buffer, ppo_batch, sft_batch);
    GFNLM_CHECK(gfn_min_len >= 0 && gfn_min_len <= kMaxAnswerTokens,
                "ExperimentConfig: gfn_min_len = {} must be from 0 to {} (the longest answer)",
                gfn_min_len, kMaxAnswerTokens);
    positive("gfn_lr", gfn_lr);
    positive("gfn_log_z_lr", gfn_log_z_lr);
    positive("gfn_subtb_lambda", gfn_subtb_lambda);
    positive("sft_lr", sft_lr);
    GFNLM_CHECK(std::isfinite(gfn_buffer_tolerance) && gfn_buffer_tolerance >= 0,
                "ExperimentConfig: gfn_buffer_tolerance = {} must be >= 0", gfn_buffer_tolerance);
    GFNLM_CHECK(gfn_curve_every >= 0, "ExperimentConfig: gfn_curve_every = {} must be >= 0",
                gfn_curve_every);
    GFNLM_CHECK(seed_answers >= 0 && seed_answers <= kNumValues,
                "ExperimentConfig: seed_answers = {} must be from 0 to {} (the valid answers)",
                seed_answers, kNumValues);
    gfn_exploration.validate();
    GFNLM_CHECK(gfn_exploration.replay_rows_per_query < gfn_batch,
                "ExperimentConfig: gfn_exploration.replay_rows_per_query = {} must be below "
                "gfn_batch = {}",
                gfn_exploration.replay_rows_per_query, gfn_batch);
  }

  // The settings of --quick (a test runs it): a shorter pretraining and fine-tuning, fewer
  // samples. Still shows the point of the task.
  static ExperimentConfig quick() {
    ExperimentConfig c;
    c.base.steps = 400;  // a less confident base than the default's: ~93% valid after GFlowNet
    c.samples = 2000;
    c.gfn_steps = 400;
    c.ppo_steps = 15;
    c.grpo_steps = 15;
    c.sft_steps = 80;
    return c;
  }
};

// The help a real checkpoint gets by default (the example applies it to the flags a user left
// unset; docs/concepts.md, "When the base never succeeds"). Chosen on a validation prompt
// ("Pick a random number from 0 to 100: ", seed 100), never on the paper's prompt; the measured
// cases are in docs/uniform_integers.md.
inline ExperimentConfig with_real_model_help(ExperimentConfig c) {
  c.train_answer_tokens = true;
  c.seed_answers = kRealModelSeedAnswers;
  c.stop_after_digit = true;
  c.gfn_steps = kRealModelGfnSteps;
  return c;
}

struct ModelResult {
  std::string name;          // "base", "PPO", "GRPO", "SFT", "GFlowNet"
  AnswerCounts counts;       // of `samples` answers
  UniformityReport report;   // eval/distribution.hpp figures from the counts
  double train_seconds = 0;  // fine-tuning wall time (pretraining for the base)
  double eval_seconds = 0;
  std::optional<LogPartitionEstimate> log_z;  // GFlowNet: log Z of the target from its samples
  ExactAnswerProbabilities exact;             // teacher-forced q of every valid answer (exact.hpp)
};

// One point of the GFlowNet's training curve (ExperimentConfig::gfn_curve_every).
struct CurvePoint {
  int step = 0;
  double loss = 0;
  double valid_mass = 0;  // exact sum of q(v STOP) over the 101 valid answers
  double kl_valid = 0;    // exact KL(q over 0..100, renormalised || uniform)
};

struct ExperimentResults {
  std::vector<ModelResult> models;  // base, PPO, GRPO, SFT, GFlowNet (in this order)
  bool base_from_cache = false;
  std::filesystem::path base_model_file;  // empty when not cached
  double true_log_z = 0;  // log of the target's total mass: 101 valid answers at e^8, the rest ~0
  double total_seconds = 0;
  std::vector<CurvePoint> gfn_curve;
};

// Receives the results so far after each model's evaluation.
using ResultsCallback = std::function<void(const ExperimentResults&)>;

namespace detail {

using Clock = std::chrono::steady_clock;
inline double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

inline std::string_view objective_name(ExperimentConfig::Objective o) {
  return o == ExperimentConfig::Objective::trajectory_balance ? "TB" : "modified SubTB";
}

// Trains `policy` with gfnlm::Sampler and objective O on the one prompt. Returns the Sampler's
// mask: it is part of the trained sampler, so the GFlowNet is evaluated with it.
template <class P, class O, Tokenizer Tok>
LogitMask train_gflownet(P& policy, O objective, const AnswerCodec<Tok>& codec,
                         const LmQuery& query, const ExperimentConfig& config,
                         const std::function<void(const std::string&)>& say,
                         std::vector<CurvePoint>& curve) {
  const GfnLogReward<Tok> reward(codec, config.gfn_reward);
  SamplerConfig sc;
  sc.trajectories_per_query = config.gfn_batch;
  sc.max_len = kMaxAnswerTokens;
  sc.min_len = config.gfn_min_len;
  sc.optimizer.lr = config.gfn_lr;
  sc.buffer.capacity = config.gfn_buffer;
  sc.buffer.near_duplicate_tolerance = config.gfn_buffer_tolerance;
  sc.objective_lr = config.gfn_log_z_lr;
  sc.exploration = config.gfn_exploration;
  sc.lr_schedule = WarmupDecay{
      .warmup = 20, .total = config.gfn_steps, .final_fraction = config.gfn_lr_final_fraction};
  sc.reward_temperature = config.gfn_reward_temperature;
  sc.seed = config.seed * 7 + 1;
  sc.quiet = true;  // the loop below reports through say()
  std::tie(sc.allowed_tokens, sc.stop_after_tokens) =
      answer_mask_tokens(codec, policy.vocab_size(), policy.stop_token(),
                         {config.digits_only, config.stop_after_digit});
  const bool data_parallel = config.world && config.world->size() > 1;
  sc.per_query_streams = data_parallel;
  Sampler<P, GfnLogReward<Tok>, O> sampler(policy, reward, sc, std::move(objective));
  if (data_parallel) sampler.set_communicator(*config.world);
  if (config.seed_answers > 0) {
    std::vector<std::vector<int32_t>> seeds;
    for (int v : seeded_answers(config.seed_answers)) {
      seeds.push_back(codec.tokens(std::to_string(v)));
      const auto read = codec.parse(seeds.back());
      GFNLM_CHECK(read.is_valid() && read.value == v,
                  "seed answer {}: its tokens [{}] read back as {:?}, not the answer (tokenizer "
                  "merges across the prompt's end?)",
                  v, fmt::join(seeds.back(), " "), codec.text(seeds.back()));
    }
    const int stored = sampler.seed_buffer(query, seeds);
    say(fmt::format("  GFlowNet: {} of {} seeded answers in the replay buffer", stored,
                    seeds.size()));
  }
  const std::vector<LmQuery> groups(std::max(config.gfn_groups, 1), query);
  for (int step = 0; step < config.gfn_steps; ++step) {
    const auto m = sampler.train_step(std::span<const LmQuery>(groups));
    if (config.gfn_curve_every > 0 &&
        ((step + 1) % config.gfn_curve_every == 0 || step + 1 == config.gfn_steps)) {
      const auto& mask = sampler.mask();
      const auto ex = exact_answer_probabilities(policy, query, codec, &mask);
      curve.push_back({step + 1, m.loss, ex.valid_mass, ex.kl_valid});
      say(fmt::format("  GFlowNet step {:4d}: exact valid mass {:.4f}  exact KL {:.4f}", step + 1,
                      ex.valid_mass, ex.kl_valid));
    }
    if (step % 20 == 0 || step + 1 == config.gfn_steps)
      say(fmt::format(
          "  GFlowNet ({}) step {:4d}/{}  loss {:8.3f}  mean log R {:6.2f}  log Z {:6.2f}  "
          "|grad| {:.2f} (clipped to {})",
          objective_name(config.gfn_objective), step + 1, config.gfn_steps, m.loss, m.mean_log_r,
          m.log_z, m.grad_norm, sc.grad_clip));
  }
  return sampler.mask();
}

}  // namespace detail

// Samples n answers from a policy (plain ancestral sampling at T = 1 by gfn/rollout.hpp's engine,
// as sample_rollouts does, length limit kMaxAnswerTokens) and parses them. With log_z_out, also
// the log-partition estimate of the GFlowNet target (gfn/log_partition.hpp) from the same samples
// and the log q the rollouts recorded (the final STOP included). mask null: none.
template <class P, Tokenizer Tok>
AnswerCounts evaluate_policy(P& policy, const LmQuery& query, const AnswerCodec<Tok>& codec, int n,
                             int chunk, Rng& rng, const GfnRewardConfig* reward = nullptr,
                             LogPartitionEstimate* log_z_out = nullptr,
                             const LogitMask* mask = nullptr,
                             const std::function<void(int done, int total)>& progress = {}) {
  AnswerCounts counts;
  BasicTrajectoryBatch<double> log_q_batch;  // rows of length 0 carrying log q and log R
  if (log_z_out) log_q_batch.resize(n, 0);
  std::optional<LogitMask> own_mask;
  if (!mask) own_mask.emplace(policy.vocab_size(), policy.stop_token(), 0);
  std::optional<GfnLogReward<Tok>> gfn_reward;  // the GFlowNet's reward, for log Z
  if (log_z_out) gfn_reward.emplace(codec, *reward);
  const RolloutSpec<typename P::Query> spec{mask ? mask : &*own_mask, kMaxAnswerTokens, nullptr};
  for (int start = 0; start < n; start += chunk) {
    const int rows = std::min(chunk, n - start);
    const std::vector<LmQuery> queries(rows, query);
    const std::vector<double> temperatures(rows, 1.0);
    std::vector<Trajectory> samples(rows);
    std::vector<Trajectory*> out(rows);
    for (int b = 0; b < rows; ++b) out[b] = &samples[b];
    rollout(policy, std::span<const LmQuery>(queries), std::span<const double>(temperatures), spec,
            rng, std::span<Trajectory* const>(out));
    for (int b = 0; b < rows; ++b) {
      const std::span<const int32_t> z(samples[b].actions);
      const auto answer = codec.parse(z, samples[b].stopped);
      counts.add(answer);
      if (!answer.is_valid()) ++counts.invalid_text[codec.text(z)];
      if (!log_z_out) continue;
      log_q_batch.log_stop(start + b, 0) = samples[b].log_q;
      log_q_batch.log_r(start + b, 0) = (*gfn_reward)(0, z);
      log_q_batch.query[start + b] = 0;
    }
    if (progress) progress(start + rows, n);
  }
  if (log_z_out) *log_z_out = estimate_log_partition(log_q_batch, 1)[0];
  return counts;
}

// The GFlowNet fine-tuning of `policy` (its model already has fresh LoRA adapters) with the
// configured objective; returns the mask the trained sampler samples with. Any LmPolicy: the
// backend is the policy's (examples/uniform_integers_cuda.cu trains on Transformer<Cuda>).
template <class P, Tokenizer Tok>
LogitMask train_gflownet(P& policy, const AnswerCodec<Tok>& codec, const LmQuery& query,
                         const ExperimentConfig& config,
                         const std::function<void(const std::string&)>& say,
                         std::vector<CurvePoint>& curve) {
  if (config.gfn_objective == ExperimentConfig::Objective::trajectory_balance)
    return detail::train_gflownet(
        policy,
        TrajectoryBalance(TrajectoryBalanceConfig{.log_z_init = config.gfn_log_z_init,
                                                  .log_z_lr = config.gfn_log_z_lr}),
        codec, query, config, say, curve);
  return detail::train_gflownet(
      policy,
      ModifiedSubTB(ModifiedSubTBConfig{.lambda = config.gfn_subtb_lambda,
                                        .learn_root_flow = config.gfn_subtb_root_flow,
                                        .log_z_init = config.gfn_log_z_init,
                                        .log_z_lr = config.gfn_log_z_lr}),
      codec, query, config, say, curve);
}

// Samples r's model `config.samples` times and fills r's counts, report, exact probabilities and
// (log_z) log-partition estimate. Base, PPO, GRPO and SFT sample without masks; the GFlowNet with
// its Sampler's (min-length) mask.
template <class P, Tokenizer Tok>
void evaluate_model(ModelResult& r, P& policy, const LmQuery& query, const AnswerCodec<Tok>& codec,
                    const ExperimentConfig& config, bool log_z, const LogitMask* mask,
                    const std::function<void(const std::string&)>& say) {
  const auto te = detail::Clock::now();
  Rng eval_rng(config.seed * 31 + r.name.size());
  LogPartitionEstimate est;
  // A line every tenth of a long evaluation (more than 10 chunks), so a large --samples shows
  // how far it is.
  const int chunks = (config.samples + config.eval_chunk - 1) / config.eval_chunk;
  const int every = std::max(1, chunks / 10);
  int chunk = 0;
  const auto progress = [&](int done, int total) {
    if (chunks > 10 && (++chunk % every == 0) && done < total)
      say(fmt::format("  sampling {}: {}/{} ({:.0f} s)", r.name, done, total,
                      detail::seconds_since(te)));
  };
  r.counts = evaluate_policy(policy, query, codec, config.samples, config.eval_chunk, eval_rng,
                             &config.gfn_reward, log_z ? &est : nullptr, mask, progress);
  if (log_z) r.log_z = est;
  r.exact = exact_answer_probabilities(policy, query, codec, mask);
  r.report = uniformity_report(r.counts.value, double(r.counts.invalid()));
  r.eval_seconds = detail::seconds_since(te);
  say(fmt::format(
      "  evaluated {:9s} {:5.1f}% valid  KL {:.4f}  distinct {}  ({:.1f} s); exact: valid {:.4f} "
      "KL {:.4f} q(100) x 101 = {:.3f}",
      r.name, 100 * r.report.valid_fraction, r.report.kl_valid, r.report.distinct_valid,
      r.eval_seconds, r.exact.valid_mass, r.exact.kl_valid,
      std::exp(r.exact.log_q[100 - kMinValue]) * kNumValues));
}

// The fine-tunings and the evaluation on any base model (Transformer or LlamaTransformer, float)
// whose answers are read through `codec` (the prompt's tokens inside it), with `stop` as the STOP
// token. base_result carries the base model's name and preparation time. progress receives one
// line at a time (the example prints them to stderr).
template <class Model, Tokenizer Tok>
ExperimentResults run_fine_tunings(Model& base, const AnswerCodec<Tok>& codec, int32_t stop,
                                   const ExperimentConfig& config, ModelResult base_result,
                                   const std::function<void(std::string_view)>& progress = {},
                                   const ResultsCallback& on_evaluated = {}) {
  using Policy = BasicLmPolicy<Model, LmQuery>;
  const auto say = [&](const std::string& line) {
    if (progress) progress(line);
  };
  config.validate();
  const auto t_total = detail::Clock::now();
  ExperimentResults results;
  const LmQuery query{{codec.prompt().begin(), codec.prompt().end()}, {}, 0};
  GFNLM_CHECK(!query.prompt.empty(), "run_fine_tunings: the prompt has no tokens");
  Rng rng(config.seed * 0x9E3779B97F4A7C15ULL + 12345);

  // Four fine-tunings from copies of the same base, each with fresh LoRA adapters.
  auto adapted = [&](uint64_t salt) {
    Model m = base;
    Rng init(config.seed * 1000003ULL + salt);
    m.enable_lora(config.lora, init);
    if (config.train_answer_tokens)
      m.enable_trainable_tokens(digit_tokens(codec, m.config().vocab_size, stop));
    return m;
  };
  Policy base_policy(base, stop);

  // GFlowNet.
  Model gfn_model = adapted(1);
  Policy gfn_policy(gfn_model, stop);
  auto t0 = detail::Clock::now();
  const LogitMask gfn_mask =
      train_gflownet(gfn_policy, codec, query, config, say, results.gfn_curve);
  ModelResult gfn_result;
  gfn_result.name = "GFlowNet";
  gfn_result.train_seconds = detail::seconds_since(t0);

  // PPO against the frozen base.
  Model ppo_model = adapted(2);
  Policy ppo_policy(ppo_model, stop);
  const PpoReward<Tok> ppo_reward(codec, config.ppo_reward);
  const std::optional<LogitMask> helped = answer_mask(
      codec, base_policy.vocab_size(), stop, {config.digits_only, config.stop_after_digit});
  const LogitMask* helped_ptr = helped ? &*helped : nullptr;
  PpoTrainer ppo(ppo_policy, frozen_reference(base_policy), ppo_reward, config.ppo,
                 config.seed * 7 + 2, helped_ptr);
  const std::vector<LmQuery> ppo_queries(config.ppo_batch, query);
  t0 = detail::Clock::now();
  for (int step = 0; step < config.ppo_steps; ++step) {
    const auto s = ppo.train_step(ppo_queries);
    if (step % 10 == 0 || step + 1 == config.ppo_steps)
      say(fmt::format("  PPO step {:4d}/{}  reward {:6.2f}  KL {:.3f}  beta {:.3f}  clip {:.2f}",
                      step + 1, config.ppo_steps, s.mean_reward, s.mean_kl, s.beta,
                      s.clip_fraction));
  }
  ModelResult ppo_result;
  ppo_result.name = "PPO";
  ppo_result.train_seconds = detail::seconds_since(t0);

  // GRPO on the same reward, with PPO's rollout budget.
  Model grpo_model = adapted(4);
  Policy grpo_policy(grpo_model, stop);
  GrpoTrainer grpo(grpo_policy, frozen_reference(base_policy), ppo_reward, config.grpo,
                   config.seed * 7 + 4, helped_ptr);
  const std::vector<LmQuery> grpo_queries(config.grpo_groups, query);
  t0 = detail::Clock::now();
  for (int step = 0; step < config.grpo_steps; ++step) {
    const auto s = grpo.train_step(grpo_queries);
    if (step % 10 == 0 || step + 1 == config.grpo_steps)
      say(fmt::format(
          "  GRPO step {:4d}/{}  reward {:6.2f}  group std {:.3f}  zero-std groups {:.2f}  "
          "clip {:.2f}",
          step + 1, config.grpo_steps, s.mean_reward, s.mean_group_std, s.zero_std_fraction,
          s.clip_fraction));
  }
  ModelResult grpo_result;
  grpo_result.name = "GRPO";
  grpo_result.train_seconds = detail::seconds_since(t0);

  // SFT on integers drawn uniformly.
  Model sft_model = adapted(3);
  Policy sft_policy(sft_model, stop);
  SftTrainer sft(sft_policy, SftConfig{.lr = config.sft_lr}, helped_ptr);
  const std::vector<LmQuery> sft_queries(config.sft_batch, query);
  const std::vector<int> sft_pool = seeded_answers(config.seed_answers);  // empty: all 101
  t0 = detail::Clock::now();
  for (int step = 0; step < config.sft_steps; ++step) {
    std::vector<std::vector<int32_t>> targets;
    targets.reserve(config.sft_batch);
    for (int i = 0; i < config.sft_batch; ++i) {
      const int v = sft_pool.empty() ? kMinValue + int(rng.below(kNumValues))
                                     : sft_pool[rng.below(sft_pool.size())];
      targets.push_back(codec.tokens(std::to_string(v)));
    }
    const double nll = sft.train_step(sft_queries, targets);
    if (step % 20 == 0 || step + 1 == config.sft_steps)
      say(fmt::format("  SFT step {:4d}/{}  NLL/token {:.4f}", step + 1, config.sft_steps, nll));
  }
  ModelResult sft_result;
  sft_result.name = "SFT";
  sft_result.train_seconds = detail::seconds_since(t0);

  // Evaluation: the same sampler code for every model.
  // Each model's figures reach on_evaluated as soon as they exist (the example writes them), so
  // a late failure never loses the models already evaluated.
  results.true_log_z = config.gfn_reward.valid + std::log(double(kNumValues));
  auto evaluate = [&](ModelResult& r, Policy& policy, bool log_z, const LogitMask* mask = nullptr) {
    evaluate_model(r, policy, query, codec, config, log_z, mask, say);
    results.models.push_back(r);
    results.total_seconds = detail::seconds_since(t_total);
    if (on_evaluated) on_evaluated(results);
  };
  say(fmt::format("evaluating {} samples per model", config.samples));
  evaluate(base_result, base_policy, false);
  evaluate(ppo_result, ppo_policy, false, helped_ptr);
  evaluate(grpo_result, grpo_policy, false, helped_ptr);
  evaluate(sft_result, sft_policy, false, helped_ptr);
  evaluate(gfn_result, gfn_policy, true, &gfn_mask);
  results.total_seconds = detail::seconds_since(t_total);
  return results;
}

// The experiment on the embedded base model: pretrained (or loaded from the cache), then
// run_fine_tunings with the char tokenizer, kCharPrompt and <eos> as STOP.
inline ExperimentResults run_experiment(const ExperimentConfig& config,
                                        const std::function<void(std::string_view)>& progress = {},
                                        const ResultsCallback& on_evaluated = {}) {
  config.validate();
  const auto say = [&](const std::string& line) {
    if (progress) progress(line);
  };
  const auto t0 = detail::Clock::now();
  const auto tok = char_tokenizer();
  const AnswerCodec<CharTokenizer> codec(tok, tok.encode(kCharPrompt));
  bool from_cache = false;
  say(fmt::format("base model: {}", config.base.fingerprint()));
  Transformer<Cpu, float> base = load_or_pretrain_base_model(
      config.base, config.cache_dir, &from_cache, [&](int step, double loss) {
        say(fmt::format("  pretrain step {:4d}/{}  loss {:.4f}", step + 1, config.base.steps,
                        loss));
      });
  std::filesystem::path file;
  if (!config.cache_dir.empty()) file = base_model_path(config.base, config.cache_dir);
  say(from_cache ? fmt::format("  loaded from {}", file.string())
                 : fmt::format("  pretrained in {:.1f} s", detail::seconds_since(t0)));
  ModelResult base_result;
  base_result.name = "base";
  base_result.train_seconds = detail::seconds_since(t0);
  const auto with_base = [&](ExperimentResults& r) {
    r.base_from_cache = from_cache;
    r.base_model_file = file;
  };
  auto results = run_fine_tunings(base, codec, tok.eos_id(), config, base_result, progress,
                                  [&](const ExperimentResults& partial) {
                                    if (!on_evaluated) return;
                                    auto r = partial;
                                    with_base(r);
                                    on_evaluated(r);
                                  });
  with_base(results);
  results.total_seconds = detail::seconds_since(t0);
  return results;
}

}  // namespace gfnlm::uniform_integers

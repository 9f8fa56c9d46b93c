#pragma once
// One GFlowNet train step through gfnlm::Sampler (issue 8, workload 3): rollout with the KV cache,
// prefix rewards from the frozen base (adapters off, one teacher-forced pass, SPEC section 3),
// modified SubTB (SPEC section 2, lambda 1), backward, AdamW on the LoRA parameters only.
// Peer: gfn_step.py does the same step in PyTorch. Prints one JSON line with the step times and a
// per-phase split.
//
// The step is a template over the model's backend: gfn_step.cpp runs it on the host (Cpu),
// gfn_step_cuda.cu on the GPU (Cuda: the model, its LoRA parameters and AdamW in device memory).
// The policy masks, log-softmaxes and draws on its own backend (gfn/policy.hpp): only tokens,
// gathered log-probabilities and their gradients cross to the host, where the Sampler does the
// rest. On an asynchronous backend every phase mark waits for the queued work first, so each
// phase is charged its own kernels.
//
// Phases (phases_mean_ms; the PyTorch peer's "rollout" is the sum of the three rollout_*):
//   rollout_prompt   start_rollout: the prompts' decode into the KV cache;
//   rollout_draw     every draw(): the decode of the tokens queued since the last draw, then the
//                    masked, tempered draw of each row's next token on the backend;
//   rollout_host     the rollout loop between draws (uniforms, bookkeeping, advance queueing)
//                    and after the last one;
//   reward           the frozen base's prefix log-rewards;
//   policy_forward   score(): the teacher-forced forward and the fused masked log-softmax gather
//                    of log q(a_t | s_t) and log q(STOP | s_t);
//   loss             modified SubTB and d loss / d log q;
//   policy_backward  backward(): d log q -> d logits (the log-softmax's backward) and the model's;
//   optimizer        clip, AdamW and the step's metrics; other: the rest (behaviour choice, batch
//                    set-up, zero_grad, batch building).
//
// Both sides do the same work whatever the random draws:
// - pure on-policy (p_on_policy 1, no tempering, no replay) and the replay buffer replaced by one
//   that stores nothing (the PyTorch peer keeps none);
// - STOP is banned during the rollout only: the wrapper's draw() hands the policy the Sampler's
//   mask with min_len raised to max_len (LogitMask::bans_stop at every state a row draws at), so
//   every trajectory takes exactly max_len = 24 tokens; score() gets the Sampler's own mask, so
//   the rewards and the loss still use the real log p_base(STOP | prefix) and log q(STOP | s_t)
//   at every state (a max-length row counts as stopped at s_24 with q(STOP) = 1, SPEC section 2);
// - log_reward_floor -1e4 (the default -100 would clamp the rewards of random models, about
//   -4 nats/token at the toy config and -11 at GPT-2 small); no warm-up; grad clip 1 on both sides.
#include "bench_common.hpp"

#include <gfnlm/gfn/masks.hpp>
#include <gfnlm/gfn/policy.hpp>
#include <gfnlm/gfn/sampler.hpp>
#include <gfnlm/policies/lm_policy.hpp>
#include <gfnlm/rewards/lm_likelihood.hpp>

#include <omp.h>
#include <time.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <vector>

namespace gfnlm::bench::gfn_step {

using Clock = std::chrono::steady_clock;

// Waits for the backend's queued work (a no-op on host backends, whose calls return finished).
template <class Bk>
void synchronize() {
  if constexpr (!Bk::host_memory) Bk::synchronize();
}

// Splits wall time into phases: mark(p) charges the time since the previous mark to p.
template <class Bk>
struct PhaseClock {
  Clock::time_point last = Clock::now();
  std::map<std::string, double> ms;
  void mark(const std::string& phase) {
    synchronize<Bk>();
    const auto now = Clock::now();
    ms[phase] += std::chrono::duration<double, std::milli>(now - last).count();
    last = now;
  }
};

// `mask` with STOP also banned at every state with fewer than `len` actions (its vocabulary part
// kept): LogitMask bans STOP before min_len, so this is the mask with min_len raised to len.
inline gfnlm::LogitMask ban_stop_before(const gfnlm::LogitMask& mask, int len) {
  std::vector<int32_t> allowed;
  if (!mask.all_allowed())
    for (int v = 0; v < mask.vocab_size(); ++v)
      if (mask.allowed(v)) allowed.push_back(v);
  return gfnlm::LogitMask(mask.vocab_size(), mask.stop_token(), std::max(mask.min_len(), len),
                          allowed, mask.stop_after_tokens());
}

inline bool same_mask(const gfnlm::LogitMask& a, const gfnlm::LogitMask& b) {
  const auto x = a.allowed_bytes(), y = b.allowed_bytes();
  return a.stop_token() == b.stop_token() && a.min_len() == b.min_len() &&
         std::equal(x.begin(), x.end(), y.begin(), y.end());
}

// LmPolicy with STOP banned in rollouts (every row takes max_len tokens) and clock marks.
template <class Bk>
struct BenchPolicy {
  using Query = gfnlm::LmQuery;
  using Optimizer = typename gfnlm::LmPolicy<Bk>::Optimizer;  // where the parameters live
  gfnlm::LmPolicy<Bk>& inner;
  PhaseClock<Bk>& clock;
  int max_len;  // the Sampler's: STOP is banned at every state a rollout draws at
  // The last mask draw() was given (the Sampler's) and that mask with STOP banned before max_len.
  gfnlm::LogitMask given{}, no_stop{};
  bool have_mask = false;

  int vocab_size() const { return inner.vocab_size(); }
  int32_t stop_token() const { return inner.stop_token(); }
  void start_rollout(std::span<const Query> rows) {
    clock.mark("other");  // behaviour choice, batch set-up
    inner.start_rollout(rows);
    clock.mark("rollout_prompt");
  }
  void draw(const gfnlm::LogitMask& mask, const gfnlm::DrawStep& step, std::span<int32_t> drawn,
            std::span<double> drawn_log_q) {
    clock.mark("rollout_host");  // the loop since the last draw (or since start_rollout)
    if (!have_mask || !same_mask(mask, given)) {
      given = mask, no_stop = ban_stop_before(mask, max_len), have_mask = true;
    }
    inner.draw(no_stop, step, drawn, drawn_log_q);
    clock.mark("rollout_draw");
  }
  void advance(std::span<const int32_t> tokens) { inner.advance(tokens); }
  void append_context(int row, std::span<const int32_t> tokens) {
    inner.append_context(row, tokens);
  }
  void score(std::span<const Query> q, const gfnlm::LogitMask& mask,
             gfnlm::TrajectoryBatch& batch) {
    clock.mark("other");  // zero_grad, batch building
    inner.score(q, mask, batch);
    clock.mark("policy_forward");
  }
  void backward(const gfnlm::TrajectoryGrad& grad, double scale) {
    inner.backward(grad, scale);
    clock.mark("policy_backward");
  }
  gfnlm::ParameterList<float> parameters() { return inner.parameters(); }
};
static_assert(gfnlm::Policy<BenchPolicy<gfnlm::Cpu>>);

template <class Bk>
struct BenchReward {
  gfnlm::LmLikelihoodReward<Bk> inner;
  PhaseClock<Bk>* clock;
  void prefix_log_rewards_batch(std::span<const gfnlm::RewardRequest<gfnlm::LmQuery>> rows) {
    clock->mark("rollout_host");  // the rollout loop after the last draw
    inner.prefix_log_rewards_batch(rows);
    clock->mark("reward");
  }
};

template <class Bk>
struct BenchObjective {
  gfnlm::ModifiedSubTB inner;
  PhaseClock<Bk>* clock;
  template <class S>
  double operator()(const gfnlm::BasicTrajectoryBatch<S>& batch,
                    gfnlm::BasicTrajectoryGrad<S>& grad) {
    const double loss = inner(batch, grad);
    clock->mark("loss");
    return loss;
  }
  gfnlm::ParameterList<float> parameters() { return {}; }
};

// A buffer that keeps nothing: the benchmark never replays (the PyTorch peer has no buffer).
struct NoBuffer {
  struct Item {
    std::vector<int32_t> actions;
  };
  explicit NoBuffer(gfnlm::ReplayBufferConfig) {}
  bool add(uint64_t, std::span<const int32_t>, double) { return false; }
  bool empty(uint64_t) const { return true; }
  std::size_t total_size() const { return 0; }
  std::vector<const Item*> sample(uint64_t, int, gfnlm::Rng&, double) const { return {}; }
  void save(std::ostream&) const {}
  void load(std::istream&) {}
};

// CPU time of the whole process (all threads): on a shared machine it moves less with the load
// than wall time does.
inline double cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// The last per-query batch and its loss, for gfn_step.py --check-loss.
inline void dump_batch(const gfnlm::TrajectoryBatch& b, double floor, const std::string& path) {
  nlohmann::json j;
  const int rows = b.rows(), L = b.max_len();
  std::vector<std::vector<double>> pf(rows), stop(rows), r(rows);
  for (int i = 0; i < rows; ++i) {
    for (int t = 0; t < L; ++t) pf[i].push_back(b.log_pf(i, t));
    for (int t = 0; t <= L; ++t) stop[i].push_back(b.log_stop(i, t)), r[i].push_back(b.log_r(i, t));
  }
  gfnlm::TrajectoryGrad grad;
  const double loss = gfnlm::ModifiedSubTB({.log_reward_floor = floor})(b, grad);
  j["log_pf"] = pf;
  j["log_stop"] = stop;
  j["log_r"] = r;
  j["length"] = b.length;
  j["stopped"] = std::vector<int>(b.stopped.begin(), b.stopped.end());
  j["log_reward_floor"] = floor;
  j["loss"] = loss;
  std::ofstream(path) << j.dump() << "\n";
}

// What a backend's main adds around the common program (all optional).
struct Extras {
  std::function<void(CLI::App&)> add_options;   // its own flags
  std::function<int()> prepare;                 // after parsing, before the model: nonzero exits
  std::function<void()> before_timed;           // after the warm-up steps, before the timed ones
  std::function<void(nlohmann::json&)> report;  // fields added to (or replaced in) the JSON line
};

template <class Bk>
int run(int argc, char** argv, const Extras& extras = {}) {
  CLI::App app{"Time one GFlowNet train step (rollout, prefix rewards, modified SubTB, AdamW)"};
  std::string preset = "toy", dump;
  int threads = 2, iters = 10, warmup = 2, max_len = 24, prompt_len = 8, rank = 16;
  int queries = -1, per_query = -1;
  app.add_option("--config", preset, "toy (V64 L4 H4 d128; 8 x 16 rows) or gpt2 (124M; 2 x 8)")
      ->check(CLI::IsMember({"toy", "gpt2"}));
  app.add_option("--threads", threads, "OpenMP threads")->check(CLI::PositiveNumber);
  app.add_option("--iters", iters, "timed steps")->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup, "untimed steps first");
  app.add_option("--queries", queries, "queries per step (default by config)");
  app.add_option("--trajectories", per_query, "trajectories per query (default by config)");
  app.add_option("--max-len", max_len, "tokens per trajectory")->check(CLI::PositiveNumber);
  app.add_option("--lora-rank", rank, "LoRA rank of the attention and MLP projections (16)")
      ->check(CLI::PositiveNumber);
  app.add_option("--dump-batch", dump, "write the first step's last query batch and loss (JSON)");
  if (extras.add_options) extras.add_options(app);
  CLI11_PARSE(app, argc, argv);
  omp_set_num_threads(threads);
  if (extras.prepare)
    if (const int rc = extras.prepare(); rc != 0) return rc;

  gfnlm::TransformerConfig c;
  if (preset == "toy") {
    c = {64, 64, 4, 4, 128, true, 0.02};
    if (queries < 0) queries = 8;
    if (per_query < 0) per_query = 16;
  } else {
    c = gfnlm::TransformerConfig::gpt2_small();
    if (queries < 0) queries = 2;
    if (per_query < 0) per_query = 8;
  }
  const int32_t stop = 13;  // "." in GPT-2's vocabulary; any fixed id would do
  gfnlm::Rng rng(1);
  gfnlm::Transformer<Bk> model(c, rng);
  model.enable_lora({.rank = rank, .alpha = 16.0}, rng);  // attention and MLP projections
  gfnlm::LmPolicy<Bk> lm_policy(model, stop);

  std::vector<gfnlm::LmQuery> qs(queries);
  for (int i = 0; i < queries; ++i) {
    for (int k = 0; k < prompt_len; ++k)
      qs[i].prompt.push_back(static_cast<int32_t>(rng.below(c.vocab_size)));
    qs[i].id = i;
  }

  PhaseClock<Bk> clock;
  const double floor = -1e4;
  BenchPolicy<Bk> policy{lm_policy, clock, max_len};
  BenchReward<Bk> reward{
      gfnlm::LmLikelihoodReward<Bk>(model, {.context = {}, .end_tokens = {stop}}), &clock};
  BenchObjective<Bk> objective{gfnlm::ModifiedSubTB({.lambda = 1.0, .log_reward_floor = floor}),
                               &clock};
  gfnlm::SamplerConfig config;
  config.trajectories_per_query = per_query;
  config.max_len = max_len;
  config.exploration = {.p_on_policy = 1.0, .p_tempered = 0.0, .p_replay = 0.0};
  config.optimizer = {.lr = 5e-4, .weight_decay = 0.0};
  config.lr_schedule = {.warmup = 0};
  config.grad_clip = 1.0;
  config.seed = 3;
  config.quiet = true;  // nothing but the step on the clock
  gfnlm::Sampler<BenchPolicy<Bk>, BenchReward<Bk>, BenchObjective<Bk>, NoBuffer> sampler(
      policy, reward, config, objective);

  std::vector<double> ms, cpu;
  std::map<std::string, double> phase_sum;
  double loss = 0;
  for (int i = 0; i < warmup + iters; ++i) {
    if (i == warmup && extras.before_timed) extras.before_timed();
    clock.ms.clear();
    synchronize<Bk>();
    const auto t0 = Clock::now();
    const double c0 = cpu_ms();
    clock.last = t0;
    const auto m = sampler.train_step(qs);
    clock.mark("optimizer");  // clip + AdamW + metrics after the last backward
    const double dt = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    loss = m.loss;
    if (i == 0 && !dump.empty()) dump_batch(sampler.last_batch(), floor, dump);
    if (i >= warmup) {
      ms.push_back(dt);
      cpu.push_back(cpu_ms() - c0);
      for (const auto& [k, v] : clock.ms) phase_sum[k] += v;
    }
  }
  const double median = gfnlm::bench::median(ms);
  nlohmann::json phases;
  for (const auto& [k, v] : phase_sum) phases[k] = v / iters;
  const int rows = queries * per_query;
  std::size_t lora_params = 0;
  for (const auto& p : model.lora_parameters()) lora_params += p.size;
  nlohmann::json out = {{"impl", "gfnlm"},
                        {"workload", "gfn_step"},
                        {"config", preset},
                        {"threads", threads},
                        {"params", model.num_parameters()},
                        {"lora_params", lora_params},
                        {"queries", queries},
                        {"trajectories_per_query", per_query},
                        {"max_len", max_len},
                        {"prompt_len", prompt_len},
                        {"median_ms", median},
                        {"min_ms", *std::min_element(ms.begin(), ms.end())},
                        {"times_ms", ms},
                        {"cpu_ms", cpu},
                        {"median_cpu_ms", gfnlm::bench::median(cpu)},
                        {"phases_mean_ms", phases},
                        {"rollout_tokens_per_s", rows * max_len / (median / 1000.0)},
                        {"trajectories_per_s", rows / (median / 1000.0)},
                        {"final_loss", loss},
                        {"gemm", gfnlm::bench::gemm_backend()},
                        {"peak_rss_mb", gfnlm::bench::peak_rss_mb()}};
  if (extras.report) extras.report(out);
  std::cout << out.dump() << std::endl;
  return 0;
}

}  // namespace gfnlm::bench::gfn_step

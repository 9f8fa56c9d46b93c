#pragma once
// One GFlowNet train step through gfnlm::Sampler (issue 8, workload 3): rollout with the KV cache,
// prefix rewards from the frozen base (adapters off, one teacher-forced pass, SPEC section 3),
// modified SubTB (SPEC section 2, lambda 1), backward, AdamW on the LoRA parameters only.
// Peer: gfn_step.py does the same step in PyTorch. Prints one JSON line with the step times and a
// per-phase split.
//
// The step is a template over the model's backend: gfn_step.cpp runs it on the host (Cpu),
// gfn_step_cuda.cu on the GPU (Cuda: the model, its LoRA parameters and AdamW in device memory;
// logits come to the host once per forward / decode call, where the Sampler does the rest, as it
// does on the host). On an asynchronous backend every phase mark waits for the queued work first,
// so each phase is charged its own kernels.
//
// Both sides do the same work whatever the random draws:
// - pure on-policy (p_on_policy 1, no tempering, no replay) and the replay buffer replaced by one
//   that stores nothing (the PyTorch peer keeps none);
// - STOP is masked during the rollout only (a wrapper over the policy's next_logits), so every
//   trajectory takes exactly max_len = 24 tokens; the rewards and the loss still use the real
//   log p_base(STOP | prefix) and log q(STOP | s_t) at every state (a max-length row counts as
//   stopped at s_24 with q(STOP) = 1, SPEC section 2);
// - log_reward_floor -1e4 (the default -100 would clamp the rewards of random models, about
//   -4 nats/token at the toy config and -11 at GPT-2 small); no warm-up; grad clip 1 on both sides.
#include "bench_common.hpp"

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
#include <limits>
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

// LmPolicy with STOP masked in rollouts (every row takes max_len tokens) and clock marks.
template <class Bk>
struct BenchPolicy {
  using Query = gfnlm::LmQuery;
  using Optimizer = typename gfnlm::LmPolicy<Bk>::Optimizer;  // where the parameters live
  gfnlm::LmPolicy<Bk>& inner;
  PhaseClock<Bk>& clock;

  int vocab_size() const { return inner.vocab_size(); }
  int32_t stop_token() const { return inner.stop_token(); }
  void start_rollout(std::span<const Query> rows) {
    clock.mark("other");  // behaviour choice, batch set-up
    inner.start_rollout(rows);
    clock.mark("rollout_model");
  }
  void next_logits(std::span<float> logits) {
    clock.mark("rollout_sampling");  // mask, log-softmax and draw of the previous position
    inner.next_logits(logits);
    const int V = vocab_size();
    for (std::size_t r = 0; r < logits.size() / V; ++r)
      logits[r * V + stop_token()] = -std::numeric_limits<float>::infinity();
    clock.mark("rollout_model");
  }
  void advance(std::span<const int32_t> tokens) { inner.advance(tokens); }
  void append_context(int row, std::span<const int32_t> tokens) {
    inner.append_context(row, tokens);
  }
  void score(std::span<const Query> q, const gfnlm::TrajectoryBatch& batch,
             gfnlm::Tensor<float, 3>& logits) {
    clock.mark("other");  // zero_grad, batch building
    inner.score(q, batch, logits);
    clock.mark("policy_forward");
  }
  void backward(const gfnlm::Tensor<float, 3>& dlogits) {
    clock.mark("loss_backward");  // d loss / d log q -> d loss / d logits (masked softmax)
    inner.backward(dlogits);
    clock.mark("policy_backward");
  }
  gfnlm::ParameterList<float> parameters() { return inner.parameters(); }
};

template <class Bk>
struct BenchReward {
  gfnlm::LmLikelihoodReward<Bk> inner;
  PhaseClock<Bk>* clock;
  void prefix_log_rewards_batch(std::span<const gfnlm::RewardRequest<gfnlm::LmQuery>> rows) {
    clock->mark("rollout_sampling");  // the last draw
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
    clock->mark("loss_logsoftmax");  // masked log-softmax of every state's logits
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
  BenchPolicy<Bk> policy{lm_policy, clock};
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
  gfnlm::Sampler<BenchPolicy<Bk>, BenchReward<Bk>, BenchObjective<Bk>, NoBuffer> sampler(
      policy, reward, config, objective);

  std::vector<double> ms, cpu;
  std::map<std::string, double> phase_sum;
  double loss = 0;
  for (int i = 0; i < warmup + iters; ++i) {
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

#pragma once
// What a Sampler is configured with and what it reports (SPEC sections 3-4). Defaults are the
// paper's where it has one; the optimiser's lr is the "small task" value of SPEC section 4.
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/schedule.hpp>
#include <gfnlm/gfn/exploration.hpp>
#include <gfnlm/gfn/replay_buffer.hpp>
#include <gfnlm/gfn/trajectory.hpp>
#include <gfnlm/model/adamw.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace gfnlm {

struct SamplerConfig {
  int trajectories_per_query = 16;  // n rows per query and step
  int max_len = 16;                 // a row that takes max_len actions stops there (q(STOP) = 1)
  int min_len = 0;                  // STOP is masked before min_len actions (SPEC section 4)
  double min_len_penalty = -99.0;   // tempered log R of prefixes shorter than min_len (SPEC 3)
  LinearSchedule reward_temperature{1.0, 1.0, 0};  // T_R: log R / T_R in the loss (SPEC 3)
  ExplorationConfig exploration{};                 // behaviour mixture (SPEC 4)
  ReplayBufferConfig buffer{};                     // top-K replay (SPEC 4)
  std::vector<int32_t> allowed_tokens;             // vocabulary mask; empty = every token
  // STOP is legal only right after one of these tokens (gfn/masks.hpp); empty: after any token.
  // For rewards that are negligible everywhere else (an answer ends after a digit, a sentence
  // after ".!?"), so rollouts and loss terms are never spent on answers that cannot be rewarded.
  std::vector<int32_t> stop_after_tokens;
  AdamWConfig optimizer{.lr = 5e-4, .weight_decay = 0.0};  // the policy's parameters
  // AdamW lr for the objective's own parameters (TB log Z). Unset: the objective's own
  // config().log_z_lr when it has one (TrajectoryBalanceConfig), else 0.1.
  std::optional<double> objective_lr;
  WarmupDecay lr_schedule{.warmup = 20, .total = 0, .final_fraction = 1.0};  // policy lr only
  double grad_clip = 1.0;  // global L2 norm of the policy gradient; <= 0: no clipping
  uint64_t seed = 0;
  // Randomness per query: each query's behaviour, replay draws and rollout uniforms come from its
  // own stream, a function of (seed, step, query key, its occurrence in the step), instead of one
  // stream read in query order. A query's rows then do not depend on the other queries of the
  // step, which data-parallel training needs (Sampler::set_communicator: the result must not
  // depend on which rank holds a query). Off by default: the one stream is what every documented
  // fixed-seed figure was taken with.
  bool per_query_streams = false;
  // Without a progress callback the Sampler prints one line (step, loss, mean log R, log Z, T_R,
  // samples/s, buffer size) to its message sink, stderr by default, after the first step and
  // every progress_every steps, so a new run shows it is alive and learning. 0 or quiet: none.
  // A callback (Sampler::set_progress_callback) replaces the line.
  int progress_every = 50;
  bool quiet = false;

  // Every field that changes what a step computes, as text: data-parallel ranks compare it
  // (distributed/communicator.hpp, check_agreement) before the first step.
  std::string describe() const {
    return fmt::format(
        "n {} max_len {} min_len {} min_len_penalty {} T_R {}->{} over {} exploration {} {} {} "
        "T [{}, {}] replay_rows {} buffer {} {} allowed [{}] stop_after [{}] adamw {} {} {} {} {} "
        "objective_lr {} schedule {} {} {} clip {} seed {} per_query_streams {}",
        trajectories_per_query, max_len, min_len, min_len_penalty, reward_temperature.start,
        reward_temperature.end, reward_temperature.steps, exploration.p_on_policy,
        exploration.p_tempered, exploration.p_replay, exploration.t_low, exploration.t_high,
        exploration.replay_rows_per_query, buffer.capacity, buffer.near_duplicate_tolerance,
        fmt::join(allowed_tokens, " "), fmt::join(stop_after_tokens, " "), optimizer.lr,
        optimizer.beta1, optimizer.beta2, optimizer.eps, optimizer.weight_decay,
        objective_lr ? fmt::format("{}", *objective_lr) : std::string("default"),
        lr_schedule.warmup, lr_schedule.total, lr_schedule.final_fraction, grad_clip, seed,
        per_query_streams);
  }

  void validate() const {
    GFNLM_CHECK(trajectories_per_query >= 1, "SamplerConfig.trajectories_per_query = {} < 1",
                trajectories_per_query);
    GFNLM_CHECK(max_len >= 1, "SamplerConfig.max_len = {} < 1", max_len);
    GFNLM_CHECK(min_len >= 0 && min_len <= max_len,
                "SamplerConfig.min_len = {} must be in [0, max_len = {}]", min_len, max_len);
    GFNLM_CHECK(!std::isnan(min_len_penalty), "SamplerConfig.min_len_penalty is NaN");
    for (int step : {0, reward_temperature.steps}) {
      const double t = reward_temperature(step);
      GFNLM_CHECK(t > 0 && std::isfinite(t),
                  "SamplerConfig.reward_temperature is {} at step {} (must be finite and > 0)", t,
                  step);
    }
    exploration.validate();
    GFNLM_CHECK(exploration.replay_rows_per_query < trajectories_per_query,
                "SamplerConfig: exploration.replay_rows_per_query = {} must be below "
                "trajectories_per_query = {}",
                exploration.replay_rows_per_query, trajectories_per_query);
    GFNLM_CHECK(!std::isnan(grad_clip), "SamplerConfig.grad_clip is NaN (<= 0: no clipping)");
    GFNLM_CHECK(optimizer.lr >= 0 && objective_lr.value_or(0) >= 0,
                "SamplerConfig learning rates must be >= 0 (policy {}, objective {})", optimizer.lr,
                objective_lr.value_or(0));
    GFNLM_CHECK(
        progress_every >= 0,
        "SamplerConfig.progress_every = {} must be >= 0 (steps between progress lines; 0 or "
        "quiet = true: none)",
        progress_every);
  }
};

// One sample from q (Sampler::sample).
struct Sample {
  std::vector<int32_t> actions;        // the policy's tokens, STOP excluded
  std::vector<ContextInsert> context;  // tool output, in order
  double log_r = 0;                    // untempered log R(actions STOP)
  double log_q = 0;                    // log q(actions STOP) at T = 1, masks applied
  bool stopped = true;                 // false: reached max_len (q(STOP) = 1 there)
};

// What one train_step did (also handed to the progress callback).
struct StepMetrics {
  int step = 0;           // index of the step just taken (0 for the first)
  double loss = 0;        // mean over queries of the objective's loss
  double mean_log_r = 0;  // mean untempered log R of the step's finite-reward rows
  double log_z = std::numeric_limits<double>::quiet_NaN();  // mean over queries of the mean of
                                                            // (tempered log R - log q): the current
                                                            // target's log Z estimate; log R = -inf
                                                            // reads as the objective's floor
  double log_z_spread = std::numeric_limits<double>::quiet_NaN();  // mean per-query std of it
  double reward_temperature = 1;                                   // T_R used in this step's loss
  double lr = 0;                // the policy's learning rate this step (after warm-up)
  double grad_norm = 0;         // policy gradient norm before clipping
  int trajectories = 0;         // rows trained on
  int replayed = 0;             // of which replayed from the buffer
  int new_in_buffer = 0;        // fresh rows the buffer accepted
  std::size_t buffer_size = 0;  // items in the buffer after the step
  double samples_per_s = 0;     // trajectories / step_time_s
  double step_time_s = 0;       // wall time of train_step
};

}  // namespace gfnlm

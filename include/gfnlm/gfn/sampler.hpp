#pragma once
// Sampler<Policy, Reward, Objective, Buffer>: the amortized sampler a user instantiates (DESIGN
// user story). It owns everything but the model: the randomness (one gfnlm::Rng, so a resumed run
// repeats bit-for-bit), the behaviour mixture and the replay buffer (SPEC section 4), the masks,
// reward tempering (SPEC section 3), the tool hook (SPEC section 5), the loss (SPEC section 2) and
// the optimisers. The policy applies the masks and the log-softmax on its own backend: only
// tokens, gathered log q and their gradients cross the seam (gfn/policy.hpp). One train_step is
// five phases, one function each:
//   1. choose_behaviours: per query on-policy / tempered / replay (gfn/exploration.hpp);
//   2. collect_rows: every fresh row of every query in ONE rollout (gfn/rollout.hpp, the tool
//      called after each action); replayed rows from the buffer with their tool context rebuilt
//      by calling the tool again (a fresh query's last exploration.replay_rows_per_query rows
//      too, when its buffer holds any);
//   3. score_rewards: log R at every prefix of every row in one call (gfn/reward.hpp); NaN is an
//      error naming the query and tokens; the fresh rows go to the buffer with their UNTEMPERED
//      final log R; a query whose rows all have zero reward is warned about, once per key;
//   4. accumulate_gradients: per query, teacher-force its rows through the policy at T = 1
//      (gathered log q), tempered log R (as float: a finite log R that overflows is an error),
//      objective -> d loss / d log q -> policy.backward with scale 1 / #queries;
//   5. optimizer_step: clip, AdamW on the policy (warm-up schedule) and on the objective's own
//      parameters.
// Data-parallel (set_communicator, distributed/communicator.hpp): every rank is given the same
// queries and takes a contiguous block of them (shard_of); phases 1-4 run on its block alone,
// with per-query randomness (SamplerConfig::per_query_streams) and the loss scaled by the number
// of queries of the whole step. The rows phase 3 offers the replay buffer are exchanged
// (all_gather) and added on every rank in query order, so every rank holds the whole buffer, the
// same as one process would; then the gradients (policy and objective) and the metrics are
// summed over ranks before phase 5, so every rank takes the same optimiser step. Blocks by
// position, not owners by key: a step of one prompt repeated G times (uniform integers) still
// spreads over the ranks. Results then do not depend on the world size beyond float rounding of
// the gradient sums.
// The policy's parameters are zeroed, clipped, stepped and checkpointed by PolicyOptimizer<P>
// (gfn/policy.hpp): the host's AdamW, or the policy's own `Optimizer` where its parameters live
// on a device (LmPolicy<Cuda>), so this file never names a backend. The objective's parameters
// (log Z, root flows) are always on the host.
#include <gfnlm/core/atomic_file.hpp>
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/distributed/communicator.hpp>
#include <gfnlm/gfn/buffer.hpp>
#include <gfnlm/gfn/checkpoint.hpp>
#include <gfnlm/gfn/data_parallel.hpp>
#include <gfnlm/gfn/exploration.hpp>
#include <gfnlm/gfn/log_partition.hpp>
#include <gfnlm/gfn/masks.hpp>
#include <gfnlm/gfn/objectives/modified_subtb.hpp>
#include <gfnlm/gfn/objectives/objective.hpp>
#include <gfnlm/gfn/policy.hpp>
#include <gfnlm/gfn/query_key.hpp>
#include <gfnlm/gfn/replay_buffer.hpp>
#include <gfnlm/gfn/reward.hpp>
#include <gfnlm/gfn/rollout.hpp>
#include <gfnlm/gfn/sampler_config.hpp>
#include <gfnlm/gfn/tool.hpp>
#include <gfnlm/model/adamw.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace gfnlm {

template <Policy P, class R, Objective O = ModifiedSubTB, Buffer B = ReplayBuffer>
class Sampler {
  // A static_assert, not a requires-clause: a failed constraint reads "no operand of the
  // disjunction is satisfied", which does not tell a user what to write.
  static_assert(AnyReward<R, typename P::Query>,
                "gfnlm::Sampler: the reward has none of the four accepted signatures "
                "(gfn/reward.hpp), with Q = the policy's Query: "
                "(1) double r(const Q& query, std::span<const int32_t> actions); "
                "(2) double r(const Q& query, std::span<const int32_t> actions, "
                "std::span<const gfnlm::ContextInsert> context); "
                "(3) void r.prefix_log_rewards(const Q& query, std::span<const int32_t> actions, "
                "std::span<double> out); "
                "(4) void r.prefix_log_rewards_batch(std::span<const gfnlm::RewardRequest<Q>> "
                "rows). A lambda's parameters must accept (const Q&, std::span<const int32_t>): "
                "a std::vector<int32_t> parameter does not bind to a span.");

 public:
  using Query = typename P::Query;
  using Reward = R;
  using KeyFunction = std::function<uint64_t(const Query&)>;
  using ProgressCallback = std::function<void(const StepMetrics&)>;
  // Receives the Sampler's own messages, one line each without its newline: the default progress
  // line and warnings.
  using MessageSink = std::function<void(const std::string&)>;

  Sampler(P& policy, R reward, SamplerConfig config, O objective = O{})
      : policy_(policy),
        reward_(std::move(reward)),
        config_(std::move(config)),
        objective_(std::move(objective)),
        buffer_((config_.validate(), config_.buffer)),
        rng_(config_.seed),
        mask_(policy.vocab_size(), policy.stop_token(), config_.min_len, config_.allowed_tokens,
              config_.stop_after_tokens),
        policy_opt_(policy_.parameters(), config_.optimizer),
        objective_opt_(objective_.parameters(),
                       AdamWConfig{.lr = objective_lr(config_, objective_)}) {
    if constexpr (HasDefaultQueryKey<Query>)
      key_ = [](const Query& q) { return default_query_key(q); };
  }
  // The optimisers point into the objective and the policy: a Sampler stays where it was built.
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  // Replay-buffer / checkpoint key of a query (required when Query has no default, query_key.hpp).
  void set_query_key(KeyFunction key) { key_ = std::move(key); }
  // Tool hook (gfn/tool.hpp); an empty function = no tool (the default).
  void set_tool(ToolFunction<Query> tool) { tool_ = std::move(tool); }
  // Called at the end of every train_step; replaces the default progress line (SamplerConfig::
  // progress_every).
  void set_progress_callback(ProgressCallback callback) { progress_ = std::move(callback); }
  // Where progress lines and warnings go (default: stderr); an empty function drops them.
  void set_message_sink(MessageSink sink) { sink_ = std::move(sink); }

  // Data-parallel training over comm's ranks (see the top); the communicator must outlive the
  // Sampler. Collective: every rank calls it, with the same configuration, reward settings and
  // policy parameters (compared here by fingerprint; a mismatch is an error on every rank).
  // Progress lines come from rank 0 only; a progress callback runs on every rank with the summed
  // metrics. Checkpoints: save() and load() are collective too (see save()).
  void set_communicator(Communicator& comm) {
    if (comm.size() > 1) {
      GFNLM_CHECK(config_.per_query_streams,
                  "Sampler::set_communicator: {} ranks need SamplerConfig.per_query_streams = "
                  "true (each query's randomness its own, so the result does not depend on which "
                  "rank holds a query)",
                  comm.size());
      constexpr bool host_parameters = std::is_same_v<PolicyOpt, HostOptimizer>;
      GFNLM_CHECK(host_parameters == (comm.memory() == BufferMemory::host),
                  "Sampler::set_communicator: the policy's parameters live in {} memory but the "
                  "communicator reduces {} buffers (MPI: host; NCCL: device)",
                  host_parameters ? "host" : "device",
                  comm.memory() == BufferMemory::host ? "host" : "device");
    }
    check_agreement(comm, "sampler configuration (SamplerConfig)", config_.describe());
    check_agreement(comm, "model fingerprint (policy and objective parameters, step)",
                    parameters_fingerprint());
    comm_ = &comm;
  }

  // One optimiser step on config.trajectories_per_query rows for each query (see the top).
  StepMetrics train_step(std::span<const Query> queries) {
    GFNLM_CHECK(!queries.empty(), "Sampler::train_step: no queries");
    const auto start = std::chrono::steady_clock::now();
    StepPlan plan;
    plan.reward_temperature = config_.reward_temperature(step_);
    StepMetrics m;
    m.step = step_;
    m.reward_temperature = plan.reward_temperature;

    take_shard(queries, plan);
    choose_behaviours(plan);
    collect_rows(plan, m);
    score_rewards(plan, m);
    accumulate_gradients(plan, m);
    m.trajectories = static_cast<int>(plan.rows.size());
    m.buffer_size = buffer_.total_size();
    sum_over_ranks(plan, m);
    optimizer_step(m);

    m.step_time_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    m.samples_per_s = m.step_time_s > 0 ? m.trajectories / m.step_time_s : 0.0;
    if (progress_)
      progress_(m);
    else if (!config_.quiet && config_.progress_every > 0 && comm_->rank() == 0 &&
             (m.step == 0 || (m.step + 1) % config_.progress_every == 0))
      say(progress_line(m));
    return m;
  }

  // n samples from q(. | query) with logits / temperature (masks applied; the tool runs).
  std::vector<Sample> sample(const Query& query, int n, double temperature = 1.0) {
    GFNLM_CHECK(n >= 0, "Sampler::sample: n = {} must be >= 0", n);
    GFNLM_CHECK(temperature > 0 && std::isfinite(temperature),
                "Sampler::sample: temperature {} must be finite and > 0", temperature);
    std::vector<Row> rows(n);
    std::vector<Query> row_queries(n, query);
    std::vector<double> temps(n, temperature);
    std::vector<Row*> ptrs(n);
    for (int k = 0; k < n; ++k) ptrs[k] = &rows[k];
    roll_out(row_queries, temps, ptrs);
    std::vector<RewardRequest<Query>> requests(n);
    for (int k = 0; k < n; ++k) {
      rows[k].log_r.assign(rows[k].actions.size() + 1, 0.0);
      requests[k] = {&query, rows[k].actions, rows[k].context, rows[k].log_r};
    }
    compute_prefix_log_rewards<Query>(reward_, requests, /*final_only=*/true);
    std::vector<Sample> out(n);
    for (int k = 0; k < n; ++k) {
      check_rewards(rows[k], 0, /*final_only=*/true);
      out[k] = {std::move(rows[k].actions), std::move(rows[k].context), rows[k].log_r.back(),
                rows[k].log_q, rows[k].stopped};
    }
    return out;
  }

  // log q(z | query) of a given action sequence under the current policy at temperature 1, masks
  // applied, the tool replayed: with its STOP when stopped, without when it was cut at max_len
  // (then it must have max_len actions). -inf when the masks forbid it.
  double log_prob(const Query& query, std::span<const int32_t> actions, bool stopped = true) {
    const int len = static_cast<int>(actions.size());
    GFNLM_CHECK(len <= config_.max_len, "Sampler::log_prob: {} actions, more than max_len {}", len,
                config_.max_len);
    GFNLM_CHECK(stopped || len == config_.max_len,
                "Sampler::log_prob: an unstopped sequence must have max_len {} actions, got {}",
                config_.max_len, len);
    for (int t = 0; t < len; ++t)
      GFNLM_CHECK(actions[t] >= 0 && actions[t] < policy_.vocab_size() &&
                      actions[t] != policy_.stop_token(),
                  "Sampler::log_prob: action {} at position {} is not a non-stop token of the "
                  "vocabulary [0, {})",
                  actions[t], t, policy_.vocab_size());
    TrajectoryBatch batch;
    batch.resize(1, std::max(len, 1));
    for (int t = 0; t < len; ++t) batch.actions(0, t) = actions[t];
    batch.length[0] = len;
    batch.stopped[0] = stopped;
    batch.context[0] = replay_tool(tool_, query, actions);
    policy_.score(std::span<const Query>(&query, 1), mask_, batch);
    double total = stopped ? double(batch.log_stop(0, len)) : 0.0;
    for (int t = 0; t < len; ++t) total += batch.log_pf(0, t);
    return total;
  }

  // log Z of the UNTEMPERED target estimated from n on-policy samples (gfn/log_partition.hpp):
  // mean and spread of log R - log q; spread 0 means q is exact.
  LogPartitionEstimate log_partition(const Query& query, int n) {
    GFNLM_CHECK(n >= 1, "Sampler::log_partition: n = {} samples; need at least 1", n);
    const auto samples = sample(query, n, 1.0);
    BasicTrajectoryBatch<double> batch;  // rows of length 0 carrying log q as log q(STOP)
    batch.resize(n, 0);
    for (int k = 0; k < n; ++k) {
      batch.log_stop(k, 0) = samples[k].log_q;
      batch.log_r(k, 0) = samples[k].log_r;
    }
    auto est = estimate_log_partition(batch, 1)[0];
    est.query = query_id_from_key(key_of(query));
    return est;
  }

  // Offers known-good sequences to the buffer, scored by the reward (untempered); returns how many
  // it stored. Each must fit the masks: tokens allowed, no STOP, min_len <= size <= max_len, and
  // STOP legal after it (stop_after_tokens) unless it has max_len tokens.
  int seed_buffer(const Query& query, const std::vector<std::vector<int32_t>>& sequences) {
    const uint64_t key = key_of(query);
    int stored = 0;
    for (std::size_t s = 0; s < sequences.size(); ++s) {
      Row row;
      row.actions = sequences[s];
      const int len = static_cast<int>(row.actions.size());
      GFNLM_CHECK(
          len >= config_.min_len && len <= config_.max_len,
          "Sampler::seed_buffer: sequence {} has {} tokens, outside [min_len {}, max_len {}]", s,
          len, config_.min_len, config_.max_len);
      for (int32_t token : row.actions)
        GFNLM_CHECK(token != policy_.stop_token() && mask_.allowed(token),
                    "Sampler::seed_buffer: sequence {} holds token {} (the stop token or masked)",
                    s, token);
      GFNLM_CHECK(
          len == config_.max_len || !mask_.bans_stop_after(row.actions),
          "Sampler::seed_buffer: sequence {} ends with token {}, after which STOP is masked "
          "(SamplerConfig.stop_after_tokens), so the sampler could never produce it",
          s, row.actions.empty() ? -1 : row.actions.back());
      row.context = replay_tool(tool_, query, row.actions);
      row.log_r.assign(row.actions.size() + 1, 0.0);
      RewardRequest<Query> request{&query, row.actions, row.context, row.log_r};
      compute_prefix_log_rewards<Query>(reward_, std::span<const RewardRequest<Query>>(&request, 1),
                                        /*final_only=*/true);
      check_rewards(row, 0, /*final_only=*/true);
      if (buffer_.add(key, row.actions, row.log_r.back())) ++stored;
    }
    return stored;
  }

  // Checkpoint (gfn/checkpoint.hpp): sealed with its length and checksum, written atomically.
  // Data-parallel: collective; every rank holds the same state, so rank 0 alone writes it, with
  // the world size; an error there is raised on every rank.
  void save(const std::filesystem::path& path) const {
    std::exception_ptr error;
    try {
      if (comm_->rank() == 0) write_file(path, comm_->size());
    } catch (...) {
      error = std::current_exception();
    }
    rethrow_on_every_rank(*comm_, error);
  }

  // Restores a checkpoint written by save() into a sampler built with the same policy shape and
  // objective. Everything is validated, on every rank, before anything changes. Data-parallel:
  // collective, every rank reads the file. A checkpoint of another world size loads (the state
  // is the same on every rank) with a message: the run goes on as a run of this world size
  // would, equal to float rounding, not bit for bit (the gradient sums are added in another
  // order).
  void load(const std::filesystem::path& path) {
    const std::string name = path.string();
    std::optional<Loaded> loaded;
    std::exception_ptr error;
    try {
      auto is = checkpoint::open_file(path);  // length and checksum verified; errors name the file
      try {
        loaded.emplace(read_checkpoint(is, name));
      } catch (const Error& e) {
        fail("loading sampler checkpoint '{}': {}", name, e.what());
      }
    } catch (...) {
      error = std::current_exception();
    }
    rethrow_on_every_rank(*comm_, error);
    // All read on every rank: commit.
    checkpoint::commit_parameters<PolicyOpt>(policy_.parameters(), loaded->policy_values);
    checkpoint::commit_parameters(objective_.parameters(), loaded->objective_values);
    policy_opt_ = std::move(*loaded->policy_opt);
    objective_opt_ = std::move(*loaded->objective_opt);
    buffer_ = std::move(*loaded->buffer);
    step_ = loaded->step;
    rng_.set_state(loaded->rng_state);
    if (loaded->world != comm_->size() && comm_->rank() == 0)
      say(fmt::format(
          "gfnlm: resumed '{}', written by a run of {} rank(s), on {}: the run goes on equal to "
          "float rounding, not bit for bit (gradient sums added in another order)",
          name, loaded->world, comm_->size()));
  }

  int step() const { return step_; }
  double reward_temperature() const { return config_.reward_temperature(step_); }
  const SamplerConfig& config() const { return config_; }
  P& policy() { return policy_; }
  R& reward() { return reward_; }
  O& objective() { return objective_; }
  B& buffer() { return buffer_; }
  const B& buffer() const { return buffer_; }
  const LogitMask& mask() const { return mask_; }
  // The last per-query batch train_step built (for inspection and tests).
  const TrajectoryBatch& last_batch() const { return batch_; }

 private:
  using PolicyOpt = PolicyOptimizer<P>;

  // A rollout's trajectory with what the step adds to it.
  struct Row : Trajectory {
    std::vector<double> log_r;  // untempered, per prefix
    bool replayed = false;
  };

  ParameterList<float> policy_params() { return policy_.parameters(); }

  void say(const std::string& line) const {
    if (sink_) sink_(line);
  }

  std::string progress_line(const StepMetrics& m) const {
    std::string line = fmt::format(
        "gfnlm: step {}  loss {:.4g}  mean log R {:.4g}  log Z {:.4g} (spread {:.3g})  T_R {:.3g}  "
        "{:.0f} samples/s  buffer {}",
        m.step + 1, m.loss, m.mean_log_r, m.log_z, m.log_z_spread, m.reward_temperature,
        m.samples_per_s, m.buffer_size);
    if (m.step == 0)
      line += fmt::format(
          "  (a line every {} steps: SamplerConfig.progress_every; quiet = true or "
          "set_progress_callback() replace it)",
          config_.progress_every);
    return line;
  }

  // The objective's clamp for log R = -inf (objectives/objective.hpp), so that the step's log Z
  // estimate reads the rewards the loss reads.
  static double log_reward_floor(const O& objective) {
    if constexpr (requires { objective.config().log_reward_floor; })
      return static_cast<double>(objective.config().log_reward_floor);
    return kDefaultLogRewardFloor;
  }

  static double objective_lr(const SamplerConfig& config, const O& objective) {
    if (config.objective_lr) return *config.objective_lr;
    if constexpr (requires { objective.config().log_z_lr; })
      return static_cast<double>(objective.config().log_z_lr);
    return 0.1;
  }

  uint64_t key_of(const Query& q) const {
    GFNLM_CHECK(static_cast<bool>(key_),
                "Sampler: this Query type has no default key; call set_query_key() first");
    return key_(q);
  }

  void check_replayed(const std::vector<int32_t>& actions, uint64_t key) const {
    GFNLM_CHECK(static_cast<int>(actions.size()) <= config_.max_len &&
                    static_cast<int>(actions.size()) >= config_.min_len,
                "Sampler: a replayed trajectory for query key {} has {} actions, outside [min_len "
                "{}, max_len {}]",
                key, actions.size(), config_.min_len, config_.max_len);
    GFNLM_CHECK(
        static_cast<int>(actions.size()) == config_.max_len || !mask_.bans_stop_after(actions),
        "Sampler: a replayed trajectory for query key {} ends with token {}, after which "
        "STOP is masked (SamplerConfig.stop_after_tokens)",
        key, actions.empty() ? -1 : actions.back());
  }

  // NaN (and +inf) rewards are errors naming the query and the sequence (SPEC section 3).
  void check_rewards(const Row& row, int query_index, bool final_only) const {
    const std::size_t first = final_only ? row.actions.size() : 0;
    for (std::size_t t = first; t < row.log_r.size(); ++t) {
      const double v = row.log_r[t];
      if (std::isnan(v) || v == std::numeric_limits<double>::infinity())
        fail("reward returned log R = {} for query {} at prefix length {} of tokens [{}]", v,
             query_index, t, fmt::join(row.actions, ", "));
    }
  }

  // What the phases of one train_step hand each other.
  // The per-query vectors hold this rank's block of queries (all of them in one process).
  struct StepPlan {
    std::span<const Query> queries;
    int total_queries = 0;  // in the step, over all ranks: the loss is their mean
    double reward_temperature = 1;
    std::vector<int> index;               // per query: its position in train_step's queries
    std::vector<uint64_t> keys;           // per query
    std::vector<Rng> streams;             // per query, with per_query_streams
    std::vector<BehaviourChoice> choice;  // per query
    std::vector<Row> rows;                // trajectories_per_query rows per query, in order
    // Sums that the metrics are made of, added over ranks before they are divided.
    double sum_log_r = 0, finite_log_r = 0, log_z_sum = 0, spread_sum = 0, log_z_count = 0;
  };

  // The randomness query i draws from (SamplerConfig::per_query_streams).
  Rng& rng_of(StepPlan& plan, int i) { return config_.per_query_streams ? plan.streams[i] : rng_; }

  // This rank's block of the step's queries (shard_of), with their keys and streams. A query's
  // stream is a function of (seed, step, key, how many earlier queries of the step share its
  // key), so it is the same on whichever rank the query falls.
  // Without per-query streams only this block's keys are needed: the earlier queries are read
  // (for their keys' occurrence counts) only when streams are derived.
  void take_shard(std::span<const Query> queries, StepPlan& plan) {
    plan.total_queries = static_cast<int>(queries.size());
    const auto [first, last] = shard_of(plan.total_queries, comm_->rank(), comm_->size());
    std::map<uint64_t, int> seen;
    if (config_.per_query_streams)
      for (int i = 0; i < first; ++i) ++seen[key_of(queries[i])];
    for (int i = first; i < last; ++i) {
      const uint64_t key = key_of(queries[i]);
      plan.index.push_back(i);
      plan.keys.push_back(key);
      if (config_.per_query_streams) {
        const int occurrence = seen[key]++;
        plan.streams.push_back(derived_stream(
            config_.seed, {static_cast<uint64_t>(step_), key, static_cast<uint64_t>(occurrence)}));
      }
    }
    plan.queries = queries.subspan(first, last - first);
  }

  // Phase 1: each query's behaviour (gfn/exploration.hpp).
  void choose_behaviours(StepPlan& plan) {
    const int num_q = static_cast<int>(plan.queries.size());
    plan.choice.resize(num_q);
    for (int i = 0; i < num_q; ++i)
      plan.choice[i] =
          choose_behaviour(config_.exploration, rng_of(plan, i), !buffer_.empty(plan.keys[i]));
  }

  // Phase 2: one rollout for every fresh row of every query; replayed rows from the buffer.
  void collect_rows(StepPlan& plan, StepMetrics& m) {
    const int num_q = static_cast<int>(plan.queries.size());
    const int n = config_.trajectories_per_query;
    plan.rows.assign(std::size_t(num_q) * n, Row{});
    std::vector<Query> fresh_queries;
    std::vector<double> fresh_temps;
    std::vector<Row*> fresh_rows;
    std::vector<Rng*> fresh_rngs;
    const auto replay_into = [&](Row* block, int count, int i) {
      const auto items =
          buffer_.sample(plan.keys[i], count, rng_of(plan, i), plan.reward_temperature);
      for (int k = 0; k < count; ++k) {
        const auto& actions = items[k]->actions;
        block[k].actions.assign(actions.begin(), actions.end());
        check_replayed(block[k].actions, plan.keys[i]);
        block[k].stopped = static_cast<int>(block[k].actions.size()) < config_.max_len;
        block[k].context = replay_tool(tool_, plan.queries[i], block[k].actions);
        block[k].replayed = true;
      }
      m.replayed += count;
    };
    for (int i = 0; i < num_q; ++i) {
      Row* block = plan.rows.data() + std::size_t(i) * n;
      if (plan.choice[i].mode == Behaviour::replay) {
        replay_into(block, n, i);
        continue;
      }
      const int mixed = buffer_.empty(plan.keys[i]) ? 0 : config_.exploration.replay_rows_per_query;
      for (int k = 0; k < n - mixed; ++k) {
        fresh_queries.push_back(plan.queries[i]);
        fresh_temps.push_back(plan.choice[i].temperature);
        fresh_rows.push_back(block + k);
        fresh_rngs.push_back(&rng_of(plan, i));
      }
      if (mixed > 0) replay_into(block + (n - mixed), mixed, i);
    }
    roll_out(
        fresh_queries, fresh_temps, fresh_rows,
        config_.per_query_streams ? std::span<Rng* const>(fresh_rngs) : std::span<Rng* const>());
  }

  // Phase 3: every prefix reward of every row in one call; fresh rows offered to the buffer.
  void score_rewards(StepPlan& plan, StepMetrics& m) {
    const int n = config_.trajectories_per_query;
    auto& rows = plan.rows;
    std::vector<RewardRequest<Query>> requests(rows.size());
    for (std::size_t r = 0; r < rows.size(); ++r) {
      rows[r].log_r.assign(rows[r].actions.size() + 1, 0.0);
      requests[r] = {&plan.queries[r / n], rows[r].actions, rows[r].context, rows[r].log_r};
    }
    compute_prefix_log_rewards<Query>(reward_, requests);
    for (std::size_t r = 0; r < rows.size(); ++r)
      check_rewards(rows[r], plan.index[r / n], /*final_only=*/false);
    for (std::size_t r = 0; r < rows.size(); ++r) {
      const double final_r = rows[r].log_r.back();
      if (std::isfinite(final_r)) plan.sum_log_r += final_r, ++plan.finite_log_r;
      if (comm_->size() == 1 && !rows[r].replayed &&
          buffer_.add(plan.keys[r / n], rows[r].actions, final_r))
        ++m.new_in_buffer;
    }
    if (comm_->size() > 1) add_every_ranks_rows(plan, m);
    warn_zero_rewards(plan, m.step);
  }

  // Data-parallel phase 3: every rank's fresh rows offered to every rank's buffer, in the step's
  // query order (the ranks' blocks in rank order), so the buffers stay the same everywhere.
  void add_every_ranks_rows(const StepPlan& plan, StepMetrics& m) {
    const int n = config_.trajectories_per_query;
    std::vector<BufferRow> mine;
    for (std::size_t r = 0; r < plan.rows.size(); ++r)
      if (!plan.rows[r].replayed)
        mine.push_back({plan.keys[r / n], plan.rows[r].actions, plan.rows[r].log_r.back()});
    for (const auto& record : comm_->all_gather(pack_buffer_rows(mine)))
      unpack_buffer_rows(record, config_.max_len, [&](const BufferRow& row) {
        if (buffer_.add(row.key, row.actions, row.log_r)) ++m.new_in_buffer;
      });
  }

  // A query whose rows all have zero reward teaches q nothing but the floor: usually a reward bug
  // or a target exploration never reaches. Said once per query key, or a long run would drown
  // in it.
  void warn_zero_rewards(const StepPlan& plan, int step) {
    const int n = config_.trajectories_per_query;
    for (std::size_t i = 0; i < plan.queries.size(); ++i) {
      bool all_zero = true;
      for (int k = 0; k < n && all_zero; ++k)
        all_zero = plan.rows[i * n + k].log_r.back() == -std::numeric_limits<double>::infinity();
      if (!all_zero || !zero_reward_warned_.insert(plan.keys[i]).second) continue;
      say(fmt::format(
          "gfnlm: warning: all {} rows of query {} (key {}) have log R = -inf (zero reward) at "
          "step {}; the loss and log Z read them as the objective's log_reward_floor = {}. Check "
          "the reward, or seed the buffer with known-good sequences (Sampler::seed_buffer). "
          "Shown once per query key.",
          n, plan.index[i], plan.keys[i], step, log_reward_floor(objective_)));
    }
  }

  // Phase 4: loss and gradients, one query at a time (gradient accumulation).
  void accumulate_gradients(StepPlan& plan, StepMetrics& m) {
    const int num_q = static_cast<int>(plan.queries.size());
    const int total = plan.total_queries;
    const int n = config_.trajectories_per_query;
    PolicyOpt::zero_grad(policy_params());
    zero_grad(objective_.parameters());
    std::vector<Query> row_queries;
    for (int i = 0; i < num_q; ++i) {
      row_queries.assign(n, plan.queries[i]);
      build_batch(plan.rows.data() + std::size_t(i) * n, n, plan.index[i],
                  query_id_from_key(plan.keys[i]), plan.reward_temperature);
      policy_.score(std::span<const Query>(row_queries), mask_, batch_);
      m.loss += objective_(batch_, grad_) / total;
      policy_.backward(std::as_const(grad_), 1.0 / total);
      double mean = 0, std = 0;
      if (batch_log_z(mean, std))
        plan.log_z_sum += mean, plan.spread_sum += std, ++plan.log_z_count;
    }
    for (const auto& p : objective_.parameters())
      for (std::size_t k = 0; k < p.size; ++k) p.grad[k] /= static_cast<float>(total);
  }

  // Between phases 4 and 5: gradients and metric sums added over ranks (nothing to add in one
  // process), then the metrics that are ratios of sums.
  void sum_over_ranks(StepPlan& plan, StepMetrics& m) {
    if (comm_->size() > 1) {
      const auto policy_list = policy_params();
      const auto objective_list = objective_.parameters();
      all_reduce_gradients(*comm_, {&policy_list, &objective_list}, grad_staging_);
      // new_in_buffer and buffer_size are the same on every rank already (phase 3).
      std::array<double, 8> sums = {
          m.loss,          plan.sum_log_r,   plan.finite_log_r,  plan.log_z_sum,
          plan.spread_sum, plan.log_z_count, double(m.replayed), double(m.trajectories)};
      comm_->all_reduce_sum(std::span<double>(sums));
      m.loss = sums[0];
      plan.sum_log_r = sums[1], plan.finite_log_r = sums[2];
      plan.log_z_sum = sums[3], plan.spread_sum = sums[4], plan.log_z_count = sums[5];
      m.replayed = int(sums[6]), m.trajectories = int(sums[7]);
    }
    m.mean_log_r = plan.finite_log_r > 0 ? plan.sum_log_r / plan.finite_log_r
                                         : -std::numeric_limits<double>::infinity();
    if (plan.log_z_count > 0) {
      m.log_z = plan.log_z_sum / plan.log_z_count;
      m.log_z_spread = plan.spread_sum / plan.log_z_count;
    }
  }

  // Phase 5: clip, then AdamW on the policy and on the objective's parameters.
  void optimizer_step(StepMetrics& m) {
    const auto params = policy_params();
    m.grad_norm = PolicyOpt::clip_grad_norm(params, config_.grad_clip);
    const double lr_scale = config_.lr_schedule(step_);
    m.lr = config_.optimizer.lr * lr_scale;
    policy_opt_.step(lr_scale);
    objective_opt_.step();
    ++step_;
  }

  // rows[k] <- a trajectory from q(. | queries[k]) with logits / temps[k] (gfn/rollout.hpp).
  // Row k's uniforms from *row_rngs[k] when given, else from the sampler's one stream.
  void roll_out(std::span<const Query> queries, std::span<const double> temps,
                std::span<Row* const> rows, std::span<Rng* const> row_rngs = {}) {
    if (rows.empty()) return;
    const RolloutSpec<Query> spec{&mask_, config_.max_len, &tool_};
    const std::vector<Trajectory*> out(rows.begin(), rows.end());
    if (row_rngs.empty())
      rollout(policy_, queries, temps, spec, rng_, std::span<Trajectory* const>(out));
    else
      rollout(policy_, queries, temps, spec, row_rngs, std::span<Trajectory* const>(out));
  }

  // batch_ <- n rows of one query, tempered log R (SPEC section 3) with the min-length penalty.
  // query_index names the query in errors.
  void build_batch(const Row* rows, int n, int query_index, int query_id, double t_r) {
    int len = 1;
    for (int k = 0; k < n; ++k) len = std::max(len, static_cast<int>(rows[k].actions.size()));
    batch_.resize(n, len);
    for (int k = 0; k < n; ++k) {
      const auto& row = rows[k];
      const int e = static_cast<int>(row.actions.size());
      for (int t = 0; t < e; ++t) batch_.actions(k, t) = row.actions[t];
      batch_.length[k] = e;
      batch_.stopped[k] = row.stopped;
      batch_.query[k] = query_id;
      batch_.context[k] = row.context;
      for (int t = 0; t <= len; ++t) {
        double v = neg_inf<double>;  // past the row: never read
        if (t <= e) v = t < config_.min_len ? config_.min_len_penalty : row.log_r[t] / t_r;
        // Caught here, where the query, the tokens and T_R are known: the objective would only
        // see an inf it cannot tell from a +inf reward.
        if (t <= e && t >= config_.min_len && std::isfinite(row.log_r[t]) &&
            !std::isfinite(static_cast<float>(v)))
          fail(
              "reward returned log R = {} for query {} at prefix length {} of tokens [{}]: it is "
              "finite, but divided by the reward temperature T_R = {} it is {}, which overflows "
              "float (largest finite {}) after tempering; the loss reads tempered log R as float, "
              "so rescale the reward",
              row.log_r[t], query_index, t, fmt::join(row.actions, ", "), t_r, v,
              std::numeric_limits<float>::max());
        if (t <= e && t >= config_.min_len && std::isfinite(v)) warn_below_floor(v, query_index);
        batch_.log_r(k, t) = static_cast<float>(v);
      }
    }
  }

  // A finite tempered log R under the objective's floor ranks below a zero reward (which reads as
  // the floor): the objective still uses it as it is, but the floor is then wrong. Said once.
  void warn_below_floor(double tempered_log_r, int query_index) {
    if (below_floor_warned_) return;  // the common case: no floor lookup per prefix
    const double floor = log_reward_floor(objective_);
    if (tempered_log_r >= floor) return;
    below_floor_warned_ = true;
    say(fmt::format(
        "gfnlm: warning: query {} has a finite tempered log R = {:.6g}, below the objective's "
        "log_reward_floor = {} at which zero rewards (-inf) enter the loss, so a zero reward now "
        "reads as likelier than it; set log_reward_floor below every real log R (Config of the "
        "objective). Shown once.",
        query_index, tempered_log_r, floor));
  }

  // Mean and std over the rows of batch_ of (tempered log R - log q), the quantity
  // estimate_log_partition reports, with log R = -inf clamped to the objective's floor as in the
  // loss (so a query whose rows all have zero reward still reports a finite log Z); false when
  // the batch has no rows.
  bool batch_log_z(double& mean, double& std) const {
    const double floor = log_reward_floor(objective_);
    std::vector<double> x;
    for (int b = 0; b < batch_.rows(); ++b) {
      const int e = batch_.length[b];
      const double stored = batch_.log_r(b, e);
      const double log_r = stored == -std::numeric_limits<double>::infinity() ? floor : stored;
      double log_q = batch_.stopped[b] ? double(batch_.log_stop(b, e)) : 0.0;
      for (int t = 0; t < e; ++t) log_q += batch_.log_pf(b, t);
      x.push_back(log_r - log_q);
    }
    if (x.empty()) return false;
    mean = 0;
    for (double v : x) mean += v;
    mean /= double(x.size());
    double sq = 0;
    for (double v : x) sq += (v - mean) * (v - mean);
    std = x.size() > 1 ? std::sqrt(sq / double(x.size() - 1)) : 0.0;
    return true;
  }

  // What load() reads before it commits.
  struct Loaded {
    int step = 0, world = 1;
    Rng::State rng_state{};
    std::vector<std::vector<float>> policy_values, objective_values;
    std::optional<PolicyOpt> policy_opt;
    std::optional<AdamW<float>> objective_opt;
    std::optional<B> buffer;
  };

  void write_file(const std::filesystem::path& path, int world) const {
    checkpoint::write_file(path, [&](std::ostream& os) {
      checkpoint::write_header(os);
      write_pod<int32_t>(os, step_);
      for (uint64_t word : rng_.state()) write_pod<uint64_t>(os, word);
      checkpoint::write_section(os, "policy.parameters");
      checkpoint::write_parameters<PolicyOpt>(os, policy_.parameters());
      checkpoint::write_section(os, "policy.optimizer");
      policy_opt_.save(os);
      checkpoint::write_section(os, "objective.parameters");
      checkpoint::write_parameters(os, const_cast<O&>(objective_).parameters());
      checkpoint::write_section(os, "objective.optimizer");
      objective_opt_.save(os);
      checkpoint::write_section(os, "buffer");
      buffer_.save(os);
      if (world > 1) {
        checkpoint::write_section(os, "world");
        write_pod<int32_t>(os, world);
      }
      checkpoint::write_section(os, "end");
    });
  }

  Loaded read_checkpoint(std::istream& is, const std::string& name) {
    Loaded out;
    checkpoint::read_header(is, name);
    out.step = read_pod<int32_t>(is, "step");
    GFNLM_CHECK(out.step >= 0, "step {} is negative", out.step);
    for (auto& word : out.rng_state) word = read_pod<uint64_t>(is, "rng state");
    checkpoint::read_section(is, "policy.parameters");
    out.policy_values = checkpoint::read_parameters(is, policy_.parameters(), "policy");
    checkpoint::read_section(is, "policy.optimizer");
    out.policy_opt.emplace(policy_opt_);
    out.policy_opt->load(is);
    checkpoint::read_section(is, "objective.parameters");
    out.objective_values = checkpoint::read_parameters(is, objective_.parameters(), "objective");
    checkpoint::read_section(is, "objective.optimizer");
    out.objective_opt.emplace(objective_opt_);
    out.objective_opt->load(is);
    checkpoint::read_section(is, "buffer");
    out.buffer.emplace(config_.buffer);
    out.buffer->load(is);
    checkpoint::check_buffer(*out.buffer, mask_, policy_.stop_token(), config_.min_len,
                             config_.max_len);
    out.world = checkpoint::read_world_and_end(is);
    return out;
  }

  // What the ranks compare in set_communicator: the step and every parameter's name, size and
  // bytes (copied to the host where they live elsewhere).
  std::string parameters_fingerprint() {
    uint64_t h = fnv1a64(fmt::format("step {}", step_));
    std::vector<float> host;
    const auto add = [&](const ParameterList<float>& list, bool on_policy) {
      for (const auto& p : list) {
        host.resize(p.size);
        if (on_policy)
          PolicyOpt::to_host(host.data(), p.value, p.size);
        else
          std::copy_n(p.value, p.size, host.data());
        h = fnv1a64(fmt::format("{} {}", p.name, p.size), h);
        h = fnv1a64(std::string_view(reinterpret_cast<const char*>(host.data()),
                                     host.size() * sizeof(float)),
                    h);
      }
    };
    add(policy_params(), true);
    add(objective_.parameters(), false);
    return fmt::format("step {}, {} policy and {} objective tensors, parameter hash {:016x}", step_,
                       policy_params().size(), objective_.parameters().size(), h);
  }

  P& policy_;
  R reward_;
  SamplerConfig config_;
  O objective_;
  B buffer_;
  Rng rng_;
  LogitMask mask_;
  PolicyOpt policy_opt_;
  AdamW<float> objective_opt_;
  int step_ = 0;
  KeyFunction key_;
  ToolFunction<Query> tool_;
  ProgressCallback progress_;
  MessageSink sink_ = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  std::set<uint64_t> zero_reward_warned_;  // query keys warned about (warn_zero_rewards)
  bool below_floor_warned_ = false;        // warn_below_floor said its line
  SingleProcess single_process_;
  Communicator* comm_ = &single_process_;
  std::vector<float> grad_staging_;  // sum_over_ranks' one buffer
  // Scratch reused across steps.
  TrajectoryBatch batch_;
  TrajectoryGrad grad_;
};

}  // namespace gfnlm

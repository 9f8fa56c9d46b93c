#pragma once
// STaR, the Self-Taught Reasoner (Zelikman et al. 2022), without rationalisation: the
// latent-reasoning baseline the GFlowNet method is most often compared with (issue 20). Each
// round samples rationales for every query from the current policy (the one rollout engine,
// gfn/rollout.hpp, masks and tool applied), keeps those the task accepts (the answer they end
// with is right), and fine-tunes on the kept ones by maximum likelihood (baselines/sft.hpp).
// Zelikman et al. restart the fine-tuning from the base model every round, on the rationales
// that round's model found; `restart` is the hook that does it (for LoRA: fresh adapters); empty,
// the rounds fine-tune on from where the last one stopped.
//
// What it converges to: with enough samples and fine-tuning, one round moves the policy to the
// base restricted to accepted rationales, q(z | x) = p(z | x, accepted); the test checks exactly
// that on an enumerable TabularPolicy. The GFlowNet with a 0/1 reward targets the same
// distribution; with a likelihood reward it targets p(z | x, y), which STaR cannot express.
#include <gfnlm/baselines/sft.hpp>
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/gfn/masks.hpp>
#include <gfnlm/gfn/policy.hpp>
#include <gfnlm/gfn/rollout.hpp>
#include <gfnlm/gfn/tool.hpp>

#include <cmath>
#include <cstdint>
#include <functional>
#include <set>
#include <span>
#include <utility>
#include <vector>

namespace gfnlm {

struct StarConfig {
  int rounds = 3;             // sample, filter, fine-tune
  int samples_per_query = 8;  // rationales drawn per query and round
  double temperature = 1.0;   // of the draws
  int max_len = 16;           // actions before STOP is forced (a cut rationale is never kept)
  int sft_steps = 40;         // AdamW steps per round on the kept rationales
  int sft_batch = 16;         // kept rationales per step, drawn with replacement; 0: all of them
  bool distinct = false;      // keep each distinct rationale of a query once per round
  SftConfig sft{.lr = 1e-3};

  void validate() const {
    GFNLM_CHECK(
        rounds >= 1 && samples_per_query >= 1 && max_len >= 1 && sft_steps >= 0 && sft_batch >= 0,
        "StarConfig: rounds {}, samples_per_query {}, max_len {} must be >= 1 and "
        "sft_steps {}, sft_batch {} >= 0",
        rounds, samples_per_query, max_len, sft_steps, sft_batch);
    GFNLM_CHECK(temperature > 0 && std::isfinite(temperature),
                "StarConfig.temperature {} must be finite and > 0", temperature);
  }
};

// What one round did.
struct StarRound {
  int sampled = 0;         // rationales drawn
  int kept = 0;            // of which accepted (fine-tuned on)
  int queries_solved = 0;  // queries with at least one accepted rationale
  double final_nll = 0;    // mean NLL per token of the last fine-tuning step (0: no step)
};

template <Policy P>
class StarTrainer {
 public:
  using Query = typename P::Query;
  // Whether a sampled rationale (its actions and the tool's context) solves the query.
  using Accept =
      std::function<bool(const Query&, std::span<const int32_t>, std::span<const ContextInsert>)>;

  StarTrainer(P& policy, Accept accept, StarConfig config, const LogitMask& mask,
              ToolFunction<Query> tool = {}, std::function<void()> restart = {})
      : policy_(policy),
        accept_((config.validate(), std::move(accept))),
        config_(config),
        mask_(mask),
        tool_(std::move(tool)),
        restart_(std::move(restart)) {
    GFNLM_CHECK(static_cast<bool>(accept_), "StarTrainer: no accept function");
  }

  // One round over `queries` (see the top).
  StarRound round(std::span<const Query> queries, Rng& rng) {
    GFNLM_CHECK(!queries.empty(), "StarTrainer::round: no queries");
    const int k = config_.samples_per_query;
    std::vector<Query> rows;
    rows.reserve(queries.size() * std::size_t(k));
    for (const auto& q : queries)
      for (int i = 0; i < k; ++i) rows.push_back(q);
    std::vector<Trajectory> drawn(rows.size());
    std::vector<Trajectory*> out(rows.size());
    for (std::size_t i = 0; i < rows.size(); ++i) out[i] = &drawn[i];
    const std::vector<double> temperatures(rows.size(), config_.temperature);
    const RolloutSpec<Query> spec{&mask_, config_.max_len, &tool_};
    rollout(policy_, std::span<const Query>(rows), std::span<const double>(temperatures), spec, rng,
            std::span<Trajectory* const>(out));

    StarRound r;
    r.sampled = static_cast<int>(rows.size());
    std::vector<Query> kept_queries;
    std::vector<std::vector<int32_t>> kept;
    for (std::size_t qi = 0; qi < queries.size(); ++qi) {
      std::set<std::vector<int32_t>> seen;
      bool solved = false;
      for (int i = 0; i < k; ++i) {
        const Trajectory& t = drawn[qi * std::size_t(k) + std::size_t(i)];
        if (!t.stopped || !accept_(queries[qi], t.actions, t.context)) continue;
        solved = true;
        if (config_.distinct && !seen.insert(t.actions).second) continue;
        kept_queries.push_back(queries[qi]);
        kept.push_back(t.actions);
      }
      r.queries_solved += solved ? 1 : 0;
    }
    r.kept = static_cast<int>(kept.size());
    if (kept.empty() || config_.sft_steps == 0) return r;

    if (restart_) restart_();
    // A fresh optimiser each round: its moments belong to the parameters it started from.
    SftTrainer<P> sft(policy_, config_.sft, &mask_, tool_);
    const std::size_t batch = config_.sft_batch == 0 ? kept.size() : std::size_t(config_.sft_batch);
    std::vector<Query> bq(batch);
    std::vector<std::vector<int32_t>> ba(batch);
    for (int step = 0; step < config_.sft_steps; ++step) {
      if (config_.sft_batch == 0) {
        r.final_nll = sft.train_step(kept_queries, kept);
        continue;
      }
      for (std::size_t b = 0; b < batch; ++b) {
        const std::size_t j = rng.below(kept.size());
        bq[b] = kept_queries[j];
        ba[b] = kept[j];
      }
      r.final_nll = sft.train_step(bq, ba);
    }
    return r;
  }

  // config.rounds rounds; one StarRound each.
  std::vector<StarRound> train(std::span<const Query> queries, Rng& rng) {
    std::vector<StarRound> out;
    out.reserve(std::size_t(config_.rounds));
    for (int i = 0; i < config_.rounds; ++i) out.push_back(round(queries, rng));
    return out;
  }

 private:
  P& policy_;
  Accept accept_;
  StarConfig config_;
  const LogitMask& mask_;
  ToolFunction<Query> tool_;
  std::function<void()> restart_;
};

}  // namespace gfnlm

#pragma once
// The LM-likelihood reward of SPEC section 3: log R(Z STOP) = log p_base(Z, tool output, Y | D, X)
// with the frozen base model (the same Transformer with adapters off, or a separate copy), D an
// optional fixed context (worked examples) and Y the terminal text (the "." of a continuation, or
// ". The answer is -6." of a rationale). Every prefix reward of every row comes from batched
// teacher-forced forwards: one pass when Y is one token, one extra row per prefix otherwise.
//
// Scores with the model's forward(), which overwrites the activations kept for backward: call it
// before the policy's score()/backward() of the same step (the Sampler does).
// The model may run on a backend whose memory is not the host's (Transformer<Cuda>): then each
// forward's logits are copied to the host once, into a reused buffer, as LmPolicy does.
#include <gfnlm/backend/cpu.hpp>
#include <gfnlm/core/error.hpp>
#include <gfnlm/gfn/reward.hpp>
#include <gfnlm/model/transformer.hpp>
#include <gfnlm/policies/lm_query.hpp>

#include <Eigen/Core>

#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

namespace gfnlm {

struct LmLikelihoodConfig {
  std::vector<int32_t> context;     // D: tokens before the query's prompt (e.g. demonstrations)
  std::vector<int32_t> end_tokens;  // scored after Z and before the query's suffix (e.g. ".")
  int max_rows_per_pass = 256;      // memory bound for the multi-token-terminal case
};

// Model: Transformer or LlamaTransformer (float), as for BasicLmPolicy.
template <class Model, PromptedQuery Q = LmQuery>
class BasicLmLikelihoodReward {
 public:
  using Backend = typename Model::backend_type;

  BasicLmLikelihoodReward(Model& base, LmLikelihoodConfig config)
      : model_(&base), config_(std::move(config)) {}

  // BatchPrefixReward: out[t] = log p(D X-prefixed sequence up to state t, then terminal).
  void prefix_log_rewards_batch(std::span<const RewardRequest<Q>> rows) {
    AdaptersOff off(*model_);
    std::vector<Row> built(rows.size());
    std::size_t needed = 0;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      build(rows[i], built[i]);
      needed = std::max(needed, built[i].terminal.size());
    }
    GFNLM_CHECK(needed > 0,
                "LmLikelihoodReward: no terminal tokens (set end_tokens or the query's suffix)");
    if (needed == 1 && all_single_terminal(built))
      score_single_terminal(rows, built);
    else
      score_per_prefix(rows, built);
  }

  // Reward (plain form): log R of the whole sequence, no tool context.
  double operator()(const Q& q, std::span<const int32_t> actions) {
    std::vector<double> out(actions.size() + 1);
    const RewardRequest<Q> request{&q, actions, {}, out};
    prefix_log_rewards_batch(std::span<const RewardRequest<Q>>(&request, 1));
    return out.back();
  }

 private:
  struct Row {
    std::vector<int32_t> seq;       // D X, then actions with tool context in place
    std::vector<int> state_end;     // index in seq of the last token of state s_t
    std::vector<int32_t> terminal;  // end tokens then the query's suffix
  };

  struct AdaptersOff {
    explicit AdaptersOff(Model& m) : model(m), was(m.adapters_enabled()) {
      model.set_adapters_enabled(false);
    }
    ~AdaptersOff() { model.set_adapters_enabled(was); }
    Model& model;
    bool was;
  };

  void build(const RewardRequest<Q>& r, Row& row) const {
    row.seq = config_.context;
    row.seq.insert(row.seq.end(), r.query->prompt.begin(), r.query->prompt.end());
    GFNLM_CHECK(!row.seq.empty(), "LmLikelihoodReward: empty context and prompt");
    const int len = static_cast<int>(r.actions.size());
    GFNLM_CHECK(r.out.size() == r.actions.size() + 1,
                "LmLikelihoodReward: out has {} entries for {} actions", r.out.size(), len);
    row.state_end.assign(len + 1, 0);
    std::size_t next = 0;
    for (int t = 0;; ++t) {
      while (next < r.context.size() && r.context[next].after_action == t) {
        row.seq.insert(row.seq.end(), r.context[next].tokens.begin(), r.context[next].tokens.end());
        ++next;
      }
      row.state_end[t] = static_cast<int>(row.seq.size()) - 1;
      if (t == len) break;
      row.seq.push_back(r.actions[t]);
    }
    row.terminal = config_.end_tokens;
    if constexpr (requires { r.query->suffix; })
      row.terminal.insert(row.terminal.end(), r.query->suffix.begin(), r.query->suffix.end());
  }

  static bool all_single_terminal(const std::vector<Row>& rows) {
    for (const auto& r : rows)
      if (r.terminal.size() != 1) return false;
    return true;
  }

  // log sum exp of one logits row (Eigen's vectorised exp; a 50k vocabulary makes it matter).
  double log_sum_exp(const float* logits) const {
    const Eigen::Map<const Eigen::ArrayXf> l(logits, model_->config().vocab_size);
    const float hi = l.maxCoeff();
    return hi + std::log((l - hi).cast<double>().exp().sum());
  }

  // log softmax of one logits row, at one index.
  float log_prob_at(const float* logits, int32_t token) const {
    return static_cast<float>(logits[token] - log_sum_exp(logits));
  }

  // Runs a right-padded batch of sequences; returns T. The logits of the batch are then at
  // batch_logits() (in the model on a host backend, in a host copy otherwise).
  int run(const std::vector<const std::vector<int32_t>*>& seqs) {
    int T = 1;
    for (auto* s : seqs) T = std::max<int>(T, static_cast<int>(s->size()));
    GFNLM_CHECK(T <= model_->config().max_seq_len,
                "LmLikelihoodReward: a sequence needs {} positions, the model has {}", T,
                model_->config().max_seq_len);
    tokens_.assign(seqs.size() * T, 0);
    for (std::size_t b = 0; b < seqs.size(); ++b)
      std::copy(seqs[b]->begin(), seqs[b]->end(), tokens_.begin() + b * T);
    model_->forward(tokens_.data(), static_cast<int>(seqs.size()), T);
    if constexpr (!Backend::host_memory) {
      host_logits_.resize(tokens_.size() * model_->config().vocab_size);
      Backend::to_host(host_logits_.data(), model_->logits(), host_logits_.size());
    }
    return T;
  }

  // The logits of the last run(), in host memory.
  const float* batch_logits() const {
    if constexpr (Backend::host_memory)
      return model_->logits();
    else
      return host_logits_.data();
  }

  // One forward over every row: token log-probs accumulate along the row, and the terminal's
  // log-prob is read at every state's last position.
  void score_single_terminal(std::span<const RewardRequest<Q>> rows,
                             const std::vector<Row>& built) {
    std::vector<const std::vector<int32_t>*> seqs;
    for (const auto& r : built) seqs.push_back(&r.seq);
    const int T = run(seqs);
    const int V = model_->config().vocab_size;
    const float* logits = batch_logits();
    for (std::size_t b = 0; b < built.size(); ++b) {
      const Row& row = built[b];
      const float* base = logits + b * static_cast<std::size_t>(T) * V;
      const int start = static_cast<int>(config_.context.size() + rows[b].query->prompt.size());
      double cumulative = 0;  // log p of the tokens after D X up to the current position
      int pos = start - 1;
      // One normaliser per position, shared by the next token and the terminal read there.
      double lse = log_sum_exp(base + static_cast<std::size_t>(pos) * V);
      for (std::size_t t = 0; t < row.state_end.size(); ++t) {
        for (; pos < row.state_end[t]; ++pos) {
          cumulative +=
              static_cast<float>(base[static_cast<std::size_t>(pos) * V + row.seq[pos + 1]] - lse);
          lse = log_sum_exp(base + static_cast<std::size_t>(pos + 1) * V);
        }
        rows[b].out[t] =
            cumulative +
            static_cast<float>(base[static_cast<std::size_t>(pos) * V + row.terminal[0]] - lse);
      }
    }
  }

  // One sequence per (row, state): seq up to the state, then the terminal tokens.
  void score_per_prefix(std::span<const RewardRequest<Q>> rows, const std::vector<Row>& built) {
    struct Item {
      std::size_t row;
      std::size_t t;
      std::vector<int32_t> seq;
    };
    std::vector<Item> items;
    for (std::size_t b = 0; b < built.size(); ++b)
      for (std::size_t t = 0; t < built[b].state_end.size(); ++t) {
        Item it{b, t, {}};
        it.seq.assign(built[b].seq.begin(), built[b].seq.begin() + built[b].state_end[t] + 1);
        it.seq.insert(it.seq.end(), built[b].terminal.begin(), built[b].terminal.end());
        items.push_back(std::move(it));
      }
    const int V = model_->config().vocab_size;
    const std::size_t chunk = std::max(1, config_.max_rows_per_pass);
    for (std::size_t begin = 0; begin < items.size(); begin += chunk) {
      const std::size_t end = std::min(items.size(), begin + chunk);
      std::vector<const std::vector<int32_t>*> seqs;
      for (std::size_t i = begin; i < end; ++i) seqs.push_back(&items[i].seq);
      const int T = run(seqs);
      const float* logits = batch_logits();
      for (std::size_t i = begin; i < end; ++i) {
        const Item& it = items[i];
        const float* base = logits + (i - begin) * static_cast<std::size_t>(T) * V;
        const int start =
            static_cast<int>(config_.context.size() + rows[it.row].query->prompt.size());
        double total = 0;
        for (int pos = start - 1; pos + 1 < static_cast<int>(it.seq.size()); ++pos)
          total += log_prob_at(base + static_cast<std::size_t>(pos) * V, it.seq[pos + 1]);
        rows[it.row].out[it.t] = total;
      }
    }
  }

  Model* model_;
  LmLikelihoodConfig config_;
  std::vector<int32_t> tokens_;
  std::vector<float> host_logits_;  // the last run()'s logits where the model's are not on the host
};

template <class Bk = Cpu, PromptedQuery Q = LmQuery>
using LmLikelihoodReward = BasicLmLikelihoodReward<Transformer<Bk, float>, Q>;

}  // namespace gfnlm

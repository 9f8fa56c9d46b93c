#pragma once
// A minimal Policy that, unlike TabularPolicy, accepts tool context: its logits depend on the
// number of actions taken only (one trainable row per position), and it records every context
// insertion it receives, during rollouts and in score(), so a test can check the Sampler's
// bookkeeping of SPEC section 5.
#include <gfnlm/backend/cpu.hpp>
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/tensor.hpp>
#include <gfnlm/gfn/masks.hpp>
#include <gfnlm/gfn/policy.hpp>
#include <gfnlm/gfn/trajectory.hpp>
#include <gfnlm/model/parameter.hpp>

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

namespace gfnlm::test {

class MockContextPolicy {
 public:
  using Query = int;

  MockContextPolicy(int vocab, int32_t stop, int max_len)
      : vocab_(vocab),
        stop_(stop),
        table_(std::size_t(max_len + 1) * vocab, 0.0f),
        grad_(table_.size(), 0.0f) {}

  int vocab_size() const { return vocab_; }
  int32_t stop_token() const { return stop_; }

  void start_rollout(std::span<const Query> rows) {
    state_.assign(rows.size(), {});
    actions_.assign(rows.size(), 0);
    done_.assign(rows.size(), false);
  }
  // The row of state s_t is table row t: the CPU backend's masked draw over it.
  void draw(const LogitMask& mask, const DrawStep& step, std::span<int32_t> drawn,
            std::span<double> log_q) {
    const int n = static_cast<int>(state_.size());
    std::vector<int32_t> rows, tokens;
    std::vector<double> temps, uniforms, lq;
    std::vector<int> items;
    for (int r = 0; r < n; ++r) {
      drawn[r] = -1;
      if (!step.live[r]) continue;
      items.push_back(r);
      rows.push_back(actions_[r]);
      temps.push_back(step.temperature[r]);
      uniforms.push_back(step.uniform[r]);
    }
    const int N = static_cast<int>(items.size());
    tokens.resize(N), lq.resize(N);
    std::vector<uint8_t> banned(N);
    for (int i = 0; i < N; ++i) banned[i] = step.bans_stop(mask, items[i]) ? 1 : 0;
    Cpu::sample_tokens(tokens.data(), lq.data(), table_.data(), N, vocab_, temps.data(),
                       uniforms.data(), row_mask(mask, rows.data(), banned.data()));
    for (int i = 0; i < N; ++i) drawn[items[i]] = tokens[i], log_q[items[i]] = lq[i];
  }
  void advance(std::span<const int32_t> tokens) {
    for (std::size_t r = 0; r < tokens.size(); ++r) {
      if (tokens[r] < 0) {
        done_[r] = true;
        continue;
      }
      GFNLM_CHECK(!done_[r], "MockContextPolicy: row {} advanced after it finished", r);
      state_[r].push_back(tokens[r]);
      ++actions_[r];
    }
  }
  void append_context(int row, std::span<const int32_t> tokens) {
    state_.at(row).insert(state_[row].end(), tokens.begin(), tokens.end());
    appended.push_back({row, actions_[row], {tokens.begin(), tokens.end()}});
  }

  // log q at every state from table row t, through the CPU backend's fused masked kernel (on a
  // copy of the rows, so backward can scatter-add into rows several states share).
  void score(std::span<const Query>, const LogitMask& mask, TrajectoryBatch& batch) {
    scored_context = batch.context;
    states_.clear(), idx_.clear(), banned_.clear();
    for (int b = 0; b < batch.rows(); ++b)
      for (int t = 0; t <= batch.length[b]; ++t) {
        states_.push_back({b, t, t < batch.length[b], t < batch.length[b] || batch.stopped[b]});
        idx_.push_back(t < batch.length[b] ? batch.actions(b, t) : -1);
        idx_.push_back(stop_);
        banned_.push_back(mask.bans_stop(t, t > 0 ? batch.actions(b, t - 1) : -1) ? 1 : 0);
      }
    const int N = static_cast<int>(states_.size());
    block_.resize(std::size_t(N) * vocab_);
    for (int i = 0; i < N; ++i)
      std::copy_n(table_.data() + std::size_t(states_[i].t) * vocab_, vocab_,
                  block_.data() + std::size_t(i) * vocab_);
    logp_.resize(2 * std::size_t(N));
    lse_.resize(N);
    mask_ = row_mask(mask, nullptr, banned_.data());
    Cpu::logprob_forward(logp_.data(), lse_.data(), block_.data(), idx_.data(), N, vocab_, 2,
                         mask_);
    for (int i = 0; i < N; ++i) {
      if (states_[i].has_action) batch.log_pf(states_[i].row, states_[i].t) = logp_[2 * i];
      batch.log_stop(states_[i].row, states_[i].t) = logp_[2 * i + 1];
    }
  }
  void backward(const TrajectoryGrad& grad, double scale) {
    const int N = static_cast<int>(states_.size());
    std::vector<float> dlogp(2 * std::size_t(N), 0.0f);
    for (int i = 0; i < N; ++i) {
      const auto& s = states_[i];
      if (s.has_action) dlogp[2 * i] = float(scale * grad.log_pf(s.row, s.t));
      if (s.stop_counts) dlogp[2 * i + 1] = float(scale * grad.log_stop(s.row, s.t));
    }
    Cpu::logprob_backward(block_.data(), dlogp.data(), block_.data(), lse_.data(), idx_.data(), N,
                          vocab_, 2, false, mask_);
    for (int i = 0; i < N; ++i)
      for (int v = 0; v < vocab_; ++v)
        grad_[std::size_t(states_[i].t) * vocab_ + v] += block_[std::size_t(i) * vocab_ + v];
  }
  ParameterList<float> parameters() {
    return {ParameterView<float>{"mock.logits", table_.data(), grad_.data(), table_.size(), false}};
  }

  // The full state (actions and context, in order) of rollout row r.
  const std::vector<int32_t>& state(int r) const { return state_.at(r); }

  struct Appended {
    int row;
    int after_action;
    std::vector<int32_t> tokens;
  };
  std::vector<Appended> appended;                          // every rollout insertion
  std::vector<std::vector<ContextInsert>> scored_context;  // context of the last score()

 private:
  int vocab_;
  int32_t stop_;
  std::vector<float> table_, grad_;
  std::vector<std::vector<int32_t>> state_;
  std::vector<int> actions_;
  std::vector<bool> done_;
  struct State {
    int row, t;
    bool has_action, stop_counts;
  };
  RowMask row_mask(const LogitMask& mask, const int32_t* rows, const uint8_t* banned) const {
    return {rows, mask.all_allowed() ? nullptr : mask.allowed_bytes().data(), banned, stop_};
  }
  std::vector<State> states_;
  std::vector<int32_t> idx_;
  std::vector<uint8_t> banned_;
  std::vector<float> block_, logp_, lse_;
  RowMask mask_;
};

static_assert(Policy<MockContextPolicy>);

}  // namespace gfnlm::test

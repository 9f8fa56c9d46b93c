#pragma once
// Exact answer probabilities of a policy for the random-integer task, by teacher forcing instead
// of sampling (docs/uniform_integers.md): q(z STOP) of each of the 101 valid answers, so the
// validity mass and the shape over 0..100 are read without sampling noise, and the next-token
// probabilities along the path of "100" (issue 5's missing "100": q(STOP | "10"), q("0" | "10"),
// q(STOP | "100")).
//
// The answer tokens come from codec.tokens(digits) (reward.hpp). With a sub-word tokenizer an
// integer may have several tokenizations; only this one is scored, so valid_mass is then a lower
// bound.
#include <gfnlm/core/error.hpp>
#include <gfnlm/gfn/masks.hpp>
#include <gfnlm/gfn/policy.hpp>
#include <gfnlm/gfn/trajectory.hpp>
#include <gfnlm/tasks/uniform_integers/answer.hpp>
#include <gfnlm/tasks/uniform_integers/reward.hpp>
#include <gfnlm/text/tokenizer.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace gfnlm::uniform_integers {

struct ExactAnswerProbabilities {
  std::array<double, kNumValues> log_q{};  // log q(digits(v) STOP) for v = 0..100
  double valid_mass = 0;                   // sum_v q(v STOP): the exact validity
  double kl_valid = 0;  // KL(q restricted to 0..100 and renormalised || uniform), nats
  // Along "100" (char-level: "1" -> "10" -> "100"); NaN where "100" is not three tokens.
  double stop_after_10 = NAN;   // q(STOP | "10")
  double zero_after_10 = NAN;   // q("0" | "10")
  double stop_after_100 = NAN;  // q(STOP | "100")
};

// Scores every valid answer with policy.score (one teacher-forced batch of 101 rows) and reads
// the gathered log q(a_t | s_t) / log q(STOP | s_t) it fills; `mask` is applied inside the policy
// as when sampling (the GFlowNet's min-length mask), or none (null: a default all-allowed mask).
template <Policy P, Tokenizer Tok>
ExactAnswerProbabilities exact_answer_probabilities(P& policy, const typename P::Query& query,
                                                    const AnswerCodec<Tok>& codec,
                                                    const LogitMask* mask = nullptr) {
  std::vector<std::vector<int32_t>> answers;
  int len = 1;
  for (int v = kMinValue; v <= kMaxValue; ++v) {
    answers.push_back(codec.tokens(std::to_string(v)));
    GFNLM_CHECK(!answers.back().empty(), "exact_answer_probabilities: \"{}\" encodes to nothing",
                v);
    len = std::max(len, static_cast<int>(answers.back().size()));
  }
  TrajectoryBatch batch;
  batch.resize(kNumValues, len);
  for (int r = 0; r < kNumValues; ++r) {
    const auto& z = answers[std::size_t(r)];
    for (std::size_t t = 0; t < z.size(); ++t) batch.actions(r, t) = z[t];
    batch.length[r] = static_cast<int>(z.size());
    batch.stopped[r] = true;
    batch.query[r] = 0;
  }
  const std::vector<typename P::Query> queries(kNumValues, query);
  std::optional<LogitMask> own_mask;
  if (!mask) own_mask.emplace(policy.vocab_size(), policy.stop_token(), 0);
  policy.score(std::span<const typename P::Query>(queries), mask ? *mask : *own_mask, batch);
  ExactAnswerProbabilities out;
  for (int r = 0; r < kNumValues; ++r) {
    const int e = batch.length[r];
    double log_q = batch.log_stop(r, e);
    for (int t = 0; t < e; ++t) log_q += batch.log_pf(r, t);
    if (r == 100 - kMinValue && e == 3) {
      out.stop_after_10 = std::exp(double(batch.log_stop(r, 2)));
      out.zero_after_10 = std::exp(double(batch.log_pf(r, 2)));
      out.stop_after_100 = std::exp(double(batch.log_stop(r, 3)));
    }
    out.log_q[std::size_t(r)] = log_q;
    out.valid_mass += std::exp(log_q);
  }
  if (out.valid_mass > 0) {
    const double log_u = -std::log(double(kNumValues));
    for (double lq : out.log_q) {
      const double p = std::exp(lq) / out.valid_mass;
      if (p > 0) out.kl_valid += p * (std::log(p) - log_u);
    }
  }
  return out;
}

}  // namespace gfnlm::uniform_integers

#pragma once
// The decoders' view of a logits row (baselines/beam_search.hpp, and the truncated draws of the
// rollout engine, gfn/rollout.hpp): for each item, its K most likely allowed tokens, best first,
// with their log-probabilities under the masked softmax at temperature 1 and, optionally, at the
// item's temperature. Beam search reads a beam's K best continuations; top-k and nucleus (top-p)
// sampling renormalise over them. Only [N, K] ids and log-probs leave the backend, never a row.
//
// Ties are broken by the lower id, so a CPU and another backend rank alike. The normalisers are
// in double over the whole allowed row, as the categorical draw's (logprob.hpp), so a candidate's
// log-probability equals the one the draw reports for the same token.
#include <gfnlm/backend/row_mask.hpp>
#include <gfnlm/core/error.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

namespace gfnlm::cpu {

struct TopTokenKernels {
  // tokens [N, K] (-1 past the item's allowed count), logp [N, K] at temperature 1 (-inf past it),
  // logp_tempered [N, K] or null at temperature[n] (null: 1). Masks as RowMask.
  template <class S>
  static void top_tokens(int32_t* tokens, double* logp, double* logp_tempered, const S* logits,
                         int N, int V, int K, const double* temperature, const RowMask& mask = {}) {
    GFNLM_CHECK(K >= 1 && K <= V, "top_tokens: K = {} outside [1, {}]", K, V);
    GFNLM_CHECK(!mask.stop_banned || (mask.stop >= 0 && mask.stop < V),
                "top_tokens: stop token {} outside the vocabulary [0, {})", mask.stop, V);
    const double ninf = -std::numeric_limits<double>::infinity();
    int bad = -1;
#pragma omp parallel if (static_cast <long>(N) * V > (1L << 16))
    {
      std::vector<std::pair<double, int32_t>> allowed;
      allowed.reserve(V);
#pragma omp for
      for (int n = 0; n < N; ++n) {
        const S* x = logits + static_cast<long>(mask.rows ? mask.rows[n] : n) * V;
        const bool stop_banned = mask.stop_banned && mask.stop_banned[n];
        allowed.clear();
        double hi = ninf;
        for (int v = 0; v < V; ++v) {
          if ((mask.allowed && !mask.allowed[v]) || (stop_banned && v == mask.stop)) continue;
          const double value = static_cast<double>(x[v]);
          allowed.emplace_back(value, v);
          hi = std::max(hi, value);
        }
        int32_t* tok = tokens + static_cast<long>(n) * K;
        double* lp = logp + static_cast<long>(n) * K;
        double* lpt = logp_tempered ? logp_tempered + static_cast<long>(n) * K : nullptr;
        std::fill(tok, tok + K, -1);
        std::fill(lp, lp + K, ninf);
        if (lpt) std::fill(lpt, lpt + K, ninf);
        if (!std::isfinite(hi)) {
#pragma omp critical(gfnlm_top_tokens_bad)
          bad = bad < 0 ? n : std::min(bad, n);
          continue;
        }
        const double inv_t = temperature ? 1.0 / temperature[n] : 1.0;
        double sum = 0, sum_t = 0;
        for (const auto& [value, v] : allowed) {
          sum += std::exp(value - hi);
          sum_t += std::exp((value - hi) * inv_t);
        }
        const double lse = hi + std::log(sum), lse_t = std::log(sum_t);
        const int k = std::min<int>(K, static_cast<int>(allowed.size()));
        const auto better = [](const auto& a, const auto& b) {
          return a.first > b.first || (a.first == b.first && a.second < b.second);
        };
        std::partial_sort(allowed.begin(), allowed.begin() + k, allowed.end(), better);
        for (int i = 0; i < k; ++i) {
          tok[i] = allowed[i].second;
          lp[i] = allowed[i].first - lse;
          if (lpt) lpt[i] = (allowed[i].first - hi) * inv_t - lse_t;
        }
      }
    }
    GFNLM_CHECK(bad < 0, "top_tokens: logits row {} (item {}) is all masked or not finite",
                bad < 0 ? 0 : (mask.rows ? mask.rows[bad] : bad), bad);
  }
};

}  // namespace gfnlm::cpu

#pragma once
// The figures of the story-infilling comparison (paper section 4.2, issue 19), per method, over
// K samples of each test item:
// - BLEU-4 and GLEU-4 of each sample against the reference sentence, as nltk's sentence_bleu
//   (method1) and sentence_gleu, on str.split() words of the decoded texts (the reference code's
//   eval_infill.py does the same); the mean over samples, then over items;
// - log p_LM(X Z Y) and log p_LM(Z Y | X) (the reward at T_R = 1), means over samples and items;
// - diversity of each item's K samples: mean pairwise normalised token edit distance, distinct-2
//   over tokens, the number of distinct samples; and their mean length in tokens.
// And the diagnosis the issue asks for when the paper's ranking does not hold: does the reward
// rank the reference infill above the sampled ones, and does a higher reward mean a higher BLEU?
#include <gfnlm/eval/bleu.hpp>
#include <gfnlm/eval/diversity.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace gfnlm::stories {

// One method's samples and their scores, [item][sample].
struct InfillMethodResult {
  std::string method;  // "prompting", "sft", "gfn"
  std::vector<std::vector<std::vector<int32_t>>> samples;
  std::vector<std::vector<std::string>> texts;
  std::vector<std::vector<double>> log_zy;  // log p(Z Y | X)
  std::vector<std::vector<double>> bleu, gleu;
  // Means over items of the per-item mean over samples (diversities: of the per-item value).
  double bleu4 = 0, gleu4 = 0, log_p_xzy = 0, log_p_zy = 0;
  double edit_diversity = 0, distinct2 = 0, distinct_samples = 0, tokens = 0;
  double seconds = 0;  // sampling and scoring (training is reported apart)
};

// How the reward (log p(Z Y | X)) ranks the reference infill against a method's samples, and
// whether it agrees with BLEU. Fractions are over test items.
struct RewardDiagnosis {
  std::string method;
  double ref_above_median = 0;  // log R(ref) > the median sample's
  double ref_above_max = 0;     // log R(ref) > every sample's
  double ref_percentile = 0;    // mean fraction of an item's samples scored below the reference
  double ref_log_zy = 0;        // mean log R(ref)
  double bleu_of_best = 0;      // mean BLEU-4 of each item's highest-reward sample
  double reward_bleu_corr = 0;  // mean over items of the Pearson correlation of log R and BLEU
                                // over its samples (items with no spread in either are skipped)
};

namespace detail {

inline double pearson(const std::vector<double>& a, const std::vector<double>& b, bool& ok) {
  const std::size_t n = a.size();
  double ma = 0, mb = 0;
  for (std::size_t i = 0; i < n; ++i) ma += a[i] / double(n), mb += b[i] / double(n);
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t i = 0; i < n; ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  ok = n >= 2 && saa > 1e-12 && sbb > 1e-12;
  return ok ? sab / std::sqrt(saa * sbb) : 0.0;
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace detail

// Fills bleu, gleu and the means of r from its samples, texts and log_zy; log_x[p] = log p(X) of
// item p, references[p] the reference text.
inline void summarise_infills(InfillMethodResult& r, const std::vector<std::string>& references,
                              const std::vector<double>& log_x) {
  const std::size_t P = r.samples.size();
  r.bleu.assign(P, {}), r.gleu.assign(P, {});
  r.bleu4 = r.gleu4 = r.log_p_xzy = r.log_p_zy = 0;
  r.edit_diversity = r.distinct2 = r.distinct_samples = r.tokens = 0;
  for (std::size_t p = 0; p < P; ++p) {
    const std::vector<std::vector<std::string>> refs{split_words(references[p])};
    const double K = double(r.samples[p].size());
    for (std::size_t i = 0; i < r.samples[p].size(); ++i) {
      const auto hyp = split_words(r.texts[p][i]);
      r.bleu[p].push_back(sentence_bleu(refs, hyp));
      r.gleu[p].push_back(sentence_gleu(refs, hyp));
      r.bleu4 += r.bleu[p].back() / K / double(P);
      r.gleu4 += r.gleu[p].back() / K / double(P);
      r.log_p_zy += r.log_zy[p][i] / K / double(P);
      r.log_p_xzy += (log_x[p] + r.log_zy[p][i]) / K / double(P);
      r.tokens += double(r.samples[p][i].size()) / K / double(P);
    }
    r.edit_diversity += mean_pairwise_edit_distance(r.samples[p]) / double(P);
    r.distinct2 += distinct_n(r.samples[p], 2) / double(P);
    r.distinct_samples += double(count_distinct(r.samples[p])) / double(P);
  }
}

// ref_log_zy[p] = log p(Z_ref Y | X) of item p.
inline RewardDiagnosis diagnose(const InfillMethodResult& r,
                                const std::vector<double>& ref_log_zy) {
  RewardDiagnosis d{r.method};
  const std::size_t P = r.samples.size();
  std::size_t corr_items = 0;
  for (std::size_t p = 0; p < P; ++p) {
    const auto& s = r.log_zy[p];
    const double ref = ref_log_zy[p];
    d.ref_log_zy += ref / double(P);
    d.ref_above_median += (ref > detail::median(s)) / double(P);
    d.ref_above_max += (ref > *std::max_element(s.begin(), s.end())) / double(P);
    double below = 0;
    for (double v : s) below += (v < ref) / double(s.size());
    d.ref_percentile += below / double(P);
    const auto best = std::max_element(s.begin(), s.end()) - s.begin();
    d.bleu_of_best += r.bleu[p][best] / double(P);
    bool ok = false;
    const double c = detail::pearson(s, r.bleu[p], ok);
    if (ok) d.reward_bleu_corr += c, ++corr_items;
  }
  if (corr_items) d.reward_bleu_corr /= double(corr_items);
  return d;
}

}  // namespace gfnlm::stories

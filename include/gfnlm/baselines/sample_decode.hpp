#pragma once
// The sampling decoders of the paper's comparisons (SPEC section 6): ancestral sampling at a
// temperature, top-k, nucleus (top-p) and greedy decoding, as n rollouts per prompt of the one
// rollout engine (gfn/rollout.hpp) with a Truncation. Beam searches are in beam_search.hpp.
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/gfn/masks.hpp>
#include <gfnlm/gfn/policy.hpp>
#include <gfnlm/gfn/rollout.hpp>

#include <span>
#include <vector>

namespace gfnlm {

struct SamplingDecoder {
  double temperature = 1.0;  // softmax(logits / temperature), before truncation
  Truncation truncation{};   // top_k / top_p (Hugging Face's order: temperature, top-k, top-p)
  int max_len = 0;           // actions before STOP is forced
  // A sample ends right after one of these tokens (RolloutSpec::end_after): a sentence is over
  // at its end token, whether or not the LM would emit its STOP there.
  std::vector<int32_t> end_after = {};
};

// Greedy decoding: the most likely allowed token at every step (top-k with k = 1).
inline SamplingDecoder greedy_decoder(int max_len) {
  return {1.0, {1, 1.0}, max_len};
}

// out[p][i]: sample i of prompt p. The rows of a prompt are consecutive in one rollout, so a
// policy that shares a prompt's decoded state across rows (LmPolicy) decodes it once.
template <Policy P>
std::vector<std::vector<Trajectory>> sample_decode(P& policy,
                                                   std::span<const typename P::Query> prompts,
                                                   int samples_per_prompt, const LogitMask& mask,
                                                   const SamplingDecoder& decoder, Rng& rng) {
  GFNLM_CHECK(samples_per_prompt >= 1, "sample_decode: samples_per_prompt = {} must be >= 1",
              samples_per_prompt);
  const std::size_t n = prompts.size() * std::size_t(samples_per_prompt);
  std::vector<typename P::Query> rows;
  rows.reserve(n);
  for (const auto& q : prompts)
    for (int i = 0; i < samples_per_prompt; ++i) rows.push_back(q);
  std::vector<Trajectory> drawn(n);
  std::vector<Trajectory*> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = &drawn[i];
  const std::vector<double> temperatures(n, decoder.temperature);
  RolloutSpec<typename P::Query> spec;
  spec.mask = &mask;
  spec.max_len = decoder.max_len;
  spec.truncation = decoder.truncation;
  spec.end_after = decoder.end_after;
  rollout(policy, std::span<const typename P::Query>(rows), std::span<const double>(temperatures),
          spec, rng, std::span<Trajectory* const>(out));
  std::vector<std::vector<Trajectory>> result(prompts.size());
  for (std::size_t i = 0; i < n; ++i) result[i / samples_per_prompt].push_back(std::move(drawn[i]));
  return result;
}

}  // namespace gfnlm

// Built twice (tests.cmake): as it is it must compile, so that in the other build the reward is
// the only thing wrong; with GFNLM_WRONG_REWARD it must fail with the Sampler's static_assert,
// which lists the four reward signatures it accepts.
#include <gfnlm/gfn/sampler.hpp>
#include <gfnlm/policies/tabular.hpp>

#include <cstdint>
#include <span>

int main() {
  gfnlm::TabularPolicy policy(/*num_queries=*/1, /*vocab_size=*/3, /*stop_token=*/2,
                              /*max_len=*/3);
#ifdef GFNLM_WRONG_REWARD
  auto reward = [](int tokens) { return -0.5 * tokens; };  // not (query, actions)
#else
  auto reward = [](const int&, std::span<const int32_t> z) { return -0.5 * double(z.size()); };
#endif
  gfnlm::Sampler sampler(policy, reward, gfnlm::SamplerConfig{});
  return sampler.step();
}

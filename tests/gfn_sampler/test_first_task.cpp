// Your first task: a sampler of palindromes over {a, b, c} of 1 to 5 letters, uniform over all 51
// of them, learned by a small transformer trained from scratch, then checked against the exact
// target by enumerating every palindrome.
#include <gfnlm/core/rng.hpp>
#include <gfnlm/gfn/objectives/trajectory_balance.hpp>
#include <gfnlm/gfn/sampler.hpp>
#include <gfnlm/model/transformer.hpp>
#include <gfnlm/policies/lm_policy.hpp>
#include <gfnlm/text/char_tokenizer.hpp>
#include <gfnlm/text/llama2c_tokenizer.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <span>
#include <string>
#include <vector>

// The task: log R(z STOP) = 0 for a palindrome of 1 to 5 letters, -inf (zero reward) otherwise.
// Small enough to enumerate, so the sampler can be checked exactly.
struct Palindromes {
  static constexpr int kMaxLen = 5;

  double operator()(const gfnlm::LmQuery&, std::span<const int32_t> z) const {
    if (z.empty()) return -std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < z.size() / 2; ++i)
      if (z[i] != z[z.size() - 1 - i]) return -std::numeric_limits<double>::infinity();
    return 0.0;
  }

  // Every palindrome over the letters: a first half and, for an odd length, a middle letter.
  static std::vector<std::vector<int32_t>> all(std::span<const int32_t> letters) {
    std::vector<std::vector<int32_t>> out;
    std::vector<std::vector<int32_t>> halves{{}};
    for (int half = 0; 2 * half <= kMaxLen; ++half) {
      for (const auto& h : halves) {
        for (int middle = -1; middle < int(letters.size()); ++middle) {
          if (middle < 0 && half == 0) continue;                // the empty word
          if (middle >= 0 && 2 * half + 1 > kMaxLen) continue;  // too long
          std::vector<int32_t> z = h;
          if (middle >= 0) z.push_back(letters[middle]);
          z.insert(z.end(), h.rbegin(), h.rend());
          out.push_back(z);
        }
      }
      std::vector<std::vector<int32_t>> longer;
      for (const auto& h : halves)
        for (int32_t letter : letters) {
          longer.push_back(h);
          longer.back().push_back(letter);
        }
      halves = longer;
    }
    return out;
  }
};

int main(int argc, char** argv) {
  // A tokenizer: one id per letter (a = 0, b = 1, c = 2), then "<bos>" (3) to start the prompt
  // and "<eos>" (4), the policy's STOP token.
  const gfnlm::CharTokenizer tok("abc", {"<bos>", "<eos>"});
  const int32_t stop = tok.eos_id();
  if (argc > 1) {
    // A llama2.c model comes with its own tokenizer file (tok512.bin, tokenizer.bin):
    const auto llama_tok = gfnlm::Llama2cTokenizer::from_file(argv[1]);
    std::printf("%s: %d tokens; \"aba\" is %zu of them\n", argv[1], llama_tok.vocab_size(),
                llama_tok.encode("aba").size());
  }

  // A model from scratch: a 2-layer GPT-2-style transformer, every weight trained.
  const gfnlm::TransformerConfig model_config{
      .vocab_size = tok.vocab_size(), .max_seq_len = 8, .n_layer = 2, .n_head = 2, .d_model = 32};
  gfnlm::Rng rng(1);
  gfnlm::Transformer<> model(model_config, rng);
  gfnlm::LmPolicy<> policy(model, stop);

  // Queries: what each sample is conditioned on. One here, the prompt "<bos>"; train_step takes
  // a batch of them (each with trajectories_per_query rows).
  const std::vector<gfnlm::LmQuery> queries{{.prompt = tok.encode("<bos>"), .suffix = {}, .id = 0}};

  gfnlm::SamplerConfig config;
  config.trajectories_per_query = 16;
  config.max_len = Palindromes::kMaxLen;
  config.min_len = 1;  // STOP is masked at the root
  config.allowed_tokens = {tok.token_id("a"), tok.token_id("b"), tok.token_id("c"), stop};
  config.optimizer.lr = 1e-3;
  config.lr_schedule = {.warmup = 20, .total = 3000, .final_fraction = 0.05};
  // Words this short are near duplicates of each other under the default tolerance ("aba" and
  // "aca" are 1 edit apart, < 0.25 x 6): keep exact duplicates out only (docs/concepts.md,
  // "Choosing an objective and buffer settings").
  config.buffer.near_duplicate_tolerance = 0;
  config.progress_every = 500;  // the default progress line on stderr, every 500 steps
  config.seed = 1;
  // Trajectory balance: this target's prefix rewards say nothing (same section).
  // log_reward_floor: a zero reward enters the loss as log R = -10.
  gfnlm::Sampler sampler(policy, Palindromes{}, config,
                         gfnlm::TrajectoryBalance({.log_reward_floor = -10}));

  const auto start = std::chrono::steady_clock::now();
  const int steps = 3000;
  for (int step = 0; step < steps; ++step) sampler.train_step(queries);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // The exact check: the target is uniform over the palindromes, p = 1/51 each, so
  // KL(target || q) = sum_z p (log p - log q(z STOP)), with log q from the trained policy.
  const std::vector<int32_t> letters{tok.token_id("a"), tok.token_id("b"), tok.token_id("c")};
  const auto targets = Palindromes::all(letters);
  const double log_p = -std::log(double(targets.size()));
  double kl = 0, mass = 0;
  for (const auto& z : targets) {
    // A word of max_len letters was cut there: it has no STOP to score.
    const bool stopped = int(z.size()) < Palindromes::kMaxLen;
    const double log_q = sampler.log_prob(queries[0], z, stopped);
    kl += std::exp(log_p) * (log_p - log_q);
    mass += std::exp(log_q);
  }
  std::printf(
      "%zu palindromes: KL(target || q) = %.4f, q's mass on them %.4f, after %d steps in "
      "%.1f s\n",
      targets.size(), kl, mass, steps, seconds);
  std::printf("samples:");
  for (const auto& sample : sampler.sample(queries[0], 8))
    std::printf(" %s", tok.decode(sample.actions).c_str());
  std::printf("\n");
  return targets.size() == 51 && kl < 0.03 ? 0 : 1;
}

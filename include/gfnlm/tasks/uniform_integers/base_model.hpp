#pragma once
// The embedded default base model of the random-integer task (issue 5): a small char-level GPT-2
// pretrained by maximum likelihood on the generated corpus (corpus.hpp), so the example runs with
// no download. Pretraining takes seconds, and the result is cached on disk under a name that
// hashes everything it depends on (model shape, corpus, training schedule, seed, file format), so
// a second run, or a run with other fine-tuning settings, reuses it. The file is sealed
// (core/sealed_file.hpp): one that fails verification is an error naming it, never silently
// pretrained over, since that would hide a failing disk and change the weights a run starts from.
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/core/sealed_file.hpp>
#include <gfnlm/gfn/query_key.hpp>
#include <gfnlm/model/adamw.hpp>
#include <gfnlm/model/transformer.hpp>
#include <gfnlm/tasks/uniform_integers/corpus.hpp>
#include <gfnlm/text/char_tokenizer.hpp>

#include <fmt/format.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace gfnlm::uniform_integers {

// The char tokenizer of the embedded model: the corpus alphabet plus "<eos>", the stop token.
inline CharTokenizer char_tokenizer() {
  return CharTokenizer(corpus_alphabet(), {"<eos>"});
}

struct BaseModelConfig {
  int d_model = 64;
  int n_layer = 2;
  int n_head = 4;
  // AdamW steps of maximum likelihood on fresh corpus lines. Long enough that the base is
  // confident: its logit range after a digit grows from ~12 nats at 400 steps to ~15 at 2,000,
  // and LoRA (frozen final LayerNorm and tied head) cannot widen it much, so the GFlowNet's
  // validity follows it (docs/uniform_integers.md).
  int steps = 3000;
  int batch = 32;     // corpus lines per step
  double lr = 3e-3;   // peak; 20 warm-up steps, then linear decay to 10%
  uint64_t seed = 1;  // model init and corpus draws
  CorpusMix mix{};

  // Everything the trained weights depend on, as text (hashed into the cache file name).
  std::string fingerprint() const {
    return fmt::format(
        "v2 d{} l{} h{} steps{} batch{} lr{} seed{} mix{},{},{},{},{} prompt'{}' "
        "alphabet'{}' max_answer{}",
        d_model, n_layer, n_head, steps, batch, lr, seed, mix.valid, mix.out_of_range, mix.words,
        mix.empty, mix.unparseable, kCharPrompt, corpus_alphabet(), kMaxAnswerTokens);
  }
};

// Tokens of "prompt answer <eos>" for one corpus line.
inline std::vector<int32_t> corpus_line_tokens(const CharTokenizer& tok, std::string_view answer) {
  auto seq = tok.encode(kCharPrompt);
  const auto a = tok.encode(answer);
  seq.insert(seq.end(), a.begin(), a.end());
  seq.push_back(tok.eos_id());
  return seq;
}

// Maximum likelihood on the answer tokens and <eos> of freshly drawn corpus lines (the prompt is
// context: it is the same on every line, and learning it would only cost time). progress(step,
// loss) is called every 25 steps and at the end.
inline Transformer<Cpu, float> pretrain_base_model(
    const BaseModelConfig& config, const std::function<void(int, double)>& progress = {}) {
  const auto tok = char_tokenizer();
  const int prompt_len = static_cast<int>(tok.encode(kCharPrompt).size());
  const int T = prompt_len + kMaxAnswerTokens;  // inputs; targets are shifted by one
  Rng rng(config.seed);
  TransformerConfig mc{.vocab_size = tok.vocab_size(),
                       .max_seq_len = T + 1,
                       .n_layer = config.n_layer,
                       .n_head = config.n_head,
                       .d_model = config.d_model};
  Transformer<Cpu, float> model(mc, rng);
  AdamW<float> optimizer(model.parameters(), {.lr = config.lr, .weight_decay = 0.0});
  const int B = config.batch;
  std::vector<int32_t> inputs(std::size_t(B) * T), targets(inputs.size());
  std::vector<uint8_t> mask(inputs.size());
  for (int step = 0; step < config.steps; ++step) {
    const auto answers = generate_answers(B, rng, config.mix);
    for (int b = 0; b < B; ++b) {
      const auto seq = corpus_line_tokens(tok, answers[b]);
      for (int t = 0; t < T; ++t) {
        const std::size_t i = std::size_t(b) * T + t;
        inputs[i] = t < int(seq.size()) ? seq[t] : tok.eos_id();
        targets[i] = t + 1 < int(seq.size()) ? seq[t + 1] : -1;
        mask[i] = t >= prompt_len - 1;  // predicts an answer token or <eos>
      }
    }
    model.zero_grad();
    model.forward(inputs.data(), B, T);
    const double loss = model.cross_entropy(targets.data(), mask.data());
    model.backward_cross_entropy();
    clip_grad_norm(model.parameters(), 1.0);
    const double warm = step < 20 ? (step + 1) / 20.0 : 1.0;
    optimizer.step(warm * (1.0 - 0.9 * double(step) / config.steps));
    if (progress && (step % 25 == 0 || step + 1 == config.steps)) progress(step, loss);
  }
  return model;
}

// Where cached base models live: $GFNLM_CACHE_DIR, else $XDG_CACHE_HOME/gfnlm, else
// ~/.cache/gfnlm, else ./.gfnlm_cache.
inline std::filesystem::path default_cache_dir() {
  if (const char* d = std::getenv("GFNLM_CACHE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x)
    return std::filesystem::path(x) / "gfnlm";
  if (const char* h = std::getenv("HOME"); h && *h)
    return std::filesystem::path(h) / ".cache" / "gfnlm";
  return ".gfnlm_cache";
}

inline std::filesystem::path base_model_path(const BaseModelConfig& config,
                                             const std::filesystem::path& cache_dir) {
  return cache_dir /
         fmt::format("uniform_integers_base_{:016x}.bin", fnv1a64(config.fingerprint()));
}

inline constexpr const char* kBaseModelWhat = "cached base model";

// The model in a cache file written by load_or_pretrain_base_model; errors name the file and say
// how to get past it.
inline Transformer<Cpu, float> read_cached_base_model(const std::filesystem::path& path) {
  try {
    auto is = open_sealed_file(path, kBaseModelWhat);
    auto model = Transformer<Cpu, float>::from_stream(is);
    require_consumed(is, path, kBaseModelWhat);
    return model;
  } catch (const Error& e) {
    fail("cached base model '{}' cannot be used: {}; delete it or pass --no-cache", path.string(),
         e.what());
  }
}

// The cached model if its file exists, else a freshly pretrained one, saved there (atomically).
// cache_dir empty: no cache. `from_cache` reports which happened.
inline Transformer<Cpu, float> load_or_pretrain_base_model(
    const BaseModelConfig& config, const std::filesystem::path& cache_dir,
    bool* from_cache = nullptr, const std::function<void(int, double)>& progress = {}) {
  if (from_cache) *from_cache = false;
  if (!cache_dir.empty()) {
    const auto path = base_model_path(config, cache_dir);
    if (std::filesystem::exists(path)) {
      auto model = read_cached_base_model(path);
      if (from_cache) *from_cache = true;
      return model;
    }
  }
  auto model = pretrain_base_model(config, progress);
  if (!cache_dir.empty())
    write_sealed_file(base_model_path(config, cache_dir), kBaseModelWhat,
                      [&](std::ostream& os) { model.save(os); });
  return model;
}

}  // namespace gfnlm::uniform_integers

#pragma once
// The embedded base model (issue 6): a small GPT-2 over the word-level vocabulary of
// tokenizer.hpp, pretrained by maximum likelihood on the corpus of corpus.hpp, cached on disk under
// a hash of everything that determines it (model shape, corpus, optimisation, seed, file format),
// so every method of a run, and later runs, start from the same weights without paying for
// pretraining again. The file is sealed (core/sealed_file.hpp): one that fails verification is
// an error naming it, never silently pretrained over.
#include <gfnlm/backend/cpu.hpp>
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/core/sealed_file.hpp>
#include <gfnlm/gfn/query_key.hpp>
#include <gfnlm/model/adamw.hpp>
#include <gfnlm/model/transformer.hpp>
#include <gfnlm/tasks/arithmetic/corpus.hpp>
#include <gfnlm/tasks/arithmetic/tokenizer.hpp>

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace gfnlm::arithmetic {

inline ArithmeticTokenizer make_tokenizer() {
  return ArithmeticTokenizer();
}

struct BaseModelConfig {
  // 192 positions: the reward's row (3 demonstrations, X, a 5-operand Z with results, Y) needs
  // about 150 tokens.
  // 3 layers, d 96, 2000 steps of 8 x 128 tokens: copying operands from the question (an
  // induction-style circuit) appears after ~1000 steps (docs/arithmetic.md has the measurements).
  TransformerConfig model{.vocab_size = ArithmeticTokenizer().vocab_size(),
                          .max_seq_len = 192,
                          .n_layer = 3,
                          .n_head = 4,
                          .d_model = 96};
  CorpusConfig corpus{};
  std::size_t corpus_chars = 2'000'000;
  int steps = 2000;
  int batch = 8;      // (B 16 x 800 steps, the same time, had not yet learned to copy)
  int seq_len = 128;  // tokens; windows start at document starts, like every prompt
  double lr = 3e-3;
  int warmup = 50;
  uint64_t seed = 1;

  // Everything that determines the weights, as text (hashed for the cache file name).
  std::string describe() const {
    const auto& m = model;
    const auto& c = corpus;
    return fmt::format(
        "arith-base v3 words V{} T{} L{} H{} C{} tied{} std{} | careful{} stop{} right{} two{} "
        "ops{} "
        "lines{} chars{} | steps{} B{} T{} lr{} warm{} seed{}",
        m.vocab_size, m.max_seq_len, m.n_layer, m.n_head, m.d_model, m.tied_head, m.init_std,
        c.p_careful, c.p_stop, c.p_right_operand, c.p_two_operands, c.max_operands, c.max_lines,
        corpus_chars, steps, batch, seq_len, lr, warmup, seed);
  }
  uint64_t hash() const { return fnv1a64(describe()); }
  std::string cache_name() const { return fmt::format("arithmetic_base_{:016x}.bin", hash()); }
};

using BaseModel = Transformer<Cpu, float>;
// step, mean loss of the step
using PretrainProgress = std::function<void(int, double)>;

// MLE on windows of the corpus that start at document starts: AdamW, linear warm-up, cosine decay
// to 10%, gradient clipping at 1.
inline BaseModel pretrain_base_model(const BaseModelConfig& cfg, const ArithmeticTokenizer& tok,
                                     const PretrainProgress& progress = {}) {
  GFNLM_CHECK(tok.vocab_size() == cfg.model.vocab_size,
              "pretrain_base_model: tokenizer has {} ids, model config {}", tok.vocab_size(),
              cfg.model.vocab_size);
  GFNLM_CHECK(cfg.seq_len >= 2 && cfg.seq_len <= cfg.model.max_seq_len,
              "pretrain_base_model: seq_len {} outside [2, max_seq_len {}]", cfg.seq_len,
              cfg.model.max_seq_len);
  const std::string text = make_corpus(cfg.corpus, cfg.corpus_chars, cfg.seed);
  const std::vector<int32_t> ids = tok.encode(text);
  const int32_t nl = tok.token_id("\n");
  std::vector<std::size_t> starts{0};
  for (std::size_t i = 0; i + 2 < ids.size(); ++i)
    if (ids[i] == nl && ids[i + 1] == nl) starts.push_back(i + 2);
  const int T = cfg.seq_len, B = cfg.batch;
  while (!starts.empty() && starts.back() + T + 1 > ids.size()) starts.pop_back();
  GFNLM_CHECK(!starts.empty(), "pretrain_base_model: corpus of {} chars is shorter than a window",
              ids.size());
  Rng rng(cfg.seed * 7919 + 13);
  BaseModel model(cfg.model, rng);
  auto params = model.parameters();
  AdamW<float> opt(params, AdamWConfig{.lr = cfg.lr, .weight_decay = 0.01});
  std::vector<int32_t> in(std::size_t(B) * T), target(std::size_t(B) * T);
  for (int step = 0; step < cfg.steps; ++step) {
    for (int b = 0; b < B; ++b) {
      const std::size_t s = starts[rng.below(starts.size())];
      for (int t = 0; t < T; ++t) {
        in[std::size_t(b) * T + t] = ids[s + t];
        target[std::size_t(b) * T + t] = ids[s + t + 1];
      }
    }
    model.forward(in.data(), B, T);
    const double loss = model.cross_entropy(target.data());
    model.zero_grad();
    model.backward_cross_entropy();
    clip_grad_norm(params, 1.0);
    double scale = 1.0;
    if (step < cfg.warmup)
      scale = double(step + 1) / cfg.warmup;
    else
      scale = 0.1 + 0.9 * 0.5 *
                        (1 + std::cos(M_PI * double(step - cfg.warmup) /
                                      std::max(1, cfg.steps - cfg.warmup)));
    opt.step(scale);
    if (progress) progress(step, loss);
  }
  return model;
}

inline constexpr const char* kBaseModelWhat = "cached base model";

// The model in a cache file written by load_or_pretrain_base_model; errors name the file and say
// how to get past it.
inline BaseModel read_cached_base_model(const std::filesystem::path& path) {
  try {
    auto is = open_sealed_file(path, kBaseModelWhat);
    auto model = BaseModel::from_stream(is);
    require_consumed(is, path, kBaseModelWhat);
    return model;
  } catch (const Error& e) {
    fail(
        "cached base model '{}' cannot be used: {}; delete it (the next run pretrains again) or "
        "choose another cache directory",
        path.string(), e.what());
  }
}

// The cached model for cfg from cache_dir, or a freshly pretrained one written there
// (atomically). *loaded tells which happened.
inline BaseModel load_or_pretrain_base_model(const BaseModelConfig& cfg,
                                             const ArithmeticTokenizer& tok,
                                             const std::filesystem::path& cache_dir,
                                             const PretrainProgress& progress = {},
                                             bool* loaded = nullptr) {
  const auto path = cache_dir / cfg.cache_name();
  if (std::filesystem::exists(path)) {
    auto model = read_cached_base_model(path);
    GFNLM_CHECK(model.config().same_shape(cfg.model),
                "cached base model '{}' does not have the configured shape", path.string());
    if (loaded) *loaded = true;
    return model;
  }
  auto model = pretrain_base_model(cfg, tok, progress);
  std::filesystem::create_directories(cache_dir);
  write_sealed_file(path, kBaseModelWhat, [&](std::ostream& os) { model.save(os); });
  if (loaded) *loaded = false;
  return model;
}

}  // namespace gfnlm::arithmetic

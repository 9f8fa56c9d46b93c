#pragma once
// A GPT-2 decoder (pre-LN blocks, causal multi-head attention, tanh-GELU MLP, final LayerNorm,
// head tied to the token embedding unless configured otherwise) written once over a Backend.
// forward(B, T) keeps what backward needs; backward takes any d loss / d logits (the GFlowNet
// losses weight the chosen token's and the stop token's log-prob at every state, SPEC section 2),
// so cross-entropy is only one client. LoRA adapters can be switched off so the same object
// scores as the frozen base model (SPEC section 1). decode() runs incrementally on a KvCache.
#include <gfnlm/backend/concept.hpp>
#include <gfnlm/backend/cpu.hpp>
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/finite.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/core/serialize.hpp>
#include <gfnlm/model/config.hpp>
#include <gfnlm/model/decoder_arenas.hpp>
#include <gfnlm/model/gpt2_layout.hpp>
#include <gfnlm/model/kv_cache.hpp>
#include <gfnlm/model/lora.hpp>
#include <gfnlm/model/lora_host.hpp>
#include <gfnlm/model/parameter.hpp>
#include <string_view>

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <istream>
#include <optional>
#include <ostream>
#include <span>
#include <vector>

namespace gfnlm {

template <class Bk = Cpu, class Scalar = float>
requires Backend<Bk, Scalar>
class Transformer
    : public LoraHost<Transformer<Bk, Scalar>, LoraAdapters<Bk, Scalar>, Scalar>,
      public DecoderArenas<Transformer<Bk, Scalar>, Bk, Scalar, gpt2::Layout<Scalar>> {
  using Host = LoraHost<Transformer<Bk, Scalar>, LoraAdapters<Bk, Scalar>, Scalar>;
  using Arenas = DecoderArenas<Transformer<Bk, Scalar>, Bk, Scalar, gpt2::Layout<Scalar>>;
  friend Host;
  friend Arenas;
  using Arenas::A_;
  using Arenas::B_;
  using Arenas::cfg_;
  using Arenas::G_;
  using Arenas::P_;
  using Arenas::params_;
  using Arenas::T_;
  using Arenas::tokens_;

 public:
  using backend_type = Bk;
  using scalar_type = Scalar;
  using Cache = KvCache<Bk, Scalar>;

  // GPT-2 init: weights N(0, init_std), the two residual projections N(0, init_std / sqrt(2L)),
  // biases 0, LayerNorm gains 1.
  Transformer(const TransformerConfig& config, Rng& rng) : Transformer(config) {
    std::vector<Scalar> host(this->num_parameters(), Scalar(0));
    const double residual_std = cfg_.init_std / std::sqrt(2.0 * cfg_.n_layer);
    std::size_t offset = 0;
    for (const auto& s : gpt2::param_specs<Scalar>(cfg_)) {
      const std::size_t n = s.size * s.layers;
      for (std::size_t i = 0; i < n; ++i) {
        double v = 0;
        switch (s.init) {
          case gpt2::Init::normal:
            v = cfg_.init_std * rng.normal();
            break;
          case gpt2::Init::residual_normal:
            v = residual_std * rng.normal();
            break;
          case gpt2::Init::ones:
            v = 1;
            break;
          case gpt2::Init::zeros:
            v = 0;
            break;
        }
        host[offset + i] = static_cast<Scalar>(v);
      }
      offset += n;
    }
    Bk::from_host(Bk::data(params_), host.data(), host.size());
  }

  // A model read from a stream written by save().
  static Transformer from_stream(std::istream& is) {
    Transformer model(read_config(is));
    model.read_params(is);
    return model;
  }

  // ---- forward / backward -------------------------------------------------------------------

  // tokens: [B, T] row-major host ids in [0, vocab); T <= max_seq_len.
  void forward(const int32_t* tokens, int B, int T) {
    GFNLM_CHECK(B > 0 && T > 0 && T <= cfg_.max_seq_len,
                "forward(B={}, T={}): need B > 0 and 0 < T <= max_seq_len = {}", B, T,
                cfg_.max_seq_len);
    for (long i = 0; i < static_cast<long>(B) * T; ++i)
      GFNLM_CHECK(tokens[i] >= 0 && tokens[i] < cfg_.vocab_size,
                  "forward: token {} at index {} is outside the vocabulary [0, {})", tokens[i], i,
                  cfg_.vocab_size);
    prepare(B, T);
    const int N = B * T, C = cfg_.d_model, L = cfg_.n_layer, NH = cfg_.n_head;
    const long NC = static_cast<long>(N) * C;
    Bk::from_host(Bk::data(tokens_), tokens, static_cast<std::size_t>(N));
    const int32_t* tok = Bk::data(tokens_);
    auto& a = A_;
    Bk::encoder_forward(a.encoded, tok, P_.wte, P_.wpe, B, T, C);
    if (const auto* rows = this->active_tokens()) rows->add_to_embeddings(a.encoded, tokens, N);
    for (int l = 0; l < L; ++l) {
      const Scalar* x = l == 0 ? a.encoded : a.residual3 + (l - 1) * NC;
      Scalar* ln1 = a.ln1 + l * NC;
      Scalar* qkv = a.qkv + l * NC * 3;
      Scalar* atty = a.atty + l * NC;
      Scalar* res2 = a.residual2 + l * NC;
      Scalar* ln2 = a.ln2 + l * NC;
      Scalar* fch = a.fch + l * NC * 4;
      Scalar* fchg = a.fch_gelu + l * NC * 4;
      Bk::layernorm_forward(ln1, a.ln1_mean + l * N, a.ln1_rstd + l * N, x, P_.ln1w + l * C,
                            P_.ln1b + l * C, N, C);
      linear_forward(qkv, ln1, N, l, 0, lora_u(l, 0));
      Bk::attention_forward(atty, a.att + l * att_size(), qkv, B, T, C, NH);
      linear_forward(a.proj, atty, N, l, 1, lora_u(l, 1));
      Bk::residual_forward(res2, x, a.proj, NC);
      Bk::layernorm_forward(ln2, a.ln2_mean + l * N, a.ln2_rstd + l * N, res2, P_.ln2w + l * C,
                            P_.ln2b + l * C, N, C);
      linear_forward(fch, ln2, N, l, 2, lora_u(l, 2));
      Bk::gelu_forward(fchg, fch, NC * 4);
      linear_forward(a.proj, fchg, N, l, 3, lora_u(l, 3));
      Bk::residual_forward(a.residual3 + l * NC, res2, a.proj, NC);
    }
    Bk::layernorm_forward(a.lnf, a.lnf_mean, a.lnf_rstd, a.residual3 + (L - 1) * NC, P_.lnfw,
                          P_.lnfb, N, C);
    Bk::matmul_forward(a.logits, a.lnf, P_.lm_head, static_cast<const Scalar*>(nullptr), N, C,
                       cfg_.vocab_size);
    if (const auto* rows = this->active_tokens()) rows->add_to_logits(a.logits, a.lnf, N);
  }

  // Accumulates parameter gradients given d loss / d logits [B, T, V] of the last forward:
  // base gradients if the base is trainable, adapter gradients if adapters are active.
  void backward(const Scalar* dlogits) {
    GFNLM_CHECK(B_ > 0, "backward() called before forward()");
    const int B = B_, T = T_, N = B * T, C = cfg_.d_model, L = cfg_.n_layer, NH = cfg_.n_head;
    const long NC = static_cast<long>(N) * C;
    auto& a = A_;
    const bool base = this->base_trainable();
    if (base) this->ensure_grads();
    // head, then the final LayerNorm into the residual-stream gradient dx
    Bk::matmul_backward(a.dln, base ? G_.lm_head : nullptr, nullptr, dlogits, a.lnf, P_.lm_head, N,
                        C, cfg_.vocab_size, Scalar(1), false);
    if (auto* rows = this->active_tokens()) rows->backward_logits(dlogits, a.lnf, a.dln, N);
    Bk::fill(a.dx, static_cast<std::size_t>(NC), Scalar(0));
    Bk::layernorm_backward(a.dx, base ? G_.lnfw : nullptr, base ? G_.lnfb : nullptr, a.dln,
                           a.residual3 + (L - 1) * NC, P_.lnfw, a.lnf_mean, a.lnf_rstd, N, C);
    for (int l = L - 1; l >= 0; --l) {
      const Scalar* x = l == 0 ? a.encoded : a.residual3 + (l - 1) * NC;
      // dx is d residual3[l]; residual3 = residual2 + mlp(ln2(residual2))
      linear_backward(a.dfch, a.dx, a.fch_gelu + l * NC * 4, N, l, 3);
      Bk::gelu_backward(a.dfch, a.fch + l * NC * 4, a.dfch, NC * 4);
      linear_backward(a.dln, a.dfch, a.ln2 + l * NC, N, l, 2);
      Bk::layernorm_backward(a.dx, base ? G_.ln2w + l * C : nullptr,
                             base ? G_.ln2b + l * C : nullptr, a.dln, a.residual2 + l * NC,
                             P_.ln2w + l * C, a.ln2_mean + l * N, a.ln2_rstd + l * N, N, C);
      // dx is d residual2[l]; residual2 = x + attn(ln1(x))
      linear_backward(a.datty, a.dx, a.atty + l * NC, N, l, 1);
      Bk::attention_backward(a.dqkv, a.datt, a.datty, a.qkv + l * NC * 3, a.att + l * att_size(), B,
                             T, C, NH);
      linear_backward(a.dln, a.dqkv, a.ln1 + l * NC, N, l, 0);
      Bk::layernorm_backward(a.dx, base ? G_.ln1w + l * C : nullptr,
                             base ? G_.ln1b + l * C : nullptr, a.dln, x, P_.ln1w + l * C,
                             a.ln1_mean + l * N, a.ln1_rstd + l * N, N, C);
    }
    if (base) Bk::encoder_backward(G_.wte, G_.wpe, a.dx, Bk::data(tokens_), B, T, C);
    if (auto* rows = this->active_tokens()) rows->backward_embeddings(a.dx, Bk::data(tokens_), N);
  }

  // ---- incremental decoding -----------------------------------------------------------------

  // Appends each token at its row's next position in `cache` (rows may get 0, 1 or several
  // tokens; tokens of one row are taken in order) and returns their logits [N, V] in the order
  // given. The span points into the cache's workspace and lives until its next decode.
  std::span<const Scalar> decode(Cache& cache, std::span<const DecodeToken> tokens) const {
    GFNLM_CHECK(cache.config().same_shape(cfg_), "decode: the KvCache was made for another model");
    const int N = static_cast<int>(tokens.size());
    if (N == 0) return {};
    std::vector<int32_t> host_tok(N), host_row(N), host_pos;
    for (int i = 0; i < N; ++i) {
      GFNLM_CHECK(tokens[i].token >= 0 && tokens[i].token < cfg_.vocab_size,
                  "decode: token {} at index {} is outside the vocabulary [0, {})", tokens[i].token,
                  i, cfg_.vocab_size);
      host_tok[i] = tokens[i].token;
      host_row[i] = tokens[i].row;
    }
    cache.place(tokens.data(), N, host_pos);
    const int C = cfg_.d_model, NH = cfg_.n_head, T = cache.capacity();  // after place(): it grows
    const long NC = static_cast<long>(N) * C;
    auto w = cache.workspace(N, this->lora_rank_active());
    Bk::from_host(w.tokens, host_tok.data(), host_tok.size());
    Bk::from_host(w.rows, host_row.data(), host_row.size());
    Bk::from_host(w.positions, host_pos.data(), host_pos.size());
    Bk::encoder_forward_at(w.x, w.tokens, w.positions, P_.wte, P_.wpe, N, C);
    if (const auto* rows = this->active_tokens()) rows->add_to_embeddings(w.x, host_tok.data(), N);
    for (int l = 0; l < cfg_.n_layer; ++l) {
      Bk::layernorm_forward(w.ln, static_cast<Scalar*>(nullptr), static_cast<Scalar*>(nullptr), w.x,
                            P_.ln1w + l * C, P_.ln1b + l * C, N, C);
      linear_forward(w.qkv, w.ln, N, l, 0, w.u);
      Bk::kv_cache_write(cache.keys(l), cache.values(l), w.qkv, w.rows, w.positions, N, C, T);
      Bk::attention_decode(w.atty, w.scores, w.qkv, cache.keys(l), cache.values(l), w.rows,
                           w.positions, N, C, NH, T);
      linear_forward(w.proj, w.atty, N, l, 1, w.u);
      Bk::residual_forward(w.x, w.x, w.proj, NC);
      Bk::layernorm_forward(w.ln, static_cast<Scalar*>(nullptr), static_cast<Scalar*>(nullptr), w.x,
                            P_.ln2w + l * C, P_.ln2b + l * C, N, C);
      linear_forward(w.fch, w.ln, N, l, 2, w.u);
      Bk::gelu_forward(w.fch, w.fch, NC * 4);
      linear_forward(w.proj, w.fch, N, l, 3, w.u);
      Bk::residual_forward(w.x, w.x, w.proj, NC);
    }
    Bk::layernorm_forward(w.ln, static_cast<Scalar*>(nullptr), static_cast<Scalar*>(nullptr), w.x,
                          P_.lnfw, P_.lnfb, N, C);
    Bk::matmul_forward(w.logits, w.ln, P_.lm_head, static_cast<const Scalar*>(nullptr), N, C,
                       cfg_.vocab_size);
    if (const auto* rows = this->active_tokens()) rows->add_to_logits(w.logits, w.ln, N);
    return {w.logits, static_cast<std::size_t>(N) * cfg_.vocab_size};
  }

  Cache make_cache(int rows) const { return Cache(cfg_, rows); }

  // ---- parameters ---------------------------------------------------------------------------

  // One view per tensor per layer, named as Hugging Face GPT-2 ("h.0.attn.c_attn.weight").
  ParameterList<Scalar> base_parameters() {
    this->ensure_grads();
    ParameterList<Scalar> list;
    for (const auto& s : gpt2::param_specs<Scalar>(cfg_))
      for (int l = 0; l < s.layers; ++l) {
        // Per-layer names carry a "{}" for the layer index (also when the model has one layer).
        const bool per_layer = std::string_view(s.name).find("{}") != std::string_view::npos;
        const std::string name =
            per_layer ? fmt::format(fmt::runtime(s.name), l) : std::string(s.name);
        list.push_back({name, P_.*(s.member) + l * s.size, G_.*(s.member) + l * s.size, s.size,
                        s.weight_decay});
      }
    return list;
  }

  // ---- whole-model checkpoints (base weights; adapters are saved separately) ----------------

  void save(std::ostream& os) const {
    write_pod<uint64_t>(os, kMagic);
    write_pod<int32_t>(os, cfg_.vocab_size);
    write_pod<int32_t>(os, cfg_.max_seq_len);
    write_pod<int32_t>(os, cfg_.n_layer);
    write_pod<int32_t>(os, cfg_.n_head);
    write_pod<int32_t>(os, cfg_.d_model);
    write_pod<uint8_t>(os, cfg_.tied_head ? 1 : 0);
    write_pod<double>(os, cfg_.init_std);
    std::vector<Scalar> host(this->num_parameters());
    Bk::to_host(host.data(), Bk::data(params_), host.size());
    write_array(os, host.data(), host.size());
  }

  // Reads weights saved by save(); the stream's shape must equal this model's (use
  // from_stream() to build a model of the stream's shape). Drops any adapters.
  void load(std::istream& is) {
    const TransformerConfig c = read_config(is);
    GFNLM_CHECK(c.same_shape(cfg_),
                "load: checkpoint is V={} T={} L={} H={} C={} tied={}, model is V={} T={} L={} "
                "H={} C={} tied={}",
                c.vocab_size, c.max_seq_len, c.n_layer, c.n_head, c.d_model, c.tied_head,
                cfg_.vocab_size, cfg_.max_seq_len, cfg_.n_layer, cfg_.n_head, cfg_.d_model,
                cfg_.tied_head);
    read_params(is);
    this->drop_adapters();
    this->forget_shape();
  }

 private:
  static constexpr uint64_t kMagic = 0x3146544d4c4e4647ULL;  // "GFNLMTF1"

  explicit Transformer(const TransformerConfig& config) : Arenas(config) {}

  static TransformerConfig read_config(std::istream& is) {
    GFNLM_CHECK(read_pod<uint64_t>(is, "model.magic") == kMagic,
                "not a gfnlm transformer checkpoint (bad magic)");
    TransformerConfig c;
    c.vocab_size = read_pod<int32_t>(is, "model.vocab_size");
    c.max_seq_len = read_pod<int32_t>(is, "model.max_seq_len");
    c.n_layer = read_pod<int32_t>(is, "model.n_layer");
    c.n_head = read_pod<int32_t>(is, "model.n_head");
    c.d_model = read_pod<int32_t>(is, "model.d_model");
    c.tied_head = read_pod<uint8_t>(is, "model.tied_head") != 0;
    c.init_std = read_pod<double>(is, "model.init_std");
    c.validate();
    // A corrupted header must not allocate a model the stream cannot hold: compare a lower bound
    // of the parameter bytes (in double, which cannot overflow) with what is left.
    const double C = c.d_model,
                 lower = (double(c.vocab_size) + c.max_seq_len + 12.0 * c.n_layer * C) * C;
    const auto left = stream_bytes_left(is);
    GFNLM_CHECK(!left || lower * sizeof(Scalar) <= double(*left),
                "model stream: a V={} T={} L={} C={} model needs at least {:.0f} bytes of "
                "parameters, the stream has {} left (truncated, or the header is corrupted)",
                c.vocab_size, c.max_seq_len, c.n_layer, c.d_model, lower * sizeof(Scalar),
                left.value_or(0));
    return c;
  }

  // Every tensor must be finite (core/finite.hpp); the error names the first that is not.
  void read_params(std::istream& is) {
    std::vector<Scalar> host(this->num_parameters());
    read_array(is, host.data(), host.size(), "model.parameters");
    std::size_t offset = 0;
    for (const auto& s : gpt2::param_specs<Scalar>(cfg_))
      for (int l = 0; l < s.layers; ++l, offset += s.size) {
        if (first_non_finite(host.data() + offset, s.size) == s.size) continue;
        const bool per_layer = std::string_view(s.name).find("{}") != std::string_view::npos;
        require_finite_in_stream(host.data() + offset, s.size, "model stream",
                                 per_layer ? fmt::format(fmt::runtime(s.name), l) : s.name);
      }
    Bk::from_host(Bk::data(params_), host.data(), host.size());
  }

  // Called by LoraHost when the adapters change: the next forward re-lays out the activations.
  void relayout() { this->forget_shape(); }

  std::size_t att_size() const { return static_cast<std::size_t>(B_) * cfg_.n_head * T_ * T_; }
  Scalar* lora_u(int l, int t) {
    return A_.lora_u + (static_cast<std::size_t>(l) * kNumProj + t) * B_ * T_ *
                           static_cast<std::size_t>(this->lora_rank_active());
  }

  void prepare(int B, int T) { this->prepare_arenas(B, T, this->lora_rank_active()); }

  // Weight, bias and their gradients of projection t in layer l (LoRA's proj order).
  struct Linear {
    const Scalar* w;
    const Scalar* b;
    Scalar* gw;
    Scalar* gb;
    int in, out;
  };
  Linear linear(int l, int t) const {
    const std::size_t C = cfg_.d_model;
    // Gradients are allocated on first use (ensure_grads): until then G_ is all null, and an
    // offset from null is undefined behaviour even when the pointer is never used.
    const auto g = [](Scalar* base, std::size_t n) { return base ? base + n : nullptr; };
    switch (t) {
      case 0:
        return {P_.qkvw + l * 3 * C * C,
                P_.qkvb + l * 3 * C,
                g(G_.qkvw, l * 3 * C * C),
                g(G_.qkvb, l * 3 * C),
                int(C),
                int(3 * C)};
      case 1:
        return {P_.attprojw + l * C * C,
                P_.attprojb + l * C,
                g(G_.attprojw, l * C * C),
                g(G_.attprojb, l * C),
                int(C),
                int(C)};
      case 2:
        return {P_.fcw + l * 4 * C * C,
                P_.fcb + l * 4 * C,
                g(G_.fcw, l * 4 * C * C),
                g(G_.fcb, l * 4 * C),
                int(C),
                int(4 * C)};
      default:
        return {P_.fcprojw + l * 4 * C * C, P_.fcprojb + l * C, g(G_.fcprojw, l * 4 * C * C),
                g(G_.fcprojb, l * C),       int(4 * C),         int(C)};
    }
  }

  // out = inp W^T + b (+ scale (inp A^T) B^T, keeping u = inp A^T for backward).
  void linear_forward(Scalar* out, const Scalar* inp, int N, int l, int t, Scalar* u) const {
    const Linear p = linear(l, t);
    Bk::matmul_forward(out, inp, p.w, p.b, N, p.in, p.out, Scalar(1), false);
    if (!this->adapted(t)) return;
    const auto s = this->adapters().slot(l, t);
    const int r = this->adapters().config().rank;
    Bk::matmul_forward(u, inp, s.a, static_cast<const Scalar*>(nullptr), N, p.in, r, Scalar(1),
                       false);
    Bk::matmul_forward(out, u, s.b, static_cast<const Scalar*>(nullptr), N, r, p.out,
                       this->adapters().scale(), true);
  }

  // dinp = d out @ W (+ the adapter path); weight gradients where trainable.
  void linear_backward(Scalar* dinp, const Scalar* dout, const Scalar* inp, int N, int l, int t) {
    const Linear p = linear(l, t);
    const bool base = this->base_trainable();
    Bk::matmul_backward(dinp, base ? p.gw : nullptr, base ? p.gb : nullptr, dout, inp, p.w, N, p.in,
                        p.out, Scalar(1), false);
    if (!this->adapted(t)) return;
    const auto s = this->adapters().slot(l, t);
    const int r = this->adapters().config().rank;
    // out += scale u B^T: du = scale dout B, dB += scale dout^T u; then u = inp A^T.
    Bk::matmul_backward(A_.du, s.gb, nullptr, dout, lora_u(l, t), s.b, N, r, p.out,
                        this->adapters().scale(), false);
    Bk::matmul_backward(dinp, s.ga, nullptr, A_.du, inp, s.a, N, p.in, r, Scalar(1), true);
  }
};

}  // namespace gfnlm

// KV-cache decoding of the Llama model equals its full forward (issue 4, first bullet: "KV-cache
// decoding ... exactly as for GPT-2 blocks"), with the checks of tests/model/decode_check.hpp:
// ragged rows, several tokens of a row in one call, rows that get nothing, rows interleaved, a
// reset row reused; grouped-query attention; LoRA on and off.
#include <gfnlm/model/llama.hpp>

#include "../model/decode_check.hpp"

#include <catch2/catch.hpp>

#include <cstdio>

using Model = gfnlm::LlamaTransformer<>;
using decode_check::decode_error;
using decode_check::sequences;

namespace {

gfnlm::LlamaConfig config() {
  gfnlm::LlamaConfig c;
  c.vocab_size = 23;
  c.max_seq_len = 16;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_kv_head = 2;
  c.d_model = 16;
  c.d_ff = 24;
  c.rope_theta = 50.0;  // positions matter visibly at this length
  c.init_std = 0.2;
  return c;
}

}  // namespace

TEST_CASE("Llama KV-cache decoding equals the full forward", "[llama][decode]") {
  gfnlm::Rng rng(21);
  Model m(config(), rng);
  const auto seqs = sequences(rng, 23);
  const double e = decode_error(m, seqs, rng);
  std::printf("llama decode vs full forward, base model: max error %.2e\n", e);
  CHECK(e < 1e-5);
}

TEST_CASE("Llama KV-cache decoding with LoRA adapters on and off", "[llama][decode][lora]") {
  gfnlm::Rng rng(22);
  Model m(config(), rng);
  const auto seqs = sequences(rng, 23);
  m.enable_lora({.rank = 4, .alpha = 8.0}, rng);
  for (const auto& p : m.lora_parameters())  // B = 0 at init: make the adapters matter
    for (std::size_t i = 0; i < p.size; ++i) p.value[i] += 0.2f * float(rng.normal());
  for (bool on : {true, false}) {
    m.set_adapters_enabled(on);
    const double e = decode_error(m, seqs, rng);
    std::printf("llama decode vs full forward, LoRA %s: max error %.2e\n", on ? "on" : "off", e);
    CHECK(e < 1e-5);
  }
}

TEST_CASE("Llama decode rejects bad rows, tokens and overflow without side effects",
          "[llama][decode]") {
  gfnlm::Rng rng(23);
  Model m(config(), rng);
  decode_check::check_rejects_bad_input(m);
}

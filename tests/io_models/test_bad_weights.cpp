// Issue 18: every model loader refuses a NaN or inf weight, naming the file (or stream), the
// tensor and the first bad index; a PEFT adapter carries a checksum of its tensor data, so a
// flipped byte is an error, while adapters without one (PEFT's own) still load; bytes appended to
// a safetensors file are an error.
#include "fixture.hpp"

#include <gfnlm/io/gpt2_safetensors.hpp>
#include <gfnlm/io/llama_safetensors.hpp>
#include <gfnlm/io/load_llama2c.hpp>
#include <gfnlm/io/lora_peft.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>

namespace fs = std::filesystem;
using namespace gfnlm;
using namespace gfnlm::test;
using Catch::Contains;

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

std::string file_bytes(const fs::path& path) {
  std::ifstream is(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(is), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

Gpt2Model tiny_gpt2() {
  Rng rng(5);
  return Gpt2Model({.vocab_size = 11, .max_seq_len = 8, .n_layer = 2, .n_head = 2, .d_model = 8},
                   rng);
}

LlamaConfig tiny_llama_config() {
  return {.vocab_size = 13,
          .max_seq_len = 8,
          .n_layer = 2,
          .n_head = 2,
          .n_kv_head = 1,
          .d_model = 8,
          .d_ff = 12};
}

template <class Model>
void set_value(Model& model, const std::string& tensor, std::size_t i, float v) {
  for (const auto& p : model.base_parameters())
    if (p.name == tensor) {
      REQUIRE(i < p.size);
      p.value[i] = static_cast<std::remove_cvref_t<decltype(*p.value)>>(v);
      return;
    }
  FAIL("no tensor " << tensor);
}

// A llama2.c version-1 checkpoint of the tiny Llama shape, every value 0.01, one set to `bad`.
std::string llama2c_bytes(float bad, std::size_t bad_at) {
  const int dim = 8, hidden = 12, layers = 1, heads = 2, kv = 1, vocab = 5, seq = 4;
  std::string b(256, '\0');
  const int32_t head[] = {0x616b3432, 1, dim, hidden, layers, heads, kv, vocab, seq};
  std::memcpy(b.data(), head, sizeof head);
  b[sizeof head] = 1;  // shared classifier
  const int kvd = dim / heads * kv;
  const std::size_t n =
      std::size_t(layers) * (2 * dim + 2 * dim * dim + 2 * kvd * dim + 3 * hidden * dim) + dim +
      vocab * dim;
  std::vector<float> values(n, 0.01f);
  values[bad_at] = bad;
  b.append(reinterpret_cast<const char*>(values.data()), n * sizeof(float));
  return b;
}

}  // namespace

TEST_CASE("gpt2 safetensors: a NaN or inf weight names the file, tensor and index",
          "[io_models][bad_weights]") {
  const auto dir = scratch_dir("nan_gpt2");
  const auto file = dir / "model.safetensors";
  auto model = tiny_gpt2();
  save_gpt2(file, model);
  CHECK_NOTHROW(load_gpt2(file));
  set_value(model, "h.1.ln_2.bias", 3, kNaN);
  save_gpt2(file, model);
  CHECK_THROWS_WITH(load_gpt2(file), Contains("'" + file.string() + "'") &&
                                         Contains("tensor 'transformer.h.1.ln_2.bias'") &&
                                         Contains("nan at index 3 (of 8)"));
  // A Conv1D weight: the index is the file's ([in, out]), not our transposed one.
  model = tiny_gpt2();
  set_value(model, "h.0.attn.c_attn.weight", 1 * 8 + 2, -INFINITY);  // ours [out 24, in 8]
  save_gpt2(file, model);
  CHECK_THROWS_WITH(load_gpt2(file), Contains("tensor 'transformer.h.0.attn.c_attn.weight'") &&
                                         Contains("-inf at index 49 (of 192)"));  // 2 * 24 + 1
  // BF16 keeps a NaN a NaN.
  model = tiny_gpt2();
  set_value(model, "wte.weight", 0, kNaN);
  save_gpt2(file, model, Dtype::BF16);
  CHECK_THROWS_WITH(load_gpt2(file), Contains("tensor 'transformer.wte.weight'"));
}

TEST_CASE("safetensors: bytes appended after the data are an error naming the file",
          "[io_models][bad_weights]") {
  const auto dir = scratch_dir("junk_gpt2");
  const auto file = dir / "model.safetensors";
  save_gpt2(file, tiny_gpt2());
  write_bytes(file, file_bytes(file) + "junk");
  CHECK_THROWS_WITH(load_gpt2(file),
                    Contains(file.string()) && Contains("4 trailing bytes after the last tensor"));
}

TEST_CASE("llama safetensors: a NaN weight names the file and tensor", "[io_models][bad_weights]") {
  const auto dir = scratch_dir("nan_llama");
  const auto file = dir / "model.safetensors";
  LlamaTransformer<Cpu, float> model(tiny_llama_config());
  set_value(model, "model.layers.1.mlp.down_proj.weight", 7, kNaN);
  save_llama(file, model);
  CHECK_THROWS_WITH(load_llama(file),
                    Contains("'" + file.string() + "'") &&
                        Contains("tensor 'model.layers.1.mlp.down_proj.weight'") &&
                        Contains("nan at index 7"));
  // q_proj's rows are permuted in the file: the check sees the file's order.
  LlamaTransformer<Cpu, float> q(tiny_llama_config());
  set_value(q, "model.layers.0.self_attn.q_proj.weight", 0, INFINITY);
  save_llama(file, q);
  CHECK_THROWS_WITH(load_llama(file), Contains("tensor 'model.layers.0.self_attn.q_proj.weight'") &&
                                          Contains("inf at index"));
}

TEST_CASE("llama2.c: a NaN weight names the file and tensor", "[io_models][bad_weights]") {
  const auto dir = scratch_dir("nan_llama2c");
  const auto file = dir / "model.bin";
  write_bytes(file, llama2c_bytes(0.01f, 0));
  CHECK_NOTHROW(load_llama2c(file));
  // v1 order: attention_norm [8], ffn_norm [8], norm [8], tok_embeddings [5, 8], wq ...
  write_bytes(file, llama2c_bytes(kNaN, 24 + 40 + 5));
  CHECK_THROWS_WITH(load_llama2c(file), Contains("'" + file.string() + "'") &&
                                            Contains("tensor 'layers.0.attention.wq.weight'") &&
                                            Contains("nan at index 5 (of 64)"));
  write_bytes(file, llama2c_bytes(-INFINITY, 8 + 1));
  CHECK_THROWS_WITH(load_llama2c(file), Contains("tensor 'layers.0.ffn_norm.weight'") &&
                                            Contains("-inf at index 1 (of 8)"));
}

TEST_CASE("model streams: a NaN weight names the tensor", "[io_models][bad_weights]") {
  auto gpt2 = tiny_gpt2();
  set_value(gpt2, "h.1.mlp.c_fc.weight", 9, kNaN);
  std::stringstream g;
  gpt2.save(g);
  auto fresh = tiny_gpt2();
  const auto before = fresh.base_parameters()[0].value[0];
  CHECK_THROWS_WITH(fresh.load(g), Contains("model stream: tensor 'h.1.mlp.c_fc.weight'") &&
                                       Contains("nan at index 9"));
  CHECK(fresh.base_parameters()[0].value[0] == before);  // nothing was copied
  std::stringstream g2(g.str());
  CHECK_THROWS_WITH(Gpt2Model::from_stream(g2), Contains("'h.1.mlp.c_fc.weight'"));

  LlamaTransformer<Cpu, float> llama(tiny_llama_config());
  set_value(llama, "model.norm.weight", 2, INFINITY);
  std::stringstream l;
  llama.save(l);
  LlamaTransformer<Cpu, float> other(tiny_llama_config());
  CHECK_THROWS_WITH(other.load(l),
                    Contains("llama stream: tensor 'model.norm.weight'") && Contains("inf"));

  // A header claiming a model far larger than the stream is refused before allocating it.
  std::stringstream big;
  tiny_gpt2().save(big);
  std::string bytes = big.str();
  const int32_t huge = 1 << 30;
  std::memcpy(bytes.data() + 8, &huge, 4);  // vocab_size
  std::stringstream claimed(bytes);
  CHECK_THROWS_WITH(Gpt2Model::from_stream(claimed), Contains("needs at least"));
}

TEST_CASE("peft: a flipped byte in the tensor data or a NaN weight is an error naming the file",
          "[io_models][bad_weights]") {
  auto model = tiny_gpt2();
  Rng rng(3);
  model.enable_lora({.rank = 2, .alpha = 4.0, .targets = LoraTargets::all}, rng);
  for (auto& p : model.lora_parameters())
    for (std::size_t i = 0; i < p.size; ++i) p.value[i] = static_cast<float>(rng.normal() * 0.1);
  const auto dir = scratch_dir("peft_checksum");
  fs::remove_all(dir);
  save_lora_peft(dir, model, "tiny");
  const auto weights = dir / "adapter_model.safetensors";
  const auto meta = SafetensorsFile::open(weights).metadata();
  CHECK(meta.at("gfnlm.data_fnv1a64").size() == 16);
  CHECK(meta.count("gfnlm.data_bytes") == 1);
  auto fresh = tiny_gpt2();
  CHECK_NOTHROW(load_lora_peft(dir, fresh));

  const std::string good = file_bytes(weights);
  for (const std::size_t from_end : {std::size_t(1), std::size_t(100), std::size_t(1000)}) {
    INFO(from_end << " bytes from the end");
    std::string flipped = good;
    flipped[good.size() - from_end] ^= 0x20;
    write_bytes(weights, flipped);
    auto target = tiny_gpt2();
    CHECK_THROWS_WITH(load_lora_peft(dir, target),
                      Contains("'" + weights.string() + "'") &&
                          Contains("checksum mismatch, the tensor data is corrupted"));
    CHECK_FALSE(target.has_lora());
  }
  write_bytes(weights, good);

  // An adapter without the checksum (as PEFT writes it) loads; one with a NaN does not.
  auto adapter = read_peft_adapter(dir);
  std::map<std::string, TensorView> tensors;
  for (const auto& [module, w] : adapter.modules) {
    tensors["base_model.model." + module + ".lora_A.weight"] = {{2, w.in_features}, w.a};
    tensors["base_model.model." + module + ".lora_B.weight"] = {{w.out_features, 2}, w.b};
  }
  write_safetensors(weights, tensors, {{"format", "pt"}});
  CHECK(SafetensorsFile::open(weights).metadata().count("gfnlm.data_fnv1a64") == 0);
  auto plain = tiny_gpt2();
  CHECK_NOTHROW(load_lora_peft(dir, plain));
  CHECK(plain.has_lora());

  adapter.modules.at("transformer.h.1.mlp.c_proj").b[5] = kNaN;
  write_peft_adapter(dir, adapter);
  auto target = tiny_gpt2();
  CHECK_THROWS_WITH(load_lora_peft(dir, target),
                    Contains("'" + weights.string() + "'") &&
                        Contains("tensor 'base_model.model.transformer.h.1.mlp.c_proj.lora_B"
                                 ".weight'") &&
                        Contains("nan at index 5"));
}

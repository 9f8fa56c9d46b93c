// Hugging Face Llama safetensors into LlamaTransformer (issue 4, acceptance 2): checkpoints
// written by tests/reference/make_hf_llama_fixture.py (F32 untied with GQA; BF16 tied over two
// shards) give the logits PyTorch computed with HF's rotate_half RoPE from the same weights.
#include "fixture.hpp"

#include <gfnlm/io/llama_safetensors.hpp>
#include <gfnlm/io/lora_peft.hpp>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace gfnlm;
using namespace gfnlm::test;

namespace {
fs::path hf_llama_dir() {
  return fs::path(GFNLM_SOURCE_DIR) / "tests" / "reference" / "hf_llama";
}
}  // namespace

TEST_CASE("llama safetensors: HF checkpoints give PyTorch's logits", "[io_models][llama]") {
  const auto e = HfGpt2Expected::load(hf_llama_dir());
  for (const char* variant : {"f32", "sharded"}) {
    INFO(variant);
    auto model = load_llama(hf_llama_dir() / variant);
    const auto& c = model.config();
    CHECK(c.n_kv_head == 2);
    CHECK(c.n_head == 4);
    CHECK(c.d_ff == 88);
    CHECK(c.rope_theta == 1000.0);
    CHECK(c.norm_eps == Approx(1e-6));
    CHECK(c.tied_head == (std::string(variant) == "sharded"));
    const auto logits = fixture_logits(model, e);
    const double err = relative_error(logits.data(), e.of(variant));
    fmt::print("llama safetensors {:8s}: max |ours - pytorch| / max |pytorch| = {:.3g}\n", variant,
               err);
    CHECK(err <= 1e-4);
  }
}

TEST_CASE("llama safetensors: save then load gives identical tensors", "[io_models][llama]") {
  for (const char* variant : {"f32", "sharded"}) {  // untied and tied heads
    INFO(variant);
    auto model = load_llama(hf_llama_dir() / variant);
    const auto dir = scratch_dir("llama_roundtrip");
    save_llama(dir / "w.safetensors", model);  // config from the metadata
    save_llama_hf_dir(dir / "hf", model);      // config.json beside the weights
    for (const auto& path : {dir / "w.safetensors", dir / "hf"}) {
      auto back = load_llama(path);
      REQUIRE(back.config().same_shape(model.config()));
      CHECK(back.config().rope_theta == model.config().rope_theta);
      CHECK(back.config().norm_eps == model.config().norm_eps);
      const auto pa = model.base_parameters(), pb = back.base_parameters();
      REQUIRE(pa.size() == pb.size());
      for (std::size_t i = 0; i < pa.size(); ++i) {
        INFO(pa[i].name);
        CHECK(std::equal(pa[i].value, pa[i].value + pa[i].size, pb[i].value));
      }
    }
    // The HF layout (q/k rows permuted back): the written tensors equal the fixture's own.
    const auto file = SafetensorsFile::open(dir / "w.safetensors");
    const auto orig = SafetensorsShards::open(hf_llama_dir() / variant);
    for (const auto& name : file.tensor_names()) {
      INFO(name);
      CHECK(file.info(name).shape == orig.info(name).shape);
      CHECK(file.read_float(name) == orig.read_float(name));
    }
  }
}

TEST_CASE("llama safetensors: PEFT adapters load and round-trip", "[io_models][llama][lora]") {
  const auto e = HfGpt2Expected::load(hf_llama_dir());
  auto model = load_llama(hf_llama_dir() / "f32");
  load_lora_peft(hf_llama_dir() / "lora", model);
  CHECK(model.lora_config()->targets == (LoraTargets::qkv | LoraTargets::fc_proj));
  const double err = relative_error(fixture_logits(model, e).data(), e.of("f32_lora"));
  fmt::print("llama lora peft: max |ours - pytorch| / max |pytorch| = {:.3g}\n", err);
  CHECK(err <= 1e-4);

  // Save then load: identical adapters; the file's q/k lora_B equal the fixture's (HF order).
  const auto dir = scratch_dir("llama_lora");
  fs::remove_all(dir);
  save_lora_peft(dir, model, "hf_llama/f32");
  const auto saved = read_peft_adapter(dir), orig = read_peft_adapter(hf_llama_dir() / "lora");
  CHECK(saved.config.target_modules ==
        std::vector<std::string>{"q_proj", "k_proj", "v_proj", "down_proj"});
  REQUIRE(saved.modules.size() == orig.modules.size());
  for (const auto& [module, w] : orig.modules) {
    INFO(module);
    REQUIRE(saved.modules.count(module));
    CHECK(saved.modules.at(module).a == w.a);
    CHECK(saved.modules.at(module).b == w.b);
  }
  auto back = load_llama(hf_llama_dir() / "f32");
  load_lora_peft(dir, back);
  const auto pa = model.lora_parameters(), pb = back.lora_parameters();
  REQUIRE(pa.size() == pb.size());
  for (std::size_t i = 0; i < pa.size(); ++i) {
    INFO(pa[i].name);
    CHECK(std::equal(pa[i].value, pa[i].value + pa[i].size, pb[i].value));
  }
}

TEST_CASE("llama safetensors: bad checkpoints name the file and tensor", "[io_models][llama]") {
  const auto dir = scratch_dir("llama_bad");
  const auto src = SafetensorsFile::open(hf_llama_dir() / "f32" / "model.safetensors");
  std::map<std::string, std::vector<float>> values;
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& n : src.tensor_names()) {
    values[n] = src.read_float(n);
    shapes[n] = src.info(n).shape;
  }
  auto write = [&] {
    std::map<std::string, TensorView> views;
    for (const auto& [n, v] : values) views[n] = {shapes.at(n), v};
    write_safetensors(dir / "model.safetensors", views);
    fs::copy_file(hf_llama_dir() / "f32" / "config.json", dir / "config.json",
                  fs::copy_options::overwrite_existing);
  };
  auto expect_error = [&](const std::vector<std::string>& parts) {
    try {
      load_llama(dir);
      FAIL("no error");
    } catch (const FormatError& err) {
      const std::string what = err.what();
      INFO(what);
      for (const auto& p : parts) CHECK(what.find(p) != std::string::npos);
    }
  };
  SECTION("k_proj sized for every head instead of the kv heads") {
    const std::string k = "model.layers.1.self_attn.k_proj.weight";
    values[k].resize(32 * 32);
    shapes[k] = {32, 32};
    write();
    expect_error({(dir / "model.safetensors").string(), k, "[32, 32]", "[16, 32]"});
  }
  SECTION("missing tensor") {
    values.erase("model.norm.weight");
    shapes.erase("model.norm.weight");
    write();
    expect_error({dir.string(), "model.norm.weight", "missing"});
  }
  SECTION("unexpected tensor") {
    values["model.layers.0.self_attn.q_proj.bias"] = std::vector<float>(32);
    shapes["model.layers.0.self_attn.q_proj.bias"] = {32};
    write();
    expect_error({"unexpected tensor 'model.layers.0.self_attn.q_proj.bias'"});
  }
}

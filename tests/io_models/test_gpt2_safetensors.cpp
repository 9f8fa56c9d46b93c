// Hugging Face GPT-2 safetensors in and out (issue 4, acceptance 2): checkpoints written by
// tests/reference/make_hf_gpt2_fixture.py (F32, BF16, F16, sharded + untied) load and give the
// logits PyTorch computed from the same weights; save then load gives identical tensors; bad
// checkpoints are FormatErrors naming the file and tensor.
#include "fixture.hpp"

#include <gfnlm/io/gpt2_safetensors.hpp>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace gfnlm;
using namespace gfnlm::test;

namespace {

// Every base tensor of two models equal bit for bit.
void check_same_weights(Gpt2Model& a, Gpt2Model& b) {
  REQUIRE(a.config().same_shape(b.config()));
  const auto pa = a.base_parameters(), pb = b.base_parameters();
  REQUIRE(pa.size() == pb.size());
  for (std::size_t i = 0; i < pa.size(); ++i) {
    INFO(pa[i].name);
    REQUIRE(pa[i].name == pb[i].name);
    REQUIRE(pa[i].size == pb[i].size);
    CHECK(std::memcmp(pa[i].value, pb[i].value, pa[i].size * sizeof(float)) == 0);
  }
}

// Copies the fixture's f32 checkpoint into `dir` with `edit` applied to its tensors.
void write_edited(const fs::path& dir,
                  const std::function<void(std::map<std::string, std::vector<float>>&,
                                           std::map<std::string, std::vector<int64_t>>&)>& edit) {
  const auto src = SafetensorsFile::open(hf_gpt2_dir() / "f32" / "model.safetensors");
  std::map<std::string, std::vector<float>> values;
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& n : src.tensor_names()) {
    values[n] = src.read_float(n);
    shapes[n] = src.info(n).shape;
  }
  edit(values, shapes);
  std::map<std::string, TensorView> views;
  for (const auto& [n, v] : values) views[n] = {shapes.at(n), v};
  write_safetensors(dir / "model.safetensors", views);
  fs::copy_file(hf_gpt2_dir() / "f32" / "config.json", dir / "config.json",
                fs::copy_options::overwrite_existing);
}

}  // namespace

TEST_CASE("gpt2 safetensors: HF checkpoints give PyTorch's logits", "[io_models][gpt2]") {
  const auto e = HfGpt2Expected::load();
  const auto f32 = e.of("f32");
  struct Case {
    const char* variant;
    std::string path;
    double own_tol;  // vs PyTorch on the same (rounded) weights
    double f32_tol;  // vs PyTorch on the unrounded F32 weights: the F16/BF16 storage error
  };
  // F16 keeps 11 significant bits, BF16 8: rounding the weights to them moved these logits by
  // 5.3e-4 and 5.6e-3 of their scale (measured); the bounds leave 3-6x room and still fail a
  // wrong conversion (e.g. BF16 read as F16, an untransposed Conv1D) by orders of magnitude.
  const Case cases[] = {
      {"f32", (hf_gpt2_dir() / "f32").string(), 1e-4, 1e-4},
      {"f32", (hf_gpt2_dir() / "f32" / "model.safetensors").string(), 1e-4, 1e-4},
      {"bf16", (hf_gpt2_dir() / "bf16").string(), 1e-4, 2e-2},
      {"f16", (hf_gpt2_dir() / "f16").string(), 1e-4, 3e-3},
      {"sharded", (hf_gpt2_dir() / "sharded").string(), 1e-4, -1},
      {"sharded", (hf_gpt2_dir() / "sharded" / "model.safetensors.index.json").string(), 1e-4, -1},
  };
  for (const auto& c : cases) {
    INFO(c.path);
    auto model = load_gpt2(c.path);
    CHECK(model.config().vocab_size == e.vocab);
    CHECK(model.config().tied_head == (std::string(c.variant) != "sharded"));
    const auto logits = fixture_logits(model, e);
    const double own = relative_error(logits.data(), e.of(c.variant));
    fmt::print("gpt2 safetensors {:8s}: max |ours - pytorch| / max |pytorch| = {:.3g}", c.variant,
               own);
    CHECK(own <= c.own_tol);
    if (c.f32_tol > 0) {
      const double vs_f32 = relative_error(logits.data(), f32);
      fmt::print("; vs F32 weights {:.3g}", vs_f32);
      CHECK(vs_f32 <= c.f32_tol);
    }
    fmt::print("\n");
  }
}

TEST_CASE("gpt2 safetensors: save then load gives identical tensors", "[io_models][gpt2]") {
  for (const char* variant : {"f32", "sharded"}) {  // tied and untied heads
    INFO(variant);
    auto model = load_gpt2(hf_gpt2_dir() / variant);
    const auto dir = scratch_dir(std::string("roundtrip_") + variant);
    // One file, config from its __metadata__ (no config.json beside it).
    save_gpt2(dir / "weights.safetensors", model);
    const auto file = SafetensorsFile::open(dir / "weights.safetensors");
    CHECK(file.metadata().at("format") == "pt");
    CHECK(file.metadata().at("gfnlm.format") == "gpt2");
    auto back = load_gpt2(dir / "weights.safetensors");
    check_same_weights(model, back);
    // HF names and [in, out] Conv1D layout: the written tensors equal the fixture's own.
    const auto orig = SafetensorsShards::open(hf_gpt2_dir() / variant);
    for (const auto& name : file.tensor_names()) {
      INFO(name);
      REQUIRE(orig.contains(name));
      CHECK(file.info(name).shape == orig.info(name).shape);
      CHECK(file.read_float(name) == orig.read_float(name));
    }
    CHECK(file.contains("lm_head.weight") == (std::string(variant) == "sharded"));
    // A folder from_pretrained reads: config.json + model.safetensors.
    save_gpt2_hf_dir(dir / "hf", model);
    auto from_dir = load_gpt2(dir / "hf");
    check_same_weights(model, from_dir);
  }
}

TEST_CASE("gpt2 safetensors: BF16 and F16 saves round once", "[io_models][gpt2]") {
  auto model = load_gpt2(hf_gpt2_dir() / "f32");
  const auto dir = scratch_dir("half");
  for (const Dtype d : {Dtype::BF16, Dtype::F16}) {
    save_gpt2(dir / "w.safetensors", model, d);
    auto back = load_gpt2(dir / "w.safetensors");
    const auto pa = model.base_parameters(), pb = back.base_parameters();
    for (std::size_t i = 0; i < pa.size(); ++i)
      for (std::size_t k = 0; k < pa[i].size; ++k) {
        const float v = pa[i].value[k];
        const float r =
            d == Dtype::BF16 ? bf16_to_float(float_to_bf16(v)) : half_to_float(float_to_half(v));
        if (pb[i].value[k] != r)
          FAIL(pa[i].name << "[" << k << "]: " << pb[i].value[k] << " != " << r);
      }
  }
}

TEST_CASE("gpt2 safetensors: bad checkpoints name the file and tensor", "[io_models][gpt2]") {
  const auto dir = scratch_dir("bad");
  auto expect_error = [&](const std::vector<std::string>& parts) {
    try {
      load_gpt2(dir);
      FAIL("no error");
    } catch (const FormatError& err) {
      const std::string what = err.what();
      INFO(what);
      for (const auto& p : parts) CHECK(what.find(p) != std::string::npos);
    }
  };
  const auto file = (dir / "model.safetensors").string();
  SECTION("shape against the config") {
    write_edited(dir, [](auto&, auto& s) {
      s["transformer.h.1.mlp.c_fc.weight"] = {128, 32};  // transposed: [out, in]
    });
    expect_error({file, "transformer.h.1.mlp.c_fc.weight", "[128, 32]", "[32, 128]"});
  }
  SECTION("missing tensor") {
    write_edited(dir, [](auto& v, auto& s) {
      v.erase("transformer.ln_f.bias");
      s.erase("transformer.ln_f.bias");
    });
    expect_error({dir.string(), "transformer.ln_f.bias", "missing"});
  }
  SECTION("unexpected tensor") {
    write_edited(dir, [](auto& v, auto& s) {
      v["transformer.h.2.ln_1.weight"] = std::vector<float>(32, 1.0f);
      s["transformer.h.2.ln_1.weight"] = {32};
    });
    expect_error({file, "unexpected tensor 'transformer.h.2.ln_1.weight'"});
  }
  SECTION("untied config without lm_head") {
    write_edited(dir, [](auto& v, auto& s) {
      v.erase("lm_head.weight");
      s.erase("lm_head.weight");
    });
    std::ofstream(dir / "config.json") << R"({"model_type": "gpt2", "vocab_size": 67,
      "n_positions": 16, "n_embd": 32, "n_layer": 2, "n_head": 4, "tie_word_embeddings": false})";
    expect_error({"lm_head.weight", "missing"});
  }
  SECTION("unsupported hyperparameters") {
    write_edited(dir, [](auto&, auto&) {});
    std::ofstream(dir / "config.json") << R"({"model_type": "gpt2", "vocab_size": 67,
      "n_positions": 16, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_inner": 64})";
    expect_error({"config.json", "n_inner = 64"});
  }
  SECTION("config disagrees with the weights") {
    write_edited(dir, [](auto&, auto&) {});
    std::ofstream(dir / "config.json") << R"({"model_type": "gpt2", "vocab_size": 66,
      "n_positions": 16, "n_embd": 32, "n_layer": 2, "n_head": 4})";
    expect_error({file, "transformer.wte.weight", "[67, 32]", "[66, 32]"});
  }
  SECTION("no config at all") {
    write_edited(dir, [](auto&, auto&) {});
    fs::remove(dir / "config.json");
    expect_error({"config.json", "gfnlm.config"});
  }
}

// LoRA adapters in the PEFT layout (issue 4, acceptance 2): an adapter written by
// tests/reference/make_hf_gpt2_fixture.py gives the logits PyTorch computed with PEFT's update;
// save then load gives identical adapters; adapters that do not fit the model are FormatErrors.
#include "fixture.hpp"

#include <gfnlm/io/lora_peft.hpp>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace gfnlm;
using namespace gfnlm::test;

namespace {

fs::path fresh_dir(const std::string& name) {
  auto dir = scratch_dir("lora_" + name);
  fs::remove_all(dir);  // write_peft_adapter creates it
  return dir;
}

}  // namespace

TEST_CASE("lora peft: a PEFT adapter gives PyTorch's logits", "[io_models][lora]") {
  const auto e = HfGpt2Expected::load();
  auto model = load_gpt2(hf_gpt2_dir() / "f32");
  load_lora_peft(hf_gpt2_dir() / "lora", model);
  REQUIRE(model.has_lora());
  CHECK(model.lora_config()->rank == 4);
  CHECK(model.lora_config()->alpha == 8.0);
  CHECK(model.lora_config()->targets == (LoraTargets::qkv | LoraTargets::fc_proj));
  CHECK_FALSE(model.base_trainable());
  const auto logits = fixture_logits(model, e);
  const double err = relative_error(logits.data(), e.of("f32_lora"));
  fmt::print(
      "lora peft: max |ours - pytorch| / max |pytorch| = {:.3g}; without the adapter {:.3g}\n", err,
      relative_error(logits.data(), e.of("f32")));
  CHECK(err <= 1e-4);
  // The adapter matters: switched off, the model is the base again.
  model.set_adapters_enabled(false);
  CHECK(relative_error(fixture_logits(model, e).data(), e.of("f32")) <= 1e-4);
}

TEST_CASE("lora peft: save then load gives identical adapters", "[io_models][lora]") {
  const auto e = HfGpt2Expected::load();
  for (const uint32_t targets : {LoraTargets::all, LoraTargets::attn_proj | LoraTargets::fc}) {
    INFO("targets " << targets);
    auto model = load_gpt2(hf_gpt2_dir() / "f32");
    Rng rng(11);
    model.enable_lora({3, 5.0, targets}, rng);
    for (auto& p : model.lora_parameters())  // B starts at zero: make every value count
      for (std::size_t i = 0; i < p.size; ++i) p.value[i] = static_cast<float>(rng.normal() * 0.1);
    const auto dir = fresh_dir(std::to_string(targets));
    save_lora_peft(dir, model, "hf_gpt2/f32");

    // The PEFT layout: names, [r, in] / [out, r] shapes, config.
    const auto file = SafetensorsFile::open(dir / "adapter_model.safetensors");
    const auto adapter = read_peft_adapter(dir);
    CHECK(adapter.config.r == 3);
    CHECK(adapter.config.lora_alpha == 5.0f);
    CHECK(adapter.config.fan_in_fan_out);
    CHECK(adapter.config.base_model_name_or_path == "hf_gpt2/f32");
    if (targets == LoraTargets::all) {
      CHECK(adapter.config.target_modules ==
            std::vector<std::string>{"attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"});
      CHECK(file.tensor_names().size() == 2 * 4 * 2);
      CHECK(file.info("base_model.model.transformer.h.1.attn.c_attn.lora_A.weight").shape ==
            std::vector<int64_t>{3, 32});
      CHECK(file.info("base_model.model.transformer.h.1.attn.c_attn.lora_B.weight").shape ==
            std::vector<int64_t>{96, 3});
      CHECK(file.info("base_model.model.transformer.h.0.mlp.c_proj.lora_A.weight").shape ==
            std::vector<int64_t>{3, 128});
    } else {
      CHECK(adapter.config.target_modules == std::vector<std::string>{"attn.c_proj", "mlp.c_fc"});
      CHECK(file.tensor_names().size() == 2 * 2 * 2);
      CHECK_FALSE(file.contains("base_model.model.transformer.h.0.attn.c_attn.lora_A.weight"));
    }

    auto back = load_gpt2(hf_gpt2_dir() / "f32");
    load_lora_peft(dir, back);
    CHECK(back.lora_config()->rank == 3);
    CHECK(back.lora_config()->alpha == 5.0);
    CHECK(back.lora_config()->targets == targets);
    const auto pa = model.lora_parameters(), pb = back.lora_parameters();
    REQUIRE(pa.size() == pb.size());
    for (std::size_t i = 0; i < pa.size(); ++i) {
      INFO(pa[i].name);
      REQUIRE(pa[i].name == pb[i].name);
      REQUIRE(pa[i].size == pb[i].size);
      CHECK(std::memcmp(pa[i].value, pb[i].value, pa[i].size * sizeof(float)) == 0);
    }
    CHECK(fixture_logits(model, e) == fixture_logits(back, e));
  }
}

TEST_CASE("lora peft: adapters that do not fit the model are rejected", "[io_models][lora]") {
  auto model = load_gpt2(hf_gpt2_dir() / "f32");
  Rng rng(1);
  model.enable_lora({2, 4.0, LoraTargets::qkv}, rng);
  const auto dir = fresh_dir("bad");
  save_lora_peft(dir, model);
  auto expect_error = [&](const std::vector<std::string>& parts) {
    auto target = load_gpt2(hf_gpt2_dir() / "f32");
    try {
      load_lora_peft(dir, target);
      FAIL("no error");
    } catch (const FormatError& err) {
      const std::string what = err.what();
      INFO(what);
      for (const auto& p : parts) CHECK(what.find(p) != std::string::npos);
    }
    CHECK_FALSE(target.has_lora());  // nothing was changed
  };
  auto edit = [&](const std::function<void(PeftAdapter&)>& f) {
    auto ad = read_peft_adapter(dir);
    f(ad);
    fs::remove_all(dir);
    write_peft_adapter(dir, ad);
  };
  SECTION("a layer the model lacks") {
    edit([](PeftAdapter& ad) {
      ad.modules["transformer.h.2.attn.c_attn"] = ad.modules["transformer.h.0.attn.c_attn"];
    });
    expect_error({"adapter_model.safetensors", "transformer.h.2.attn.c_attn"});
  }
  SECTION("a layer without its adapter") {
    edit([](PeftAdapter& ad) { ad.modules.erase("transformer.h.1.attn.c_attn"); });
    expect_error({"adapter_model.safetensors", "transformer.h.1.attn.c_attn", "no adapter"});
  }
  SECTION("wrong width") {
    edit([](PeftAdapter& ad) {
      auto& w = ad.modules["transformer.h.0.attn.c_attn"];
      w.in_features = 16;
      w.a.resize(2 * 16);
    });
    expect_error({"transformer.h.0.attn.c_attn", "16 -> 96", "32 -> 96"});
  }
  SECTION("rsLoRA") {
    const auto path = dir / "adapter_config.json";
    auto j = nlohmann::json::parse(std::ifstream(path));
    j["use_rslora"] = true;
    std::ofstream(path) << j.dump();
    expect_error({"adapter_config.json", "use_rslora"});
  }
}

// PEFT LoRA adapters: save then load gives identical tensors and config; malformed adapters are
// FormatErrors naming the file and field.
#include <gfnlm/io/peft.hpp>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace gfnlm;

namespace {

PeftAdapter sample_adapter() {
  PeftAdapter ad;
  ad.config.base_model_name_or_path = "gpt2";
  ad.config.r = 2;
  ad.config.lora_alpha = 4;
  ad.config.target_modules = {"c_attn"};
  ad.config.fan_in_fan_out = true;
  for (int layer = 0; layer < 2; ++layer) {
    LoraWeights w;
    w.in_features = 3, w.out_features = 9;
    for (int i = 0; i < 6; ++i) w.a.push_back(0.25f * i + layer);
    for (int i = 0; i < 18; ++i) w.b.push_back(-0.5f * i - layer);
    ad.modules["transformer.h." + std::to_string(layer) + ".attn.c_attn"] = w;
  }
  return ad;
}

}  // namespace

TEST_CASE("peft: write then read a LoRA adapter", "[io][peft]") {
  const auto dir = fs::temp_directory_path() / "gfnlm_test_peft";
  fs::remove_all(dir);
  const auto ad = sample_adapter();
  write_peft_adapter(dir, ad);
  const auto weights = SafetensorsFile::open(dir / "adapter_model.safetensors");
  CHECK(weights.tensor_names() ==
        std::vector<std::string>{"base_model.model.transformer.h.0.attn.c_attn.lora_A.weight",
                                 "base_model.model.transformer.h.0.attn.c_attn.lora_B.weight",
                                 "base_model.model.transformer.h.1.attn.c_attn.lora_A.weight",
                                 "base_model.model.transformer.h.1.attn.c_attn.lora_B.weight"});
  CHECK(weights.info("base_model.model.transformer.h.0.attn.c_attn.lora_B.weight").shape ==
        std::vector<int64_t>{9, 2});
  CHECK(weights.metadata().at("format") == "pt");

  const auto back = read_peft_adapter(dir);
  CHECK(back.config == ad.config);
  REQUIRE(back.modules.size() == 2);
  for (const auto& [module, w] : ad.modules) {
    INFO(module);
    const auto& b = back.modules.at(module);
    CHECK(b.in_features == 3);
    CHECK(b.out_features == 9);
    CHECK(b.a == w.a);
    CHECK(b.b == w.b);
  }
  std::ifstream cfg(dir / "adapter_config.json");
  const auto j = nlohmann::json::parse(cfg);
  CHECK(j["peft_type"] == "LORA");
  CHECK(j["r"] == 2);
  CHECK(j["target_modules"] == std::vector<std::string>{"c_attn"});
}

TEST_CASE("peft: malformed adapters", "[io][peft]") {
  using Catch::Contains;
  const auto dir = fs::temp_directory_path() / "gfnlm_test_peft_bad";
  fs::remove_all(dir);
  auto ad = sample_adapter();
  ad.modules.begin()->second.a.pop_back();
  CHECK_THROWS_WITH(write_peft_adapter(dir, ad), Contains("transformer.h.0.attn.c_attn"));

  write_peft_adapter(dir, sample_adapter());
  const auto config = dir / "adapter_config.json";
  auto with_config = [&](const std::string& text) {
    std::ofstream(config) << text;
    return read_peft_adapter(dir);
  };
  CHECK_THROWS_WITH(with_config(R"({"peft_type":"IA3","r":2,"lora_alpha":4})"),
                    Contains("adapter_config.json") && Contains("'IA3'"));
  CHECK_THROWS_WITH(with_config(R"({"peft_type":"LORA","lora_alpha":4})"),
                    Contains("field 'r' is missing"));
  CHECK_THROWS_WITH(with_config(R"({"peft_type":"LORA","r":"two","lora_alpha":4})"),
                    Contains("field 'r' has the wrong type"));
  CHECK_THROWS_WITH(with_config(R"({"peft_type":"LORA","r":3,"lora_alpha":4})"),
                    Contains("lora_A.weight' has shape [2, 3]") && Contains("r = 3"));
  CHECK_THROWS_WITH(with_config("{"), Contains("not valid JSON"));
  const auto one = with_config(R"({"peft_type":"LORA","r":2,"lora_alpha":4,
                                   "target_modules":"c_.*"})");
  CHECK(one.config.target_modules == std::vector<std::string>{"c_.*"});

  std::vector<float> a(6, 1.0f), x(4, 0.0f);
  write_safetensors(dir / "adapter_model.safetensors",
                    {{"base_model.model.m.lora_A.weight", {{2, 3}, a}}});
  CHECK_THROWS_WITH(read_peft_adapter(dir), Contains("module 'm' lacks its lora_B"));
  write_safetensors(dir / "adapter_model.safetensors", {{"base_model.model.m.weight", {{4}, x}}});
  CHECK_THROWS_WITH(read_peft_adapter(dir), Contains("'base_model.model.m.weight' is not a LoRA"));
  fs::remove(dir / "adapter_model.safetensors");
  CHECK_THROWS_WITH(read_peft_adapter(dir), Contains("adapter_model.safetensors"));
}

// Hugging Face config.json: the published GPT-2 (124M) and a Llama-style config, defaults, and
// errors naming the file and field.
#include <gfnlm/io/hf_config.hpp>

#include <catch2/catch.hpp>

using namespace gfnlm;

TEST_CASE("hf_config: GPT-2 and Llama configs", "[io][hf_config]") {
  // The fields of gpt2/config.json on the Hugging Face hub.
  const auto gpt2 = parse_hf_config(R"({"activation_function": "gelu_new",
    "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1, "bos_token_id": 50256,
    "embd_pdrop": 0.1, "eos_token_id": 50256, "initializer_range": 0.02,
    "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 1024, "n_embd": 768,
    "n_head": 12, "n_layer": 12, "n_positions": 1024, "resid_pdrop": 0.1,
    "vocab_size": 50257})",
                                    "gpt2/config.json");
  CHECK(gpt2.model_type == "gpt2");
  CHECK(gpt2.hidden_size == 768);
  CHECK(gpt2.intermediate_size == 3072);
  CHECK(gpt2.n_layers == 12);
  CHECK(gpt2.n_heads == 12);
  CHECK(gpt2.n_kv_heads == 12);
  CHECK(gpt2.head_dim() == 64);
  CHECK(gpt2.vocab_size == 50257);
  CHECK(gpt2.max_positions == 1024);
  CHECK(gpt2.norm_eps == 1e-5f);
  CHECK(gpt2.tie_word_embeddings);
  CHECK(gpt2.activation == "gelu_new");

  const auto llama = parse_hf_config(R"({"model_type": "llama", "hidden_size": 64,
    "intermediate_size": 172, "num_hidden_layers": 4, "num_attention_heads": 4,
    "num_key_value_heads": 2, "vocab_size": 512, "max_position_embeddings": 128,
    "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "tie_word_embeddings": true,
    "hidden_act": "silu", "rope_scaling": null})",
                                     "llama/config.json");
  CHECK(llama.n_kv_heads == 2);
  CHECK(llama.rope_theta == 500000.0f);
  CHECK(llama.norm_eps == 1e-5f);
  CHECK(llama.tie_word_embeddings);
  CHECK(llama.head_dim() == 16);
  const auto defaults = parse_hf_config(R"({"model_type": "llama", "hidden_size": 8,
    "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
    "vocab_size": 10})",
                                        "c.json");
  CHECK(defaults.n_kv_heads == 2);
  CHECK(defaults.rope_theta == 10000.0f);
  CHECK_FALSE(defaults.tie_word_embeddings);
}

TEST_CASE("hf_config: errors name the file and field", "[io][hf_config]") {
  using Catch::Contains;
  const auto parse = [](const std::string& s) { return parse_hf_config(s, "m/config.json"); };
  CHECK_THROWS_AS(parse("{"), FormatError);
  CHECK_THROWS_WITH(parse("{"), Contains("m/config.json") && Contains("not valid JSON"));
  CHECK_THROWS_WITH(parse(R"({"n_embd": 8})"), Contains("'model_type' is missing"));
  CHECK_THROWS_WITH(parse(R"({"model_type": "bert"})"), Contains("'bert' is not supported"));
  CHECK_THROWS_WITH(parse(R"({"model_type": "gpt2", "n_embd": 8, "n_layer": 1, "n_head": 2,
                              "n_positions": 4})"),
                    Contains("'vocab_size' is missing"));
  CHECK_THROWS_WITH(parse(R"({"model_type": "gpt2", "vocab_size": "many", "n_embd": 8,
                              "n_layer": 1, "n_head": 2, "n_positions": 4})"),
                    Contains("field 'vocab_size' has the wrong type"));
  CHECK_THROWS_WITH(parse(R"({"model_type": "gpt2", "vocab_size": 5, "n_embd": 8,
                              "n_layer": 1, "n_head": 3, "n_positions": 4})"),
                    Contains("hidden size 8 is not a multiple of 3 heads"));
  CHECK_THROWS_WITH(parse(R"({"model_type": "llama", "hidden_size": 8, "intermediate_size": 16,
                              "num_hidden_layers": 1, "num_attention_heads": 2,
                              "num_key_value_heads": 3, "vocab_size": 10})"),
                    Contains("3 key/value heads do not divide 2 heads"));
  CHECK_THROWS_WITH(parse(R"({"model_type": "llama", "hidden_size": 8, "intermediate_size": 16,
                              "num_hidden_layers": 0, "num_attention_heads": 2,
                              "vocab_size": 10})"),
                    Contains("layers = 0 must be positive"));
  CHECK_THROWS_WITH(parse(R"({"model_type": "llama", "hidden_size": 8, "intermediate_size": 16,
                              "num_hidden_layers": 1, "num_attention_heads": 2,
                              "vocab_size": 10, "rope_scaling": {"type": "linear"}})"),
                    Contains("rope_scaling"));
  // Found by fuzz_hf_config: 4 * n_embd overflowed int.
  CHECK_THROWS_WITH(parse(R"({"model_type": "gpt2", "vocab_size": 5, "n_embd": 2461493368,
                              "n_layer": 1, "n_head": 2, "n_positions": 4})"),
                    Contains("field 'n_embd' = 2461493368 is out of range"));
  CHECK_THROWS_WITH(parse(R"({"model_type": "gpt2", "vocab_size": 5, "n_embd": 8,
                              "n_layer": 1, "n_head": 2, "n_positions": 4,
                              "layer_norm_epsilon": 1e300})"),
                    Contains("must be positive"));
  CHECK_THROWS_WITH(read_hf_config("/nonexistent/config.json"),
                    Contains("/nonexistent/config.json"));
}

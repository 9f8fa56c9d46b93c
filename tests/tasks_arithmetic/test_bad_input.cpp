// Issue 18: the cached base model is a sealed file; one that fails verification is an error
// naming it, never silently pretrained over. The data-set reader rejects what it used to ignore
// (text after the array, a repeated key) or crash on (a num_sol that is not an integer).
#include <gfnlm/core/sealed_file.hpp>
#include <gfnlm/tasks/arithmetic/base_model.hpp>
#include <gfnlm/tasks/arithmetic/dataset.hpp>

#include <unistd.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

using namespace gfnlm;
using namespace gfnlm::arithmetic;
namespace fs = std::filesystem;
using Catch::Contains;

TEST_CASE("arithmetic: a corrupted cached base model is an error naming the file",
          "[tasks_arithmetic]") {
  const ArithmeticTokenizer tok = make_tokenizer();
  BaseModelConfig cfg;
  cfg.model = {
      .vocab_size = tok.vocab_size(), .max_seq_len = 32, .n_layer = 1, .n_head = 2, .d_model = 8};
  cfg.seq_len = 32;
  cfg.batch = 2;
  cfg.steps = 2;
  cfg.warmup = 1;
  cfg.corpus_chars = 5000;
  const auto dir =
      fs::temp_directory_path() / ("gfnlm_arith_cache_bad_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  bool loaded = true;
  load_or_pretrain_base_model(cfg, tok, dir, {}, &loaded);
  CHECK_FALSE(loaded);
  const auto path = dir / cfg.cache_name();
  std::string bytes;
  {
    std::ifstream is(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(is), std::istreambuf_iterator<char>());
  }
  const auto write = [&](const std::string& b) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << b;
  };
  std::string flipped = bytes;
  flipped[bytes.size() - 100] ^= 0x01;
  write(flipped);
  CHECK_THROWS_WITH(load_or_pretrain_base_model(cfg, tok, dir, {}, &loaded),
                    Contains("cached base model '" + path.string() + "'") &&
                        Contains("checksum mismatch") && Contains("delete it"));
  write(bytes + "more");
  CHECK_THROWS_WITH(load_or_pretrain_base_model(cfg, tok, dir, {}, &loaded),
                    Contains(path.string()) && Contains("4 trailing bytes"));
  write(bytes);
  load_or_pretrain_base_model(cfg, tok, dir, {}, &loaded);
  CHECK(loaded);
  fs::remove_all(dir);
}

TEST_CASE("arithmetic: parse_items rejects junk, repeated keys and non-integer answers",
          "[tasks_arithmetic]") {
  const std::string item = R"({"str_query": "Question: 1 + 2 = ? Answer:", "num_sol": 3})";
  CHECK(parse_items("[" + item + "]\n  ", "f.json").size() == 1);
  CHECK(parse_items(" [ ] ", "f.json").empty());
  CHECK_THROWS_WITH(parse_items("[" + item + "] junk", "f.json"),
                    Contains("f.json: not valid JSON at byte"));
  CHECK_THROWS_WITH(parse_items("[]]", "f.json"), Contains("f.json: not valid JSON at byte 3"));
  CHECK_THROWS_WITH(
      parse_items(R"([{"str_query": "Question: 1 + 2 = ? Answer:", "num_sol": 3, "num_sol": 4}])",
                  "f.json"),
      Contains("f.json: key 'num_sol' appears twice in one object"));
  // Found by tests/fuzz/fuzz_task_data: nlohmann throws out_of_range, not parse_error, for it.
  CHECK_THROWS_WITH(parse_items(std::string("\0"
                                            "552E1552E12E12E1",
                                            17),
                                "f.json"),
                    Contains("f.json: not valid JSON"));
  CHECK_THROWS_WITH(parse_items("[{\"num_sol\": 552E1552}]", "f.json"),
                    Contains("f.json: not valid JSON") && Contains("number overflow"));
  CHECK_THROWS_WITH(parse_items(R"({"str_query": "x"})", "f.json"),
                    Contains("holds a JSON object, not an array of items"));
  CHECK_THROWS_WITH(parse_items("[3]", "f.json"),
                    Contains("item 0 is a JSON number, not an object"));
  CHECK_THROWS_WITH(parse_items(R"([{"str_query": 5, "num_sol": 5}])", "f.json"),
                    Contains("str_query is a JSON number, not a string"));
  for (const std::string sol : {"\"three\"", "\"\"", "-", "99999999999999999999999"}) {
    INFO(sol);
    CHECK_THROWS_WITH(
        parse_items(R"([{"str_query": "Question: 1 + 2 = ? Answer:", "num_sol": )" + sol + "}]",
                    "f.json"),
        Contains("f.json"));
  }
  CHECK_THROWS_WITH(
      parse_items(R"([{"str_query": "Question: 1 + 2 = ? Answer:", "num_sol": "x3"}])", "f.json"),
      Contains("num_sol 'x3' is not an integer"));
}

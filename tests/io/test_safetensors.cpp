// safetensors: files written by tests/reference/make_safetensors_fixture.py (PyTorch does the
// dtype conversions), our writer's round trip and F16/BF16 rounding against PyTorch's, and every
// kind of malformed file named in issue 4 (acceptance 5).
#include <gfnlm/io/safetensors.hpp>
#include <gfnlm/io/safetensors_shards.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace gfnlm;

namespace {

const fs::path kFixtures = fs::path(GFNLM_SOURCE_DIR) / "tests/reference/safetensors";

nlohmann::json expected() {
  std::ifstream is(kFixtures / "expected.json");
  REQUIRE(is.good());
  return nlohmann::json::parse(is);
}

std::vector<float> floats(const nlohmann::json& values) {
  std::vector<float> out;
  for (const auto& v : values) out.push_back(std::strtof(v.get<std::string>().c_str(), nullptr));
  return out;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

fs::path temp_dir() {
  const auto dir = fs::temp_directory_path() / "gfnlm_test_safetensors";
  fs::create_directories(dir);
  return dir;
}

// Writes a safetensors file from a header text and data bytes; `claimed` overrides the length.
fs::path make_file(const std::string& name, const std::string& header, std::size_t data_bytes,
                   int64_t claimed = -1) {
  const auto path = temp_dir() / name;
  std::ofstream os(path, std::ios::binary);
  const uint64_t n = claimed >= 0 ? static_cast<uint64_t>(claimed) : header.size();
  os.write(reinterpret_cast<const char*>(&n), 8);
  os << header << std::string(data_bytes, '\0');
  return path;
}

void check_against_expected(const SafetensorsShards& file) {
  const auto exp = expected();
  std::vector<std::string> names;
  for (const auto& [name, _] : exp["tensors"].items()) names.push_back(name);
  CHECK(file.tensor_names() == names);
  for (const auto& [name, t] : exp["tensors"].items()) {
    INFO("tensor " << name);
    const auto& info = file.info(name);
    CHECK(dtype_name(info.dtype) == t["dtype"].get<std::string>());
    CHECK(info.shape == t["shape"].get<std::vector<int64_t>>());
    CHECK(same_bits(file.read_float(name), floats(t["values"])));
  }
}

}  // namespace

TEST_CASE("safetensors: reads a file written by the reference script", "[io][safetensors]") {
  const auto file = SafetensorsFile::open(kFixtures / "mixed.safetensors");
  CHECK(file.metadata() == expected()["metadata"].get<std::map<std::string, std::string>>());
  CHECK(file.info("scalar").shape.empty());
  CHECK(file.info("scalar").numel() == 1);
  CHECK(file.info("empty").numel() == 0);
  CHECK(file.read_float("empty").empty());
  check_against_expected(SafetensorsShards::open(kFixtures / "mixed.safetensors"));

  std::vector<float> wrong(5);
  CHECK_THROWS_WITH(file.read_float_into("a.f32", wrong),
                    Catch::Contains("'a.f32' holds 6 values, destination holds 5"));
  CHECK_THROWS_WITH(file.info("nope"), Catch::Contains("no tensor 'nope'"));
}

TEST_CASE("safetensors: sharded checkpoint through its index", "[io][safetensors]") {
  const auto by_index = SafetensorsShards::open(kFixtures / "sharded/model.safetensors.index.json");
  CHECK(by_index.shard_count() == 2);
  check_against_expected(by_index);
  CHECK(by_index.metadata().at("total_size") != "");
  const auto by_folder = SafetensorsShards::open(kFixtures / "sharded");
  CHECK(by_folder.shard_count() == 2);
  CHECK(by_folder.tensor_names() == by_index.tensor_names());
  CHECK_THROWS_WITH(SafetensorsShards::open(temp_dir() / "nothing_here"),
                    Catch::Contains("cannot"));
  // Shape checks against a model config name the shard and the tensor.
  CHECK(by_index.expect("a.f32", {2, 3}).dtype == Dtype::F32);
  CHECK_THROWS_AS(by_index.expect("a.f32", {3, 2}), FormatError);
  CHECK_THROWS_WITH(by_index.expect("a.f32", {3, 2}),
                    Catch::Contains("model-00001-of-00002.safetensors") &&
                        Catch::Contains("'a.f32' has shape [2, 3], the config implies [3, 2]"));
  CHECK_THROWS_WITH(by_index.expect("lm_head.weight", {4}),
                    Catch::Contains("no tensor 'lm_head.weight'"));
}

TEST_CASE("safetensors: write then read", "[io][safetensors]") {
  std::vector<float> a(12), b{1.5f, -0.0f, 1e-30f};
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = std::sin(static_cast<float>(i)) * 100;
  const std::map<std::string, TensorView> tensors{
      {"w.a", {{3, 4}, a}}, {"b", {{3}, b}}, {"s", {{}, std::span<const float>(b).first(1)}}};
  const auto path = temp_dir() / "written.safetensors";
  write_safetensors(path, tensors, {{"step", "42"}, {"kind", "gfnlm"}});
  const auto file = SafetensorsFile::open(path);
  CHECK(file.tensor_names() == std::vector<std::string>{"b", "s", "w.a"});
  CHECK(same_bits(file.read_float("w.a"), a));
  CHECK(same_bits(file.read_float("b"), b));
  CHECK(file.read_float("s") == std::vector<float>{1.5f});
  CHECK(file.info("w.a").shape == std::vector<int64_t>{3, 4});
  CHECK(file.metadata().at("step") == "42");
  CHECK(file.info("b").begin % 8 == 0);  // header padded so the data is aligned

  // F16 / BF16 writes round exactly as PyTorch does.
  const auto r = expected()["rounding"];
  const auto input = floats(r["input"]);
  for (const auto& [dtype, key] : {std::pair{Dtype::F16, "f16"}, {Dtype::BF16, "bf16"}}) {
    INFO(key);
    write_safetensors(path, {{"x", {{static_cast<int64_t>(input.size())}, input}}}, {}, dtype);
    const auto back = SafetensorsFile::open(path);
    CHECK(back.info("x").dtype == dtype);
    CHECK(same_bits(back.read_float("x"), floats(r[key])));
  }
  CHECK_THROWS_WITH(write_safetensors(path, {{"x", {{2, 2}, b}}}),
                    Catch::Contains("'x' has shape of 4 values but 3 given"));
  CHECK_THROWS_WITH(write_safetensors(path, {{"x", {{3}, b}}}, {}, Dtype::I32),
                    Catch::Contains("not supported for writing"));
  CHECK_THROWS_WITH(write_safetensors(path, {{"__metadata__", {{3}, b}}}),
                    Catch::Contains("invalid tensor name"));
}

TEST_CASE("safetensors: half and bfloat16 conversions are exact inverses", "[io][safetensors]") {
  int mismatches = 0;
  for (uint32_t h = 0; h < 65536; ++h) {
    const auto x = static_cast<uint16_t>(h);
    const float f = half_to_float(x);
    if (std::isnan(f)) continue;
    mismatches += float_to_half(f) != x;
    mismatches += float_to_bf16(bf16_to_float(x)) != x;
  }
  CHECK(mismatches == 0);
  CHECK(half_to_float(0x3C00) == 1.0f);
  CHECK(half_to_float(0x0001) == std::ldexp(1.0f, -24));  // smallest subnormal
  CHECK(half_to_float(0x7BFF) == 65504.0f);
  CHECK(std::isnan(half_to_float(0x7E00)));
  CHECK(std::isnan(bf16_to_float(float_to_bf16(std::nanf("")))));
  CHECK(std::isnan(half_to_float(float_to_half(std::nanf("")))));
}

TEST_CASE("safetensors: malformed files are FormatErrors naming the file and field",
          "[io][safetensors]") {
  using Catch::Contains;
  const auto open = [](const fs::path& p) { return SafetensorsFile::open(p); };
  const std::string ok = R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  CHECK_NOTHROW(open(make_file("ok.st", ok, 8)));

  const auto tiny = temp_dir() / "tiny.st";
  std::ofstream(tiny, std::ios::binary) << "abc";
  CHECK_THROWS_AS(open(tiny), FormatError);
  CHECK_THROWS_WITH(open(tiny), Contains("tiny.st") && Contains("shorter than the 8-byte"));
  CHECK_THROWS_WITH(open(make_file("long.st", ok, 8, 1'000'000)),
                    Contains("long.st") && Contains("header length 1000000 exceeds the file"));
  CHECK_THROWS_WITH(open(make_file("huge.st", ok, 8, int64_t{1} << 62)),
                    Contains("exceeds the file"));
  CHECK_THROWS_WITH(open(make_file("trunc.st", ok, 5)),
                    Contains("trunc.st") && Contains("tensor 't'") && Contains("out of bounds"));
  CHECK_THROWS_WITH(open(make_file("json.st", "{\"t\": [", 0)), Contains("not valid JSON"));
  CHECK_THROWS_WITH(open(make_file("arr.st", "[1]", 0)), Contains("not a JSON object"));
  CHECK_THROWS_WITH(
      open(make_file("dtype.st", R"({"t":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})",
                     2)),
      Contains("tensor 't'") && Contains("dtype 'F8_E4M3'"));
  CHECK_THROWS_WITH(open(make_file("nodtype.st", R"({"t":{"shape":[2],"data_offsets":[0,8]}})", 8)),
                    Contains("tensor 't'") && Contains("'dtype'"));
  CHECK_THROWS_WITH(
      open(make_file("shape.st", R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8)),
      Contains("tensor 't'") && Contains("12 bytes") && Contains("8 bytes"));
  CHECK_THROWS_WITH(
      open(make_file("neg.st", R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8)),
      Contains("not a non-negative integer"));
  CHECK_THROWS_WITH(open(make_file("ovf.st",
                                   R"({"t":{"dtype":"F32","shape":[4294967296,4294967296],
                                        "data_offsets":[0,8]}})",
                                   8)),
                    Contains("overflows"));
  CHECK_THROWS_WITH(
      open(make_file("rev.st", R"({"t":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8)),
      Contains("out of bounds"));
  CHECK_THROWS_WITH(
      open(make_file("off.st", R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8)),
      Contains("'data_offsets'"));
  CHECK_THROWS_WITH(open(make_file("overlap.st",
                                   R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
                                       "b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                   12)),
                    Contains("overlap.st") && Contains("'b'") && Contains("overlaps tensor 'a'"));
  CHECK_THROWS_WITH(open(make_file("hole.st",
                                   R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},
                                       "b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                                   12)),
                    Contains("hole") && Contains("'b'"));
  CHECK_THROWS_WITH(open(make_file("tail.st", ok, 12)),
                    Contains("holds 12 bytes but the tensors cover 8"));
  CHECK_THROWS_WITH(open(make_file("meta.st", R"({"__metadata__":{"k":1}})", 0)),
                    Contains("__metadata__ field 'k'"));
  CHECK_THROWS_WITH(open(make_file("bad.st",
                                   R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})"
                                   "\xff",
                                   8)),
                    Contains("not valid JSON"));
  CHECK_THROWS_WITH(open(temp_dir() / "missing.st"), Contains("missing.st"));
}

TEST_CASE("safetensors: malformed shard indexes", "[io][safetensors]") {
  using Catch::Contains;
  const auto dir = temp_dir() / "shards";
  fs::create_directories(dir);
  const std::string ok = R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  fs::copy_file(make_file("shard.st", ok, 8), dir / "a.safetensors",
                fs::copy_options::overwrite_existing);
  const auto index = [&](const std::string& text) {
    std::ofstream(dir / "model.safetensors.index.json") << text;
    return SafetensorsShards::open(dir / "model.safetensors.index.json");
  };
  CHECK(index(R"({"weight_map":{"t":"a.safetensors"}})").tensor_names() ==
        std::vector<std::string>{"t"});
  CHECK_THROWS_WITH(index(R"({"weight_map":{"u":"a.safetensors"}})"),
                    Contains("puts 'u' in 'a.safetensors', which does not hold it"));
  CHECK_THROWS_WITH(index(R"({"weight_map":{"t":"b.safetensors"}})"), Contains("b.safetensors"));
  CHECK_THROWS_WITH(index(R"({"weight_map":{"t":"../a.safetensors"}})"),
                    Contains("not a file beside the index"));
  CHECK_THROWS_WITH(index(R"({"weight_map":{"t":3}})"), Contains("'t' is not a file name"));
  CHECK_THROWS_WITH(index(R"({"metadata":{}})"), Contains("'weight_map' missing"));
  CHECK_THROWS_WITH(index(R"({"weight_map":)"),
                    Contains("model.safetensors.index.json") && Contains("not valid JSON"));
}

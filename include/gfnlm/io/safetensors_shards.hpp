#pragma once
// A checkpoint stored as one safetensors file or as shards listed by an index
// (model.safetensors.index.json: {"metadata": {...}, "weight_map": {"<tensor>": "<shard file>"}}),
// behind one interface, so loaders need not care how a model was split.
#include <gfnlm/core/error.hpp>
#include <gfnlm/io/byte_reader.hpp>
#include <gfnlm/io/safetensors.hpp>

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace gfnlm {

class SafetensorsShards {
 public:
  // `path`: a .safetensors file, an index .json, or a folder holding
  // model.safetensors.index.json or model.safetensors. Every shard is opened (and its header
  // validated) here, and every tensor of the weight map must be in its shard.
  static SafetensorsShards open(const std::filesystem::path& path) {
    namespace fs = std::filesystem;
    if (fs::is_directory(path)) {
      for (const char* name : {"model.safetensors.index.json", "model.safetensors"})
        if (fs::exists(path / name)) return open(path / name);
      fail("folder '{}' holds neither model.safetensors.index.json nor model.safetensors",
           path.string());
    }
    SafetensorsShards s;
    if (path.extension() != ".json") {
      s.files_.push_back(SafetensorsFile::open(path));
      for (const auto& name : s.files_[0].tensor_names()) s.shard_of_[name] = 0;
      s.metadata_ = s.files_[0].metadata();
      return s;
    }
    s.open_index(path);
    return s;
  }

  std::vector<std::string> tensor_names() const {
    std::vector<std::string> names;
    for (const auto& [n, _] : shard_of_) names.push_back(n);
    return names;
  }
  bool contains(const std::string& name) const { return shard_of_.count(name) != 0; }
  const SafetensorsFile& shard_of(const std::string& name) const {
    const auto it = shard_of_.find(name);
    GFNLM_CHECK(it != shard_of_.end(), "checkpoint has no tensor '{}' ({} tensors)", name,
                shard_of_.size());
    return files_[it->second];
  }
  const TensorInfo& info(const std::string& name) const { return shard_of(name).info(name); }
  std::vector<float> read_float(const std::string& name) const {
    return shard_of(name).read_float(name);
  }
  // The tensor's info after checking it exists with the shape the model config implies; loaders
  // call this first so a checkpoint that does not fit the config fails naming file and tensor.
  const TensorInfo& expect(const std::string& name, const std::vector<int64_t>& shape) const {
    if (!contains(name))
      throw FormatError(fmt::format("checkpoint has no tensor '{}' (expected shape [{}])", name,
                                    fmt::join(shape, ", ")));
    const auto& t = info(name);
    if (t.shape != shape)
      throw FormatError(fmt::format("'{}': tensor '{}' has shape [{}], the config implies [{}]",
                                    shard_of(name).path().string(), name, fmt::join(t.shape, ", "),
                                    fmt::join(shape, ", ")));
    return t;
  }
  void read_float_into(const std::string& name, std::span<float> out) const {
    shard_of(name).read_float_into(name, out);
  }
  // A single file's __metadata__, or the index's "metadata" (non-string values as JSON text).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  std::size_t shard_count() const { return files_.size(); }

 private:
  void open_index(const std::filesystem::path& index) {
    const auto name = index.string();
    const auto bytes = read_file_bytes(index, std::uint64_t(1) << 28);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(bytes.begin(), bytes.end());
    } catch (const nlohmann::json::exception& e) {
      throw FormatError(fmt::format("'{}': not valid JSON: {}", name, e.what()));
    }
    if (!j.is_object()) throw FormatError(fmt::format("'{}': not a JSON object", name));
    if (const auto m = j.find("metadata"); m != j.end() && m->is_object())
      for (const auto& [k, v] : m->items())
        metadata_[k] = v.is_string() ? v.get<std::string>() : v.dump();
    const auto map = j.find("weight_map");
    if (map == j.end() || !map->is_object())
      throw FormatError(fmt::format("'{}': 'weight_map' missing or not an object", name));
    std::map<std::string, std::size_t> shard_index;
    for (const auto& [tensor, file] : map->items()) {
      if (!file.is_string())
        throw FormatError(
            fmt::format("'{}': weight_map entry '{}' is not a file name", name, tensor));
      const std::filesystem::path rel = file.get<std::string>();
      bool escapes = rel.empty() || rel.is_absolute();
      for (const auto& part : rel) escapes |= part == "..";
      if (escapes)
        throw FormatError(
            fmt::format("'{}': weight_map entry '{}' names '{}', not a file beside "
                        "the index",
                        name, tensor, rel.string()));
      auto [it, added] = shard_index.emplace(rel.string(), files_.size());
      if (added) files_.push_back(SafetensorsFile::open(index.parent_path() / rel));
      if (!files_[it->second].contains(tensor))
        throw FormatError(fmt::format("'{}': weight_map puts '{}' in '{}', which does not hold it",
                                      name, tensor, rel.string()));
      shard_of_[tensor] = it->second;
    }
  }

  std::vector<SafetensorsFile> files_;
  std::map<std::string, std::size_t> shard_of_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace gfnlm

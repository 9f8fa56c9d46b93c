// Sealed files (core/sealed_file.hpp): the payload comes back exactly; a flipped byte anywhere, a
// cut copy, appended bytes and an unsealed file are each an error naming the file and what went
// wrong; a parser that leaves bytes unread is caught by require_consumed.
#include <gfnlm/core/finite.hpp>
#include <gfnlm/core/hash.hpp>
#include <gfnlm/core/sealed_file.hpp>

#include <unistd.h>
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>

using namespace gfnlm;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {

fs::path temp_path(const std::string& name) {
  return fs::temp_directory_path() / ("gfnlm_sealed_" + std::to_string(::getpid()) + "_" + name);
}

std::string file_bytes(const fs::path& path) {
  std::ifstream is(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(is), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

const std::string kPayload = std::string("a payload\0with a zero byte", 26) + std::string(40, 'x');

}  // namespace

TEST_CASE("fnv1a64: known values, and hashing in pieces equals hashing at once", "[core]") {
  CHECK(fnv1a64("") == 0xcbf29ce484222325ULL);
  CHECK(fnv1a64("a") == 0xaf63dc4c8601ec8cULL);
  CHECK(fnv1a64("foobar") == 0x85944171f73967e8ULL);
  CHECK(fnv1a64("bar", fnv1a64("foo")) == fnv1a64("foobar"));
}

TEST_CASE("sealed file: the payload round-trips and the file is written atomically", "[core]") {
  const auto path = temp_path("ok.bin");
  write_sealed_file(path, "test file", [&](std::ostream& os) { os << kPayload; });
  CHECK_FALSE(fs::exists(path.string() + ".tmp"));
  CHECK(fs::file_size(path) == kPayload.size() + sealed::kOverhead);
  CHECK(read_sealed_file(path, "test file") == kPayload);
  auto is = open_sealed_file(path, "test file");
  std::string word;
  is >> word;
  CHECK(word == "a");
  CHECK_THROWS_WITH(require_consumed(is, path, "test file"),
                    Contains(path.string()) && Contains("test file holds 65 bytes after"));
  is.ignore(std::numeric_limits<std::streamsize>::max());
  CHECK_NOTHROW(require_consumed(is, path, "test file"));
  // An empty payload is a valid one.
  write_sealed_file(path, "test file", [](std::ostream&) {});
  CHECK(read_sealed_file(path, "test file").empty());
  fs::remove(path);
}

TEST_CASE("sealed file: every flipped byte is an error naming the file", "[core]") {
  const auto path = temp_path("flip.bin"), bad = temp_path("flip_bad.bin");
  write_sealed_file(path, "test file", [&](std::ostream& os) { os << kPayload; });
  const std::string good = file_bytes(path);
  for (std::size_t i = 0; i < good.size(); ++i) {
    for (const unsigned char mask : {0x01, 0x80}) {
      std::string flipped = good;
      flipped[i] = static_cast<char>(flipped[i] ^ mask);
      write_bytes(bad, flipped);
      INFO("byte " << i << " mask " << int(mask));
      CHECK_THROWS_WITH(read_sealed_file(bad, "test file"), Contains(bad.string()));
    }
  }
  // A byte of the payload: the checksum says so.
  std::string flipped = good;
  flipped[sealed::kHeaderBytes + 3] ^= 0x10;
  write_bytes(bad, flipped);
  CHECK_THROWS_WITH(read_sealed_file(bad, "test file"),
                    Contains("checksum mismatch, the file is corrupted"));
  fs::remove(path);
  fs::remove(bad);
}

TEST_CASE("sealed file: truncated, appended-to and unsealed files are told apart", "[core]") {
  const auto path = temp_path("cut.bin"), bad = temp_path("cut_bad.bin");
  write_sealed_file(path, "test file", [&](std::ostream& os) { os << kPayload; });
  const std::string good = file_bytes(path);
  for (const std::size_t keep :
       {std::size_t(0), std::size_t(10), std::size_t(30), good.size() - 40, good.size() - 1}) {
    INFO("kept " << keep << " of " << good.size() << " bytes");
    write_bytes(bad, good.substr(0, keep));
    if (keep < 16)
      CHECK_THROWS_WITH(read_sealed_file(bad, "test file"),
                        Contains(bad.string()) && Contains("no gfnlm checksum trailer"));
    else
      CHECK_THROWS_WITH(read_sealed_file(bad, "test file"),
                        Contains(bad.string()) && Contains("test file is truncated"));
  }
  write_bytes(bad, good.substr(0, good.size() - 5));
  CHECK_THROWS_WITH(read_sealed_file(bad, "test file"), Contains("5 bytes missing"));
  write_bytes(bad, good + "junk!");
  CHECK_THROWS_WITH(read_sealed_file(bad, "test file"),
                    Contains(bad.string()) && Contains("5 trailing bytes after its checksum"));
  write_bytes(bad, good + good);
  CHECK_THROWS_WITH(read_sealed_file(bad, "test file"), Contains("trailing bytes"));
  write_bytes(bad, kPayload);  // the same bytes, never sealed: an old file
  CHECK_THROWS_WITH(read_sealed_file(bad, "test file"),
                    Contains("'" + bad.string() + "' has no gfnlm checksum trailer") &&
                        Contains("written by an older gfnlm or not a gfnlm file"));
  CHECK_THROWS_WITH(read_sealed_file(temp_path("missing.bin"), "test file"),
                    Contains("cannot open test file") && Contains("missing.bin"));
  fs::remove(path);
  fs::remove(bad);
}

TEST_CASE("require_finite names the file, tensor, index and value", "[core]") {
  const float ok[] = {0.0f, -1.5f, 3e38f};
  CHECK_NOTHROW(require_finite(ok, 3, "f.bin", "w"));
  const float bad[] = {0.0f, 1.0f, std::numeric_limits<float>::quiet_NaN(), INFINITY};
  CHECK(first_non_finite(bad, 4) == 2);
  CHECK_THROWS_AS(require_finite(bad, 4, "f.bin", "w"), FormatError);
  CHECK_THROWS_WITH(require_finite(bad, 4, "f.bin", "h.0.w"),
                    Contains("'f.bin': tensor 'h.0.w'") && Contains("nan at index 2 (of 4)"));
  CHECK_THROWS_WITH(require_finite(bad + 3, 1, "f.bin", "w"), Contains("inf at index 0"));
  CHECK_THROWS_WITH(require_finite_in_stream(bad, 4, "model stream", "wte.weight"),
                    Contains("model stream: tensor 'wte.weight'"));
}

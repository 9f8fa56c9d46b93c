// The README's "Using the library" block compiles with each loader its comment names: CMake
// pastes it (tests/policies/tests.cmake) into one function per loader. The functions need model
// files, so they are compiled, not run; the test case checks what they build.
#include <gfnlm/gfnlm.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

namespace readme {

double my_log_score(const gfnlm::LmQuery&, std::span<const int32_t> z) {
  return -double(z.size());
}
const std::vector<gfnlm::LmQuery> queries;

void with_gpt2() {
#include "readme_snippet.inc"
}
#define load_gpt2 load_llama
void with_llama() {
#include "readme_snippet.inc"
}
#undef load_gpt2
#define load_gpt2 load_llama2c
void with_llama2c() {
#include "readme_snippet.inc"
}
#undef load_gpt2

}  // namespace readme

TEST_CASE("The README's library snippet compiles for load_gpt2, load_llama and load_llama2c",
          "[policies]") {
  using Gpt2 = decltype(gfnlm::load_gpt2(""));
  using Llama = decltype(gfnlm::load_llama(""));
  using Llama2c = decltype(gfnlm::load_llama2c(""));
  // What `BasicLmPolicy policy(base, 13)` deduces for each.
  Gpt2* gpt2 = nullptr;
  Llama* llama = nullptr;
  STATIC_REQUIRE(std::is_same_v<decltype(gfnlm::BasicLmPolicy(*gpt2, 13)), gfnlm::LmPolicy<>>);
  STATIC_REQUIRE(
      std::is_same_v<decltype(gfnlm::BasicLmPolicy(*llama, 13)), gfnlm::BasicLmPolicy<Llama>>);
  STATIC_REQUIRE(std::is_same_v<Llama, Llama2c>);
  STATIC_REQUIRE(gfnlm::Policy<gfnlm::BasicLmPolicy<Llama>>);
  CHECK(&readme::with_gpt2 != &readme::with_llama);
  CHECK(&readme::with_llama != &readme::with_llama2c);
}

#include <gfnlm/core/rng.hpp>

#include <catch2/catch.hpp>

#include <vector>

TEST_CASE("Rng is reproducible and its state round-trips", "[core]") {
  gfnlm::Rng a(42), b(42);
  for (int i = 0; i < 100; ++i) REQUIRE(a() == b());
  const auto saved = a.state();
  const uint64_t next = a();
  b.set_state(saved);
  REQUIRE(b() == next);
}

TEST_CASE("Rng uniform and categorical have the right frequencies", "[core]") {
  gfnlm::Rng rng(1);
  const std::vector<double> w{1.0, 0.0, 3.0};
  std::vector<int> counts(3, 0);
  const int n = 40000;
  double mean = 0;
  for (int i = 0; i < n; ++i) {
    counts[rng.categorical(std::span<const double>(w))]++;
    mean += rng.uniform();
  }
  REQUIRE(counts[1] == 0);
  // 0.25 and 0.75 within 4 standard errors (sqrt(p(1-p)/n) ~ 0.0022).
  REQUIRE(std::abs(counts[0] / double(n) - 0.25) < 0.009);
  REQUIRE(std::abs(mean / n - 0.5) < 0.006);
}

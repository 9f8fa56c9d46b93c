#include <gfnlm/core/logmath.hpp>
#include <gfnlm/core/schedule.hpp>

#include <catch2/catch.hpp>

#include <vector>

TEST_CASE("logsumexp is stable and exact", "[core]") {
  const std::vector<double> x{1000.0, 1000.0};
  REQUIRE(gfnlm::logsumexp(std::span<const double>(x)) == Approx(1000.0 + std::log(2.0)));
  const std::vector<double> none{-INFINITY, -INFINITY};
  REQUIRE(gfnlm::logsumexp(std::span<const double>(none)) == -INFINITY);
  REQUIRE(gfnlm::logaddexp(std::log(2.0), std::log(3.0)) == Approx(std::log(5.0)));
}

TEST_CASE("schedules interpolate and clamp", "[core]") {
  gfnlm::LinearSchedule t{1.1, 0.5, 150};
  REQUIRE(t(0) == Approx(1.1));
  REQUIRE(t(75) == Approx(0.8));
  REQUIRE(t(150) == Approx(0.5));
  REQUIRE(t(1000) == Approx(0.5));
  gfnlm::WarmupDecay lr{20, 120, 0.0};
  REQUIRE(lr(0) == Approx(1.0 / 20));
  REQUIRE(lr(19) == Approx(1.0));
  REQUIRE(lr(70) == Approx(0.5));
}

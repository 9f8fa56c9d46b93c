#include <gfnlm/gfnlm.hpp>

#include <cstdio>

int main() {
  gfnlm::Rng rng(7);
  std::printf("gfnlm ok %f\n", rng.uniform());
  return 0;
}

// The installed package's mpi component: <gfnlm/distributed/mpi.hpp> compiles and links.
#include <gfnlm/distributed/mpi.hpp>

#include <cstdio>

int main() {
  gfnlm::MpiCommunicator world;
  std::printf("rank %d of %d\n", world.rank(), world.size());
  return 0;
}

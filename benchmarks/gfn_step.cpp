// One GFlowNet train step on the host (Cpu backend); the program is benchmarks/gfn_step_run.hpp,
// gfn_step_cuda.cu runs it on the GPU.
//   gfn_step --config toy --threads 2
#include "gfn_step_run.hpp"

int main(int argc, char** argv) {
  return gfnlm::bench::gfn_step::run<gfnlm::Cpu>(argc, argv);
}

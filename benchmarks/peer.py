"""What every PyTorch peer of a gfnlm benchmark reports besides its timings: which BLAS torch
really uses (a ratio against the reference BLAS, 60x slower, would be void) and the process's
peak resident memory."""
import resource
import sys

import torch


def report_blas():
    """Prints torch's build configuration and the BLAS libraries mapped into this process on
    stderr; returns "OpenBLAS" or "other"."""
    print(torch.__config__.show(), file=sys.stderr)
    # Debian's torch is built against the generic libblas.so.3, which the alternatives system
    # points at OpenBLAS: ask the loader which BLAS is really mapped after one product.
    torch.ones(64, 64) @ torch.ones(64, 64)
    with open("/proc/self/maps") as maps:
        mapped = sorted({line.split()[-1] for line in maps if "blas" in line.lower()})
    print("BLAS libraries mapped: " + ", ".join(mapped), file=sys.stderr)
    blas = "OpenBLAS" if any("openblas" in m for m in mapped) else "other"
    print(f"torch {torch.__version__}, BLAS: {blas}, threads {torch.get_num_threads()}",
          file=sys.stderr)
    return blas


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB

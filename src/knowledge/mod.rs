//! Public facts about the GPU software world, as data: CUDA toolkit -> driver, PyTorch wheel ->
//! GPU architectures, compute capability -> precision features, bitsandbytes builds.
//! (Being written: see matrices/knowledge/.)

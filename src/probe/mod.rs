//! Host facts: the NVIDIA driver, GPUs, CUDA and toolchains, each with the source that gave it.
pub mod toolchains;

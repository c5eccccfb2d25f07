//! A device, as the checks see it: something that quantizes a weight and runs a format's matmul,
//! timed by the one repetition rule ([`Reps`]). [`super::cpu::Cpu`] runs every format's own CPU
//! kernel ([`Format::matmul`]); [`super::gpu::Cuda`] runs the kernels in `kernels/*.cu` and
//! cuBLAS. The generic check ([`super::check`]) is written once against these traits.

use super::formats::{
    gemm::Gemm, int8::Int8Llm, lora::LoraFormat, nf4::Nf4Format, nf4_dq::Nf4DqFormat,
    sparse24::Sparse24Format, Format, FormatError,
};
use super::metrics::Reps;
use super::model::LayerTensor;
use super::{Device, Level};

/// Why a check did not run: `Skipped` is `unverified` (a missing library, a shape the kernel does
/// not take), `Failed` is `failed` (a compile error, a launch failure, out of memory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotRun {
    Skipped(String),
    Failed(String),
}

/// A shape the format does not take is a skip (the format cannot be applied there, nothing is
/// broken); a failed kernel is a failure.
impl From<FormatError> for NotRun {
    fn from(e: FormatError) -> Self {
        match e {
            FormatError::Shape { .. } => NotRun::Skipped(format!("skipped: {e}")),
            FormatError::Candle(_) => NotRun::Failed(super::chain(&e)),
        }
    }
}

/// A weight quantized on a device: the host copy (compared with the CPU's bytes), what the
/// device keeps for its kernel, and how long quantizing took.
pub struct Quantized<P, R> {
    pub host: P,
    pub resident: R,
    pub secs: f64,
}

/// A kernel's result: `y` (`[batch, rows]`), what it made of the activations, and the median
/// seconds of one run.
pub struct Product<A> {
    pub y: Vec<f32>,
    pub act: A,
    pub secs: f64,
}

/// How one device runs one format.
pub trait Runs<F: Format> {
    /// The stored weight as the device keeps it for its kernel (`()` on the CPU, whose kernel
    /// reads the host copy).
    type Resident;

    fn quantize(
        &self,
        f: &F,
        t: &LayerTensor,
    ) -> Result<Quantized<F::Packed, Self::Resident>, NotRun>;

    fn matmul(
        &self,
        f: &F,
        t: &LayerTensor,
        q: &Quantized<F::Packed, Self::Resident>,
        x: &[f32],
        batch: usize,
        reps: Reps,
    ) -> Result<Product<F::Act>, NotRun>;

    /// What this device's kernel for the format is, for the evidence.
    fn notes(&self, f: &F) -> Vec<String>;
}

/// What a check needs to know about the device it runs on.
pub trait DeviceInfo {
    fn device(&self) -> Device;

    /// The measured memory bandwidth (GB/s), for the fraction of it a kernel reaches.
    fn bandwidth(&self) -> Option<f64>;

    /// The batch of the 16-bit GEMM checks.
    fn gemm_batch(&self, level: Level) -> usize;
}

/// A device that runs every format.
pub trait Backend:
    DeviceInfo
    + Runs<Int8Llm>
    + Runs<Nf4Format>
    + Runs<Nf4DqFormat>
    + Runs<LoraFormat>
    + Runs<Sparse24Format>
    + Runs<Gemm>
{
}

impl<T> Backend for T where
    T: DeviceInfo
        + Runs<Int8Llm>
        + Runs<Nf4Format>
        + Runs<Nf4DqFormat>
        + Runs<LoraFormat>
        + Runs<Sparse24Format>
        + Runs<Gemm>
{
}

//! The compressed formats, one type each, all behind one trait ([`Format`]), as candle's
//! quantized block types share `GgmlType`: an id, a bound, the reference quantizer, the plain
//! decode, the CPU matmul and the bytes the format keeps, plus how a result is judged.
//!
//! | file | formats | check |
//! |---|---|---|
//! | [`int8`] | [`int8::Int8Llm`]: LLM.int8, vector-wise int8 with outlier columns | `int8-llm` |
//! | [`nf4`] | [`nf4::Nf4Format`]: NF4 in blocks of 64 with f32 absmax | `nf4` |
//! | [`nf4_dq`] | [`nf4_dq::Nf4DqFormat`]: NF4 with double-quantized absmax | `nf4-dq` |
//! | [`lora`] | [`lora::LoraFormat`]: a LoRA adapter, its forward and its merge | `lora` |
//! | [`sparse24`] | [`sparse24::Sparse24Format`]: 2:4 pruning by magnitude | `sparse-2-4` |
//! | [`gemm`] | [`gemm::Gemm`]: fp16 / bf16 operands | `gemm-fp16`, `gemm-bf16` |
//!
//! The quantizers here are the reference: their bytes are bitsandbytes' own (the golden tests
//! pin them bit for bit), and a GPU's quantizer must produce the same bytes ([`Format::diff`]).
//! The CPU matmul is the trait's [`Format::matmul`], so a faster CPU kernel slots in behind it
//! without touching the checks. What does not live here: running a format on a device
//! ([`super::backend`]) and the check that judges it ([`super::check`]).

pub mod gemm;
pub mod int8;
pub mod lora;
pub mod nf4;
pub mod nf4_dq;
pub mod reference;
pub mod simd;
pub mod sparse24;
pub mod torch_ops;

use super::dump::Artifacts;
use super::model::LayerTensor;
use crate::model::SmokeCheckId;

pub use gemm::CandleError;
pub use reference::{Bound, Reference};

/// Why a format cannot be applied to a weight, or its CPU kernel failed.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{format} needs the input dimension to be a multiple of {multiple}, not {cols}")]
    Shape {
        format: &'static str,
        multiple: usize,
        cols: usize,
    },
    #[error(transparent)]
    Candle(#[from] CandleError),
}

/// Which activations a check multiplies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Batch-1 decoding, the memory-bound case the quantized formats are built for.
    Decode,
    /// The device's GEMM batch (compute-bound).
    Gemm,
}

/// How many stored elements of a device's result differ from the CPU's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Diff {
    pub differ: usize,
    pub total: usize,
    pub what: &'static str,
}

impl Diff {
    /// Counts positions where `a` and `b` differ (and any length difference).
    pub fn count<T, U>(
        a: &[T],
        b: &[U],
        same: impl Fn(&T, &U) -> bool,
        what: &'static str,
    ) -> Diff {
        let differ =
            a.iter().zip(b).filter(|(x, y)| !same(x, y)).count() + a.len().abs_diff(b.len());
        Diff {
            differ,
            total: a.len().max(b.len()),
            what,
        }
    }

    /// Two diffs as one (`what` from the first).
    pub fn and(self, o: Diff) -> Diff {
        Diff {
            differ: self.differ + o.differ,
            total: self.total + o.total,
            what: self.what,
        }
    }
}

/// f32 values compared bit for bit.
pub fn same_bits(a: &f32, b: &f32) -> bool {
    a.to_bits() == b.to_bits()
}

/// What a check measured, for the format to report on.
pub struct Measured<'a, F: Format + ?Sized> {
    pub t: &'a LayerTensor,
    /// The reference (CPU) quantization; on a GPU, the device's own must equal it byte for byte.
    pub packed: &'a F::Packed,
    pub x: &'a [f32],
    pub batch: usize,
    /// The device kernel's output, `[batch, rows]`.
    pub y: &'a [f32],
    /// The format's own reference product (f64, from the stored codes and scales).
    pub reference: &'a Reference,
    /// The bound the kernel met (or missed) against it.
    pub bound: Bound,
    /// The f32 matmul of the original weights (candle).
    pub f32_ref: &'a [f32],
    pub quantize_secs: f64,
}

/// What a format adds to a check beyond the generic comparisons.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub notes: Vec<String>,
    /// Reasons to fail besides the kernel comparison (a second kernel, a malformed mask).
    pub failures: Vec<String>,
}

/// One compressed format (see the module comment).
pub trait Format: Sync {
    /// The check this format answers.
    fn id(&self) -> SmokeCheckId;
    /// The compressed weight, as the format stores it.
    type Packed: Send + Sync;
    /// What the kernel makes of the activations that a device must agree on with the CPU
    /// (LLM.int8's quantized activations); `()` where there is nothing.
    type Act: Send + Sync;

    /// Which activations the check multiplies.
    fn input(&self) -> Input {
        Input::Decode
    }

    /// Appended to the check's shape column (LoRA's rank and alpha).
    fn shape_note(&self) -> String {
        String::new()
    }

    /// The reference quantizer.
    fn quantize(&self, t: &LayerTensor) -> Result<Self::Packed, FormatError>;

    /// The stored weight back as f32, the plain way (`[rows, cols]`).
    fn decode(&self, t: &LayerTensor, p: &Self::Packed) -> Vec<f32>;

    /// The CPU kernel: `y = x W^T` (`x` is `[batch, cols]`, `y` `[batch, rows]`) from the stored
    /// form.
    fn matmul(
        &self,
        t: &LayerTensor,
        p: &Self::Packed,
        x: &[f32],
        batch: usize,
    ) -> Result<(Vec<f32>, Self::Act), FormatError>;

    /// The bytes the format keeps for this weight.
    fn compressed_bytes(&self, t: &LayerTensor, p: &Self::Packed) -> u64;

    /// The bytes one kernel call reads (its GB/s), or `None` for a compute-bound kernel (its
    /// FLOP/s).
    fn read_bytes(&self, t: &LayerTensor, p: &Self::Packed) -> Option<u64>;

    /// The format's own product, exactly: by default the decoded weight times `x` in f64.
    fn reference(&self, t: &LayerTensor, p: &Self::Packed, x: &[f32], batch: usize) -> Reference {
        reference::of_decoded(&self.decode(t, p), t.proj.rows, t.proj.cols, x, batch)
    }

    /// Why the format cannot hold this product (an fp16 output beyond 65504), which makes the
    /// check unverified rather than a kernel's failure.
    fn out_of_range(&self, _r: &Reference) -> Option<String> {
        None
    }

    /// The rounding a correct kernel of this format can make against [`Format::reference`].
    fn bound(&self, t: &LayerTensor, p: &Self::Packed, x: &[f32], batch: usize) -> Bound;

    /// Whether the difference from the original weights' product is an error of the format (a
    /// quantization or a rounding), reported as the format error; not for LoRA, whose
    /// difference is the adapter's purpose.
    fn has_format_error(&self) -> bool {
        true
    }

    /// Per output, the most a correct quantizer of this format can move it from the original
    /// weights' product, from the stored scales (`None`: no such bound, as for pruning).
    fn worst_case(
        &self,
        _t: &LayerTensor,
        _p: &Self::Packed,
        _x: &[f32],
        _batch: usize,
    ) -> Option<Vec<f64>> {
        None
    }

    /// Where a device's stored form differs from the CPU's; `None` where the two are not
    /// expected to be bit-identical.
    fn diff(&self, cpu: &Self::Packed, dev: &Self::Packed) -> Option<Diff>;

    /// Where a device's [`Format::Act`] differs from what the CPU makes of the same stored
    /// weight and activations.
    fn diff_act(
        &self,
        _cpu: &Self::Packed,
        _x: &[f32],
        _batch: usize,
        _dev: &Self::Act,
    ) -> Option<Diff> {
        None
    }

    /// Notes and further failures for the check.
    fn report(&self, _m: &Measured<'_, Self>) -> Report {
        Report::default()
    }

    /// What the CPU kernel is, for the evidence.
    fn cpu_notes(&self) -> Vec<String> {
        Vec::new()
    }

    /// Adds the tensors `--dump` writes for this format.
    fn dump(
        &self,
        _t: &LayerTensor,
        _p: &Self::Packed,
        _x: &[f32],
        _batch: usize,
        _out: &mut Artifacts,
    ) {
    }
}

/// The format reference: the decoded weight multiplied by candle in f32.
pub fn decoded_matmul(
    x: &[f32],
    batch: usize,
    decoded: &[f32],
    t: &LayerTensor,
) -> Result<Vec<f32>, CandleError> {
    gemm::matmul_f32(x, batch, decoded, t.proj.rows, t.proj.cols)
}

/// `[rows, cols]` -> `[cols, rows]`.
pub fn transpose(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; v.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = v[r * cols + c];
        }
    }
    out
}

/// 4 bytes per f32.
pub fn bytes_f32(n: usize) -> u64 {
    4 * n as u64
}

/// The formats a run checks, in report order.
pub struct Formats {
    pub int8: int8::Int8Llm,
    pub nf4: nf4::Nf4Format,
    pub nf4_dq: nf4_dq::Nf4DqFormat,
    pub lora: lora::LoraFormat,
    pub sparse: sparse24::Sparse24Format,
    pub fp16: gemm::Gemm,
    pub bf16: gemm::Gemm,
}

impl Formats {
    pub fn new(lora_rank: usize, lora_alpha: f32, seed: u64) -> Self {
        Formats {
            int8: int8::Int8Llm,
            nf4: nf4::Nf4Format,
            nf4_dq: nf4_dq::Nf4DqFormat,
            lora: lora::LoraFormat {
                rank: lora_rank,
                alpha: lora_alpha,
                seed,
            },
            sparse: sparse24::Sparse24Format,
            fp16: gemm::Gemm(gemm::Half::F16),
            bf16: gemm::Gemm(gemm::Half::BF16),
        }
    }
}

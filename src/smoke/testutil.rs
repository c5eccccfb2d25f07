//! Test support: the bitsandbytes golden files in `fixtures/golden/` and typed reads of their
//! tensors; a tiny config; a test
//! device ([`Tampered`]) whose quantizer or kernel a test breaks on purpose.

use std::path::PathBuf;

pub use super::model::Rng;

use super::backend::{DeviceInfo, NotRun, Product, Quantized, Runs};
use super::formats::Format;
use super::metrics::Reps;
use super::model::LayerTensor;
use super::Device;

/// A golden safetensors file, read whole.
pub struct Golden {
    pub path: PathBuf,
    bytes: Vec<u8>,
}

/// `fixtures/golden/NAME`, bitsandbytes' own output (copied from `../shared/golden`, see
/// `fixtures/golden/README.md`). A missing file fails the test: the comparison must run.
pub fn golden(name: &str) -> Golden {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/golden")
        .join(name);
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("golden file {} not readable: {e}", path.display()));
    Golden { path, bytes }
}

impl Golden {
    fn view(&self, name: &str) -> (safetensors::Dtype, Vec<usize>, Vec<u8>) {
        let st = safetensors::SafeTensors::deserialize(&self.bytes)
            .unwrap_or_else(|e| panic!("{}: {e}", self.path.display()));
        let t = st
            .tensor(name)
            .unwrap_or_else(|e| panic!("{}: {name}: {e}", self.path.display()));
        (t.dtype(), t.shape().to_vec(), t.data().to_vec())
    }

    pub fn f32(&self, name: &str) -> Vec<f32> {
        let (d, _, b) = self.view(name);
        assert_eq!(d, safetensors::Dtype::F32, "{name}");
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }

    pub fn u8(&self, name: &str) -> Vec<u8> {
        let (d, _, b) = self.view(name);
        assert_eq!(d, safetensors::Dtype::U8, "{name}");
        b
    }

    pub fn i8(&self, name: &str) -> Vec<i8> {
        let (d, _, b) = self.view(name);
        assert_eq!(d, safetensors::Dtype::I8, "{name}");
        b.into_iter().map(|v| v as i8).collect()
    }

    pub fn i64(&self, name: &str) -> Vec<i64> {
        let (d, _, b) = self.view(name);
        assert_eq!(d, safetensors::Dtype::I64, "{name}");
        b.chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect()
    }
}

/// A small Mistral-like config for tests (debug builds are slow).
pub fn tiny() -> super::ModelConfig {
    super::ModelConfig::parse(
        r#"{"_name_or_path": "tiny-mistral", "hidden_size": 256, "intermediate_size": 512,
            "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 1000}"#,
        "tiny",
    )
    .expect("tiny config")
}

/// A test device: the CPU (reporting itself as `device`), with format `F`'s stored bytes and
/// kernel replaceable, to show that the generic check catches a broken quantizer or kernel.
pub struct Tampered<'a, F: Format> {
    pub device: Device,
    pub packed: Box<PackedFn<'a, F>>,
    pub kernel: Box<KernelFn<'a, F>>,
}

type PackedFn<'a, F> = dyn Fn(&mut <F as Format>::Packed) + Sync + 'a;
type KernelFn<'a, F> = dyn Fn(&F, &LayerTensor, &<F as Format>::Packed, &[f32], usize) -> (Vec<f32>, <F as Format>::Act)
    + Sync
    + 'a;

impl<'a, F: Format> Tampered<'a, F> {
    /// Replaces nothing yet: the plain CPU.
    pub fn cpu() -> Self {
        Tampered {
            device: Device::Cpu,
            packed: Box::new(|_| {}),
            kernel: Box::new(|f, t, p, x, b| f.matmul(t, p, x, b).expect("CPU kernel")),
        }
    }

    pub fn kernel(
        mut self,
        k: impl Fn(&F, &LayerTensor, &F::Packed, &[f32], usize) -> (Vec<f32>, F::Act) + Sync + 'a,
    ) -> Self {
        self.kernel = Box::new(k);
        self
    }

    /// A GPU-like device (its bytes are compared with the CPU's) whose quantizer applies `p`.
    pub fn quantizer(mut self, p: impl Fn(&mut F::Packed) + Sync + 'a) -> Self {
        self.device = Device::Cuda;
        self.packed = Box::new(p);
        self
    }
}

impl<F: Format> DeviceInfo for Tampered<'_, F> {
    fn device(&self) -> Device {
        self.device
    }

    fn bandwidth(&self) -> Option<f64> {
        None
    }

    fn gemm_batch(&self, level: super::Level) -> usize {
        level.batches().1
    }
}

impl<F: Format> Runs<F> for Tampered<'_, F> {
    type Resident = ();

    fn quantize(&self, f: &F, t: &LayerTensor) -> Result<Quantized<F::Packed, ()>, NotRun> {
        let mut p = f.quantize(t)?;
        (self.packed)(&mut p);
        Ok(Quantized {
            host: p,
            resident: (),
            secs: 0.0,
        })
    }

    fn matmul(
        &self,
        f: &F,
        t: &LayerTensor,
        q: &Quantized<F::Packed, ()>,
        x: &[f32],
        batch: usize,
        _reps: Reps,
    ) -> Result<Product<F::Act>, NotRun> {
        let (y, act) = (self.kernel)(f, t, &q.host, x, batch);
        Ok(Product { y, act, secs: 1e-3 })
    }

    fn notes(&self, _f: &F) -> Vec<String> {
        Vec::new()
    }
}

/// Tiny layer `short` with seeded weights, its batch-1 activations and their f32 product.
pub fn setup(short: &str) -> (LayerTensor, Vec<f32>, Vec<f32>) {
    let p = tiny()
        .projections(0)
        .into_iter()
        .find(|p| p.short == short)
        .expect("projection");
    let t = super::model::synthetic(&p, 9, 1);
    let (x, _) = super::model::activations(9, 1, p.cols);
    let r = super::formats::gemm::matmul_f32(&x, 1, &t.w, p.rows, p.cols).expect("reference");
    (t, x, r)
}

//! The CPU device: every format's own CPU kernel ([`Format::matmul`], parallel with rayon), timed
//! by the one repetition rule, and the run of all CPU checks (each projection, then the
//! whole-layer round trip).

use super::backend::{DeviceInfo, NotRun, Product, Quantized, Runs};
use super::check::{self, RunEnv};
use super::dump::{self, Artifacts};
use super::formats::{Format, Formats};
use super::metrics::{self, Reps};
use super::model::LayerTensor;
use super::progress::Progress;
use super::{roundtrip, Device, Level, SmokeCheck, SmokeError, SmokeOptions};

/// The CPU, with its measured memory read bandwidth.
pub struct Cpu {
    pub bandwidth: Option<f64>,
}

impl<F: Format> Runs<F> for Cpu {
    type Resident = ();

    fn quantize(&self, f: &F, t: &LayerTensor) -> Result<Quantized<F::Packed, ()>, NotRun> {
        let (p, secs) = metrics::once(|| f.quantize(t));
        Ok(Quantized {
            host: p?,
            resident: (),
            secs,
        })
    }

    fn matmul(
        &self,
        f: &F,
        t: &LayerTensor,
        q: &Quantized<F::Packed, ()>,
        x: &[f32],
        batch: usize,
        reps: Reps,
    ) -> Result<Product<F::Act>, NotRun> {
        let (r, secs) = metrics::timed(reps, || f.matmul(t, &q.host, x, batch));
        let (y, act) = r?;
        Ok(Product { y, act, secs })
    }

    fn notes(&self, f: &F) -> Vec<String> {
        f.cpu_notes()
    }
}

impl DeviceInfo for Cpu {
    fn device(&self) -> Device {
        Device::Cpu
    }

    fn bandwidth(&self) -> Option<f64> {
        self.bandwidth
    }

    fn gemm_batch(&self, level: Level) -> usize {
        level.batches().1
    }
}

/// Runs every CPU check on every tensor, and the whole-layer round trip; with `--dump`, writes
/// each projection's tensors as its checks finish.
pub fn run(
    opts: &SmokeOptions,
    tensors: &[LayerTensor],
    progress: &Progress,
) -> Result<Vec<SmokeCheck>, SmokeError> {
    // Big enough to defeat the caches for Mistral layers, no bigger than the work itself.
    let cap = match opts.level {
        Level::Quick => 256,
        Level::Full => 512,
    };
    let layer_mib = tensors.iter().map(|t| 4 * t.proj.params()).sum::<usize>() >> 20;
    let mib = (2 * layer_mib).clamp(16, cap);
    let cpu = Cpu {
        bandwidth: Some(metrics::cpu_read_bandwidth(mib)),
    };
    let env = RunEnv {
        level: opts.level,
        reps: opts.level.reps(),
        seed: opts.seed,
    };
    let fm = Formats::new(opts.lora_rank, opts.lora_alpha, opts.seed);
    let mut out = Vec::new();
    for t in tensors {
        let mut arts = opts.dump.as_ref().map(|_| Artifacts::default());
        out.extend(check::projection(
            &cpu,
            &fm,
            t,
            &env,
            progress,
            arts.as_mut(),
        ));
        if let (Some(dir), Some(a)) = (&opts.dump, &arts) {
            dump::write_projection(dir, t, a)?;
        }
    }
    out.push(roundtrip::roundtrip(tensors));
    progress.step("safetensors round trip");
    Ok(out)
}

//! The seed's performance claims, measured where this machine can measure them.
//!
//! - bitsandbytes "30% memory reduction": the bytes of the int8 and NF4 layers this run made
//!   (values, scales/absmax, outlier-column indices; for NF4-DQ the compressed absmax too) against
//!   the same tensors in fp16, and extrapolated to the whole model (bitsandbytes quantizes the
//!   linear layers; embeddings, LM head and norms stay 16-bit).
//! - PEFT LoRA "90% memory saving for fine-tuning": computed from the shapes at the run's rank.
//!   Counted per trainable parameter: the fp32 weight, its fp32 gradient and Adam's two fp32
//!   moments (16 bytes), LoRA on q, k, v, o, gate, up and down of every layer against full
//!   fine-tuning of every parameter. Activations are not counted (they depend on batch and
//!   sequence length, not on the method); the frozen base weights LoRA still holds are reported
//!   beside.
//! - torch "15-20% faster than 2.0": needs two torch releases timed on the same GPU; compat runs
//!   no torch, so it is not measured (our own GEMM figures are in the checks).

use super::{ClaimMeasurement, Device, ModelConfig, SmokeCheck, SmokeOptions};
use crate::model::{SmokeCheckId, Verdict};

pub fn measure(
    cfg: &ModelConfig,
    opts: &SmokeOptions,
    checks: &[SmokeCheck],
) -> Vec<ClaimMeasurement> {
    vec![
        bitsandbytes(cfg, checks),
        lora(cfg, opts.lora_rank),
        ClaimMeasurement {
            library: "torch".into(),
            claim: "PyTorch 2.4: 15-20% faster than 2.0".into(),
            measured: None,
            holds: None,
            how: "not measurable here: it needs torch 2.0 and 2.4 timed on the same GPU, and compat runs no torch; the gemm-fp16/gemm-bf16 checks report this machine's own GEMM throughput".into(),
        },
    ]
}

/// Sums of (compressed, fp16) bytes and whether every check of `id` passed, preferring the
/// CPU rows (the same bytes either way).
fn bytes_of(checks: &[SmokeCheck], id: SmokeCheckId) -> Option<(u64, u64, bool)> {
    for dev in Device::ALL {
        let rows: Vec<&SmokeCheck> = checks
            .iter()
            .filter(|c| c.id == id && c.device == dev && c.compressed_bytes.is_some())
            .collect();
        if rows.is_empty() {
            continue;
        }
        let comp = rows.iter().filter_map(|c| c.compressed_bytes).sum();
        let fp16 = rows.iter().filter_map(|c| c.fp16_bytes).sum();
        let ok = rows.iter().all(|c| c.verdict == Verdict::Verified);
        return Some((comp, fp16, ok));
    }
    None
}

fn bitsandbytes(cfg: &ModelConfig, checks: &[SmokeCheck]) -> ClaimMeasurement {
    let claim = "bitsandbytes 0.41: 30% memory reduction (vs fp16 weights)".to_string();
    let mut parts = Vec::new();
    let mut all_ok = true;
    let mut min_red = f64::INFINITY;
    let linear = cfg.layers as f64 * cfg.layer_projection_params() as f64;
    let other = cfg.total_params() as f64 - linear;
    for (id, name) in [
        (SmokeCheckId::Int8Llm, "int8"),
        (SmokeCheckId::Nf4, "NF4"),
        (SmokeCheckId::Nf4Dq, "NF4+DQ"),
    ] {
        let Some((comp, fp16, ok)) = bytes_of(checks, id) else {
            continue;
        };
        all_ok &= ok;
        let red = 1.0 - comp as f64 / fp16 as f64;
        min_red = min_red.min(red);
        let per_param = comp as f64 / (fp16 as f64 / 2.0);
        let model = other * 2.0 + linear * per_param;
        let model_fp16 = cfg.total_params() as f64 * 2.0;
        parts.push(format!(
            "{name} −{:.1}% on the layer ({:.2} of {:.2} MB), whole model {:.2} GB vs {:.2} GB fp16 (−{:.1}%)",
            100.0 * red,
            comp as f64 / 1e6,
            fp16 as f64 / 1e6,
            model / 1e9,
            model_fp16 / 1e9,
            100.0 * (1.0 - model / model_fp16)
        ));
    }
    if parts.is_empty() {
        return ClaimMeasurement {
            library: "bitsandbytes".into(),
            claim,
            measured: None,
            holds: None,
            how: "no int8 or NF4 check ran".into(),
        };
    }
    ClaimMeasurement {
        library: "bitsandbytes".into(),
        claim,
        measured: Some(parts.join("; ")),
        holds: all_ok.then_some(min_red >= 0.30),
        how: format!(
            "bytes of the quantized {} layer tensors this run made (int8: values + f32 row absmax + i64 outlier columns; NF4: packed codes + f32 absmax; NF4+DQ: packed codes + u8 absmax + f32 absmax2 + 256-value code + offset) against the same tensors in fp16; the whole-model figure keeps embeddings, LM head and norms ({:.0}M parameters) in 16-bit{}",
            cfg.name,
            other / 1e6,
            if all_ok { "" } else { "; not judged because a quantization check failed" }
        ),
    }
}

fn lora(cfg: &ModelConfig, r: usize) -> ClaimMeasurement {
    let full = cfg.total_params();
    let lora = cfg.lora_params(r);
    let per = 16u64; // fp32 weight + fp32 grad + two fp32 Adam moments
    let full_b = per * full;
    let lora_b = per * lora;
    let saving = 1.0 - lora_b as f64 / full_b as f64;
    let with_base = 2 * full + lora_b;
    let saving_base = 1.0 - with_base as f64 / full_b as f64;
    ClaimMeasurement {
        library: "peft".into(),
        claim: "PEFT LoRA: 90% memory saving for fine-tuning".into(),
        measured: Some(format!(
            "−{:.2}% training state: {:.1}M trainable parameters ({:.2} GB) vs {:.2}B ({:.1} GB); −{:.1}% counting the frozen bf16 base weights LoRA keeps ({:.1} GB)",
            100.0 * saving,
            lora as f64 / 1e6,
            lora_b as f64 / 1e9,
            full as f64 / 1e9,
            full_b as f64 / 1e9,
            100.0 * saving_base,
            with_base as f64 / 1e9
        )),
        holds: Some(saving >= 0.90),
        how: format!(
            "from {}'s shapes at rank {r}: LoRA on q, k, v, o, gate, up, down of all {} layers (r·(in+out) each) vs full fine-tuning of all parameters; 16 bytes per trainable parameter (fp32 weight, fp32 gradient, Adam's two fp32 moments); activations not counted",
            cfg.name, cfg.layers
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lora_claim_from_mistral_shapes() {
        let cfg = ModelConfig::mistral_7b_v01();
        // r * (16384 + 10240 + 55296) per layer, 32 layers
        assert_eq!(cfg.lora_params(16), 16 * 81920 * 32);
        let c = lora(&cfg, 16);
        assert_eq!(c.holds, Some(true));
        let m = c.measured.unwrap_or_default();
        assert!(m.starts_with("−99.42% training state: 41.9M"), "{m}");
    }

    #[test]
    fn bnb_claim_from_check_bytes() {
        let cfg = ModelConfig::mistral_7b_v01();
        let mut c = SmokeCheck::new(SmokeCheckId::Nf4, Device::Cpu, "x", String::new());
        c.verdict = Verdict::Verified;
        c.compressed_bytes = Some(4500);
        c.fp16_bytes = Some(16000);
        let m = bitsandbytes(&cfg, &[c.clone()]);
        assert_eq!(m.holds, Some(true));
        assert!(m.measured.unwrap_or_default().contains("NF4 −71.9%"));
        c.verdict = Verdict::Failed;
        assert_eq!(bitsandbytes(&cfg, &[c]).holds, None);
    }
}

//! `compat smoke`: the smoke compressions on their own, as a table or JSON. The checks are
//! `smoke`'s; `--level` here has no `none` (that is only `check --smoke none`).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use super::args::{HostArg, OutputArgs, TableOrJson};
use super::{exit, output, Hint};
use crate::report;
use crate::smoke::{self, DeviceChoice, Level, SmokeOptions};

#[derive(Debug, Args)]
pub struct SmokeArgs {
    /// quick: the first 512 rows of q_proj and down_proj (seconds); full: every projection of a
    /// decoder layer, whole.
    #[arg(long, value_enum, default_value = "quick")]
    pub level: SmokeLevel,
    /// Where to run: the CPU and, when one is usable, the GPU (`auto`); or only one of them.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: SmokeDevice,
    /// How to print the results.
    #[arg(long, value_enum, default_value = "table")]
    pub format: TableOrJson,
    /// A model config.json (default: Mistral-7B-v0.1's shapes, built in).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// A safetensors checkpoint (file or folder); else the Hugging Face cache, else synthetic weights.
    #[arg(long, value_name = "PATH")]
    pub weights: Option<PathBuf>,
    /// Write every compressed tensor as safetensors in bitsandbytes' own layouts.
    #[arg(long, value_name = "DIR")]
    pub dump: Option<PathBuf>,
    /// Check (and with --dump, write) every 2-D bf16/f16/f32 tensor of --weights under its own
    /// name, instead of a model's projections.
    #[arg(long, requires = "weights")]
    pub every_tensor: bool,
    /// The rank of the LoRA adapters.
    #[arg(long, default_value_t = 16)]
    pub lora_rank: usize,
    /// LoRA's alpha: the adapters' output is scaled by alpha / rank.
    #[arg(long, default_value_t = 32.0)]
    pub lora_alpha: f32,
    #[command(flatten)]
    pub host: HostArg,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// How much to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SmokeLevel {
    /// The first 512 rows of q_proj and down_proj of one decoder layer.
    Quick,
    /// Every projection of one decoder layer.
    Full,
}

impl From<SmokeLevel> for Level {
    fn from(l: SmokeLevel) -> Level {
        match l {
            SmokeLevel::Quick => Level::Quick,
            SmokeLevel::Full => Level::Full,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SmokeDevice {
    /// The CPU, and the GPU when one is usable.
    Auto,
    /// The CPU only.
    Cpu,
    /// The GPU only (the f32 references still run on the CPU).
    Cuda,
}

impl From<SmokeDevice> for DeviceChoice {
    fn from(d: SmokeDevice) -> DeviceChoice {
        match d {
            SmokeDevice::Auto => DeviceChoice::Auto,
            SmokeDevice::Cpu => DeviceChoice::Cpu,
            SmokeDevice::Cuda => DeviceChoice::Cuda,
        }
    }
}

/// The options for `level`, everything else default; progress bars for a full run on a
/// terminal. `check --smoke` runs with these too.
pub(super) fn options(level: SmokeLevel) -> SmokeOptions {
    SmokeOptions {
        level: level.into(),
        progress: level == SmokeLevel::Full && std::io::stderr().is_terminal(),
        ..Default::default()
    }
}

pub fn run(args: &SmokeArgs) -> anyhow::Result<ExitCode> {
    let host = args.host.probe(false)?;
    let opts = SmokeOptions {
        device: args.device.into(),
        config: args.config.clone(),
        weights: args.weights.clone(),
        dump: args.dump.clone(),
        every_tensor: args.every_tensor,
        lora_rank: args.lora_rank,
        lora_alpha: args.lora_alpha,
        ..options(args.level)
    };
    // `--device cuda` with a driver that lacks symbols cudarc needs: the tool cannot do what
    // was asked (exit 2), rather than GPU checks that would only say so.
    if opts.device == DeviceChoice::Cuda {
        if let Some(why) = smoke::gpu::driver_unusable() {
            anyhow::bail!("the CUDA driver cannot be used: {why}");
        }
    }
    let r = smoke::run(&opts, &host)
        .hint("--config takes a model config.json; --weights a safetensors file or folder")?;
    let text = match args.format {
        TableOrJson::Table => {
            crate::report::smoke::render_table_in(&r, super::output::width(&args.output))
        }
        TableOrJson::Json => report::to_json("smoke report", &r)?,
    };
    output::emit(&args.output, &text)?;
    Ok(exit(r.failed()))
}

//! Progress bars on stderr (only with `--progress`): one step per check, on every device.

use super::model::LayerTensor;
use super::{DeviceChoice, SmokeOptions};

/// The checks of one projection on one device, and the whole-layer round trip (CPU only).
const STEPS_PER_PROJECTION: u64 = 7;

pub struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    pub fn new(opts: &SmokeOptions, tensors: &[LayerTensor]) -> Self {
        if !opts.progress {
            return Progress(None);
        }
        let per_device = tensors.len() as u64 * STEPS_PER_PROJECTION + 1;
        let devices = match opts.device {
            DeviceChoice::Auto => 2,
            _ => 1,
        };
        let pb = indicatif::ProgressBar::with_draw_target(
            Some(per_device * devices),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "smoke [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
        ) {
            pb.set_style(style);
        }
        Progress(Some(pb))
    }

    pub fn none() -> Self {
        Progress(None)
    }

    pub fn step(&self, msg: &str) {
        if let Some(pb) = &self.0 {
            pb.set_message(msg.to_string());
            pb.inc(1);
        }
    }

    pub fn finish(&self) {
        if let Some(pb) = &self.0 {
            pb.finish_and_clear();
        }
    }
}

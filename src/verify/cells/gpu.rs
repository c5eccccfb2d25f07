//! The `gpu` column (monitoring tools read GPUs through NVML, which the driver provides).

use super::{gpu_list, no_driver, Cell, Reason};
use crate::env::Distribution;
use crate::model::Verdict;
use crate::probe::HostFacts;

pub(super) fn gpu_cell(cell: &mut Cell, d: &Distribution, host: &HostFacts) {
    if host.gpus.is_empty() {
        cell.because(if host.driver.is_none() {
            no_driver(host)
        } else {
            Reason::NoGpu
        });
        return;
    }
    let src = host
        .gpus
        .first()
        .map(|g| g.source.clone())
        .unwrap_or_default();
    cell.evidence.push(format!(
        "{} GPU(s) visible ({}) [{src}]; {} reads GPU metrics through NVML, which the driver provides",
        host.gpus.len(),
        gpu_list(host),
        d.normalized
    ));
    cell.verdict = Verdict::Verified;
}

//! Test support: the bitsandbytes golden files in `../shared/golden/` (skipped with a printed
//! reason when that folder is absent) and typed reads of their tensors.

use std::path::PathBuf;

pub use super::model::Rng;

/// A golden safetensors file, read whole.
pub struct Golden {
    pub path: PathBuf,
    bytes: Vec<u8>,
}

/// `../shared/golden/NAME` next to the crate, or `None` (with the reason printed) if absent.
pub fn golden(name: &str) -> Option<Golden> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/golden");
    let path = dir.join(name);
    match std::fs::read(&path) {
        Ok(bytes) => Some(Golden { path, bytes }),
        Err(e) => {
            eprintln!(
                "SKIP: golden file {} not readable ({e}); the bitsandbytes comparison needs ../shared/golden",
                path.display()
            );
            None
        }
    }
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

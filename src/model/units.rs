//! Small version types of the GPU world, which are not PEP 440: an NVIDIA driver version
//! (`550.54.15`), a CUDA release (`12.4`) and a GPU compute capability (`sm_90`, `8.6`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Text that is not a driver version, CUDA version or compute capability; the message names
/// the text and the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnitError(String);

impl From<String> for UnitError {
    fn from(message: String) -> Self {
        UnitError(message)
    }
}

/// An NVIDIA driver version: dot-separated numbers, compared numerically (`535.104.05`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DriverVersion(pub Vec<u32>);

impl FromStr for DriverVersion {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, UnitError> {
        let parts: Result<Vec<u32>, _> = s.trim().split('.').map(str::parse::<u32>).collect();
        match parts {
            Ok(p) if !p.is_empty() && p.len() <= 4 => Ok(DriverVersion(p)),
            _ => Err(UnitError(format!(
                "`{s}` is not a driver version like 550.54.15"
            ))),
        }
    }
}

impl fmt::Display for DriverVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Keep the zero padding NVIDIA uses for the last part (535.104.05).
        let mut first = true;
        for (i, p) in self.0.iter().enumerate() {
            if !first {
                f.write_str(".")?;
            }
            first = false;
            if i == 2 {
                write!(f, "{p:02}")?;
            } else {
                write!(f, "{p}")?;
            }
        }
        Ok(())
    }
}

/// A CUDA release, `major.minor` (`12.4`). Also parses the driver API's integer (`12040`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CudaVersion {
    pub major: u32,
    pub minor: u32,
}

impl CudaVersion {
    pub const fn new(major: u32, minor: u32) -> Self {
        CudaVersion { major, minor }
    }

    /// From `cuDriverGetVersion` / NVML's integer form: 12040 -> 12.4.
    pub fn from_int(v: i32) -> Option<Self> {
        (v > 0).then(|| CudaVersion::new((v / 1000) as u32, ((v % 1000) / 10) as u32))
    }

    /// The torch / bitsandbytes wheel tag: 12.4 -> `cu124`.
    pub fn tag(self) -> String {
        format!("cu{}{}", self.major, self.minor)
    }
}

impl FromStr for CudaVersion {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, UnitError> {
        let t = s.trim();
        let t = t.strip_prefix("cu").unwrap_or(t);
        let err = || UnitError(format!("`{s}` is not a CUDA version like 12.4"));
        if let Some((a, b)) = t.split_once('.') {
            let b = b.split('.').next().unwrap_or(b);
            return Ok(CudaVersion::new(
                a.parse().map_err(|_| err())?,
                b.parse().map_err(|_| err())?,
            ));
        }
        // "124" (a wheel tag) or "12040" (the driver API's integer)
        match t.len() {
            5 => CudaVersion::from_int(t.parse().map_err(|_| err())?).ok_or_else(err),
            3 | 4 if t.chars().all(|c| c.is_ascii_digit()) => {
                let (a, b) = t.split_at(2);
                Ok(CudaVersion::new(
                    a.parse().map_err(|_| err())?,
                    b.parse().map_err(|_| err())?,
                ))
            }
            _ => Err(err()),
        }
    }
}

impl fmt::Display for CudaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A GPU compute capability (`9.0`, written `sm_90`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ComputeCapability {
    pub major: u32,
    pub minor: u32,
}

impl ComputeCapability {
    pub const fn new(major: u32, minor: u32) -> Self {
        ComputeCapability { major, minor }
    }

    pub fn sm(self) -> String {
        format!("sm_{}{}", self.major, self.minor)
    }
}

impl FromStr for ComputeCapability {
    type Err = UnitError;
    /// Accepts `8.6`, `sm_86`, `86`, `120`, `sm_120`, `compute_90`.
    fn from_str(s: &str) -> Result<Self, UnitError> {
        let t = s.trim().to_ascii_lowercase();
        let t = t
            .strip_prefix("sm_")
            .or_else(|| t.strip_prefix("compute_"))
            .unwrap_or(&t)
            .trim_end_matches(['a', 'f']);
        let err = || {
            UnitError(format!(
                "`{s}` is not a compute capability like 8.6 or sm_86"
            ))
        };
        if let Some((a, b)) = t.split_once('.') {
            return Ok(ComputeCapability::new(
                a.parse().map_err(|_| err())?,
                b.parse().map_err(|_| err())?,
            ));
        }
        if t.len() >= 2 && t.chars().all(|c| c.is_ascii_digit()) {
            let (a, b) = t.split_at(t.len() - 1);
            return Ok(ComputeCapability::new(
                a.parse().map_err(|_| err())?,
                b.parse().map_err(|_| err())?,
            ));
        }
        Err(err())
    }
}

impl fmt::Display for ComputeCapability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

macro_rules! string_serde {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
string_serde!(DriverVersion);
string_serde!(CudaVersion);
string_serde!(ComputeCapability);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_versions_order_numerically() {
        let a: DriverVersion = "535.104.05".parse().expect("v");
        let b: DriverVersion = "535.54.03".parse().expect("v");
        assert!(a > b);
        assert_eq!(a.to_string(), "535.104.05");
        assert!("550.54.14".parse::<DriverVersion>().expect("v") < "550.54.15".parse().expect("v"));
        assert!("abc".parse::<DriverVersion>().is_err());
    }

    #[test]
    fn cuda_versions() {
        assert_eq!("12.4".parse::<CudaVersion>(), Ok(CudaVersion::new(12, 4)));
        assert_eq!("cu124".parse::<CudaVersion>(), Ok(CudaVersion::new(12, 4)));
        assert_eq!("cu130".parse::<CudaVersion>(), Ok(CudaVersion::new(13, 0)));
        assert_eq!("12040".parse::<CudaVersion>(), Ok(CudaVersion::new(12, 4)));
        assert_eq!(CudaVersion::from_int(13000), Some(CudaVersion::new(13, 0)));
        assert_eq!("12.4.1".parse::<CudaVersion>(), Ok(CudaVersion::new(12, 4)));
        assert!(CudaVersion::new(12, 10) > CudaVersion::new(12, 9));
        assert_eq!(CudaVersion::new(11, 8).tag(), "cu118");
    }

    #[test]
    fn compute_capabilities() {
        assert_eq!(
            "8.6".parse::<ComputeCapability>(),
            Ok(ComputeCapability::new(8, 6))
        );
        assert_eq!(
            "sm_90".parse::<ComputeCapability>(),
            Ok(ComputeCapability::new(9, 0))
        );
        assert_eq!(
            "sm_120".parse::<ComputeCapability>(),
            Ok(ComputeCapability::new(12, 0))
        );
        assert_eq!(
            "sm_90a".parse::<ComputeCapability>(),
            Ok(ComputeCapability::new(9, 0))
        );
        assert_eq!(ComputeCapability::new(7, 5).sm(), "sm_75");
        assert!(ComputeCapability::new(12, 0) > ComputeCapability::new(9, 0));
    }
}

//! Toolchains found on PATH and their versions. (Being written.)

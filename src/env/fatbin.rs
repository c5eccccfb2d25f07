//! The GPU code inside a CUDA shared library: which SASS (`sm_XY` cubins) and PTX
//! (`compute_XY`) its fatbin carries, read from the ELF file's `.nv_fatbin` section, headers
//! only, memory-mapped, nothing decompressed. Plus a cache of listings keyed by (path, size,
//! mtime), so a second look at an unchanged library opens nothing.
//!
//! Not here: deciding what a GPU can run from these lists (the compatibility rules of
//! FACTS.md belong to the verifier), and finding the libraries of a package (the scanner).
//!
//! The format, as NVIDIA's `fatbinary` writes it and `cuobjdump` reads it (little-endian):
//!
//! ```text
//! container: u32 magic 0xBA55ED50 | u16 version (1) | u16 header size (16) | u64 size of the
//!            entries that follow the header
//! entry:     u16 kind (1 PTX, 2 ELF cubin) | u16 (0x0101) | u32 entry header size |
//!            u64 payload size | u32 | u32 | u16 minor | u16 major | u32 arch (e.g. 90) |
//!            u32 u32 (name offset, length) | u64 flags at 0x28 (0x1 64-bit, 0x10 Linux,
//!            0x10_0000 arch-specific `a`, 0x20_0000 family `f`) | ... up to the entry header
//!            size; the payload follows it, and the next entry follows the payload
//! ```
//!
//! The `a` and `f` flags were found with NVIDIA's own tools (CUDA 13.5 `ptxas` and
//! `fatbinary` on a one-kernel PTX for sm_90, sm_90a, sm_100, sm_100a, sm_100f, sm_120a; that
//! fatbin is `fixtures/fatbin/arch-variants.fatbin`, with what `cuobjdump` lists from it beside
//! it). Names follow `cuobjdump`: an `f` cubin is listed as plain `sm_100` (NVIDIA documents the
//! `f` and plain cubins as identical; both run on the whole 10.x family), an `f` PTX as
//! `compute_100f`, an `a` entry of either kind with its `a`.
//!
//! A section holds one or more containers back to back (zero padding may sit between them).
//! `__nv_relfatbin` holds the relocatable device code the library was device-linked from;
//! `cuobjdump --list-elf --list-ptx` does not list it and neither does this reader. The
//! `.nvFatBinSegment` wrappers (magic 0x466243B1) point at the containers; one that points
//! outside both sections (a fatbin kept in another section) is read as well.
//!
//! Every offset is checked against the section: a hostile or truncated file is an error
//! naming the offset, never a panic or a read outside the mapping.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use object::{Object, ObjectSection};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The fatbin container magic.
pub const FATBIN_MAGIC: u32 = 0xBA55_ED50;
/// The magic of a `.nvFatBinSegment` wrapper.
pub const WRAPPER_MAGIC: u32 = 0x4662_43B1;
const CONTAINER_HEADER: usize = 16;
/// The entry header fields read here end at byte 0x30 (after the flags).
const ENTRY_MIN_HEADER: u64 = 0x30;
/// Entry flag: an architecture-specific target (`sm_90a`).
pub const FLAG_ARCH_SPECIFIC: u64 = 0x10_0000;
/// Entry flag: a family-specific target (`compute_100f`).
pub const FLAG_FAMILY: u64 = 0x20_0000;

/// What one CUDA library carries, deduplicated, sorted by architecture number (then suffix).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NativeLibrary {
    pub path: PathBuf,
    /// The cubins' targets, `sm_80` style.
    pub sass: Vec<String>,
    /// The PTX targets, `compute_90` style.
    pub ptx: Vec<String>,
}

/// The kind of one fatbin entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Ptx,
    Sass,
    /// A kind this reader does not know; listed nowhere.
    Other(u16),
}

/// One entry's header, with where its payload lies in the section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FatbinEntry {
    pub kind: EntryKind,
    /// The architecture number: 90 for `sm_90` / `compute_90`.
    pub arch: u32,
    pub flags: u64,
    /// Offset of the payload from the start of the section.
    pub payload_offset: u64,
    pub payload_size: u64,
}

impl FatbinEntry {
    /// The suffix of the target's name as cuobjdump prints it: `a`, `f` (PTX only) or none.
    pub fn suffix(&self) -> &'static str {
        if self.flags & FLAG_ARCH_SPECIFIC != 0 {
            "a"
        } else if self.flags & FLAG_FAMILY != 0 && self.kind == EntryKind::Ptx {
            "f"
        } else {
            ""
        }
    }
}

/// Why a library's GPU code could not be listed.
#[derive(Debug, Error)]
pub enum FatbinError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not an ELF file this reader understands: {message}", path.display())]
    NotElf { path: PathBuf, message: String },
    #[error("{}: section {section}, offset 0x{offset:x}: {reason}", path.display())]
    Malformed {
        path: PathBuf,
        section: String,
        offset: u64,
        reason: String,
    },
}

/// A problem inside a section's bytes, before it is given a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionError {
    pub offset: u64,
    pub reason: String,
}

fn u16_at(b: &[u8], at: u64) -> Option<u16> {
    let at = usize::try_from(at).ok()?;
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: u64) -> Option<u32> {
    let at = usize::try_from(at).ok()?;
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_at(b: &[u8], at: u64) -> Option<u64> {
    let at = usize::try_from(at).ok()?;
    let s = b.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

/// Parses the one container that starts at `start`; returns its entries and where it ends.
pub fn parse_container(
    section: &[u8],
    start: u64,
) -> Result<(Vec<FatbinEntry>, u64), SectionError> {
    let bad = |offset: u64, reason: &str| SectionError {
        offset,
        reason: reason.to_string(),
    };
    let len = section.len() as u64;
    let magic = u32_at(section, start).ok_or_else(|| bad(start, "truncated container header"))?;
    if magic != FATBIN_MAGIC {
        return Err(bad(start, &format!("magic 0x{magic:08x}, not a fatbin")));
    }
    let version = u16_at(section, start + 4).ok_or_else(|| bad(start, "truncated header"))?;
    let header_size =
        u16_at(section, start + 6).ok_or_else(|| bad(start, "truncated header"))? as u64;
    let fat_size = u64_at(section, start + 8).ok_or_else(|| bad(start, "truncated header"))?;
    if version != 1 {
        return Err(bad(
            start,
            &format!("fatbin version {version}, only 1 is known"),
        ));
    }
    if header_size < CONTAINER_HEADER as u64 {
        return Err(bad(start, &format!("header size {header_size} under 16")));
    }
    let end = start
        .checked_add(header_size)
        .and_then(|v| v.checked_add(fat_size))
        .filter(|&e| e <= len)
        .ok_or_else(|| {
            bad(
                start,
                &format!("container of {fat_size} bytes runs past the section ({len} bytes)"),
            )
        })?;
    let mut entries = Vec::new();
    let mut e = start + header_size;
    while e < end {
        if end - e < ENTRY_MIN_HEADER {
            return Err(bad(e, "truncated entry header"));
        }
        let kind = u16_at(section, e).ok_or_else(|| bad(e, "truncated entry"))?;
        let ehs = u32_at(section, e + 4).ok_or_else(|| bad(e, "truncated entry"))? as u64;
        let size = u64_at(section, e + 8).ok_or_else(|| bad(e, "truncated entry"))?;
        let arch = u32_at(section, e + 0x1c).ok_or_else(|| bad(e, "truncated entry"))?;
        let flags = u64_at(section, e + 0x28).ok_or_else(|| bad(e, "truncated entry"))?;
        if ehs < ENTRY_MIN_HEADER {
            return Err(bad(e, &format!("entry header size {ehs} under 0x30")));
        }
        let next = e
            .checked_add(ehs)
            .and_then(|v| v.checked_add(size))
            .filter(|&n| n <= end)
            .ok_or_else(|| bad(e, &format!("entry of {size} bytes runs past its container")))?;
        entries.push(FatbinEntry {
            kind: match kind {
                1 => EntryKind::Ptx,
                2 => EntryKind::Sass,
                k => EntryKind::Other(k),
            },
            arch,
            flags,
            payload_offset: e + ehs,
            payload_size: size,
        });
        e = next;
    }
    Ok((entries, end))
}

/// Every entry of every container in a `.nv_fatbin` section's bytes. Zero bytes between
/// containers are padding; anything else is an error.
pub fn parse_section(section: &[u8]) -> Result<Vec<FatbinEntry>, SectionError> {
    let mut entries = Vec::new();
    let mut pos = 0u64;
    let len = section.len() as u64;
    while pos < len {
        let Some(rest) = usize::try_from(pos).ok().and_then(|p| section.get(p..)) else {
            break;
        };
        let zeros = rest.iter().take_while(|&&b| b == 0).count() as u64;
        if zeros > 0 {
            pos += zeros;
            continue;
        }
        let (mut found, end) = parse_container(section, pos)?;
        entries.append(&mut found);
        pos = end;
    }
    Ok(entries)
}

/// The sorted, deduplicated names of SASS and PTX entries.
pub fn arch_lists(entries: &[FatbinEntry]) -> (Vec<String>, Vec<String>) {
    let mut sass = std::collections::BTreeSet::new();
    let mut ptx = std::collections::BTreeSet::new();
    for e in entries {
        match e.kind {
            EntryKind::Sass => {
                sass.insert((e.arch, e.suffix()));
            }
            EntryKind::Ptx => {
                ptx.insert((e.arch, e.suffix()));
            }
            EntryKind::Other(_) => {}
        }
    }
    (
        sass.into_iter()
            .map(|(a, s)| format!("sm_{a}{s}"))
            .collect(),
        ptx.into_iter()
            .map(|(a, s)| format!("compute_{a}{s}"))
            .collect(),
    )
}

/// Lists the GPU code of an ELF image held in memory (`path` only names it in errors).
/// An ELF file without a fatbin is a library without GPU code: empty lists.
pub fn list_image(path: &Path, data: &[u8]) -> Result<NativeLibrary, FatbinError> {
    let file = object::read::elf::ElfFile64::<object::Endianness>::parse(data)
        .map(object::File::Elf64)
        .or_else(|_| {
            object::read::elf::ElfFile32::<object::Endianness>::parse(data).map(object::File::Elf32)
        })
        .map_err(|e| FatbinError::NotElf {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    let malformed = |section: &str, e: SectionError| FatbinError::Malformed {
        path: path.to_path_buf(),
        section: section.to_string(),
        offset: e.offset,
        reason: e.reason,
    };
    let mut entries = Vec::new();
    // File ranges of the sections already read or deliberately not read.
    let mut covered: Vec<(u64, u64)> = Vec::new();
    for name in [".nv_fatbin", "__nv_relfatbin"] {
        let Some(sec) = file.section_by_name(name) else {
            continue;
        };
        if let Some(range) = sec.file_range() {
            covered.push((range.0, range.0.saturating_add(range.1)));
        }
        if name == ".nv_fatbin" {
            let bytes = sec.data().map_err(|e| {
                malformed(
                    name,
                    SectionError {
                        offset: 0,
                        reason: e.to_string(),
                    },
                )
            })?;
            entries.extend(parse_section(bytes).map_err(|e| malformed(name, e))?);
        }
    }
    // Wrappers pointing at a container outside both sections.
    if let Some(seg) = file.section_by_name(".nvFatBinSegment") {
        let bytes = seg.data().unwrap_or_default();
        for chunk in bytes.chunks_exact(24) {
            if u32_at(chunk, 0) != Some(WRAPPER_MAGIC) {
                continue;
            }
            let Some(va) = u64_at(chunk, 8) else { continue };
            for sec in file.sections() {
                let (addr, size) = (sec.address(), sec.size());
                if va < addr || va - addr >= size {
                    continue;
                }
                let Some((off, _)) = sec.file_range() else {
                    continue;
                };
                let file_off = off.saturating_add(va - addr);
                if covered.iter().any(|&(s, e)| file_off >= s && file_off < e) {
                    continue;
                }
                let name = sec.name().unwrap_or("?").to_string();
                let data = sec.data().map_err(|e| {
                    malformed(
                        &name,
                        SectionError {
                            offset: 0,
                            reason: e.to_string(),
                        },
                    )
                })?;
                let (mut found, _) =
                    parse_container(data, va - addr).map_err(|e| malformed(&name, e))?;
                entries.append(&mut found);
            }
        }
    }
    let (sass, ptx) = arch_lists(&entries);
    Ok(NativeLibrary {
        path: path.to_path_buf(),
        sass,
        ptx,
    })
}

/// Lists the GPU code of one library file, memory-mapped.
pub fn list_library(path: &Path) -> Result<NativeLibrary, FatbinError> {
    let io = |source| FatbinError::Io {
        path: path.to_path_buf(),
        source,
    };
    // Through the bounded reader's open: a FIFO or a device named like a library would block
    // or never end; only a regular file is mapped.
    let (file, _) = crate::input::open_regular(path, crate::input::InputKind::NativeLibrary)
        .map_err(|e| io(std::io::Error::other(e.reason())))?;
    // SAFETY: the mapping is read-only and lives only inside this call. A file truncated by
    // another process while mapped could fault; installed libraries are not rewritten in place.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
    list_image(path, &map)
}

/// One cached listing with the file facts it was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Cached {
    size: u64,
    mtime_ns: u128,
    sass: Vec<String>,
    ptx: Vec<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    libraries: BTreeMap<PathBuf, Cached>,
}

const CACHE_VERSION: u32 = 1;
const CACHE_NAME: &str = "fatbin-listings.json";

/// Listings cached in `DIR/fatbin-listings.json`, keyed by (path, size, mtime). A cache that
/// cannot be read or is from another version is ignored (it is never evidence); a library
/// whose size or mtime changed is read again.
#[derive(Debug)]
pub struct ListingCache {
    file: PathBuf,
    data: CacheFile,
    dirty: bool,
    /// Listings answered from the cache, and read from the file, since `open`.
    pub hits: usize,
    pub misses: usize,
}

impl ListingCache {
    pub fn open(dir: &Path) -> ListingCache {
        let file = dir.join(CACHE_NAME);
        let data = std::fs::read(&file)
            .ok()
            .and_then(|b| serde_json::from_slice::<CacheFile>(&b).ok())
            .filter(|c| c.version == CACHE_VERSION)
            .unwrap_or(CacheFile {
                version: CACHE_VERSION,
                libraries: BTreeMap::new(),
            });
        ListingCache {
            file,
            data,
            dirty: false,
            hits: 0,
            misses: 0,
        }
    }

    /// The listing of `path`: from the cache when its size and mtime are unchanged, else read.
    pub fn list(&mut self, path: &Path) -> Result<NativeLibrary, FatbinError> {
        let meta = std::fs::metadata(path).map_err(|source| FatbinError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let size = meta.len();
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        if let Some(c) = self.data.libraries.get(path) {
            if c.size == size && c.mtime_ns == mtime_ns {
                self.hits += 1;
                return Ok(NativeLibrary {
                    path: path.to_path_buf(),
                    sass: c.sass.clone(),
                    ptx: c.ptx.clone(),
                });
            }
        }
        self.misses += 1;
        let lib = list_library(path)?;
        self.data.libraries.insert(
            path.to_path_buf(),
            Cached {
                size,
                mtime_ns,
                sass: lib.sass.clone(),
                ptx: lib.ptx.clone(),
            },
        );
        self.dirty = true;
        Ok(lib)
    }

    /// Writes the cache if anything was added (atomically: a temporary file renamed).
    pub fn save(&mut self) -> Result<(), FatbinError> {
        if !self.dirty {
            return Ok(());
        }
        let dir = self.file.parent().unwrap_or(Path::new("."));
        let io = |source| FatbinError::Io {
            path: self.file.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let json = serde_json::to_vec(&self.data).map_err(|e| io(std::io::Error::other(e)))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        std::io::Write::write_all(&mut tmp, &json).map_err(io)?;
        tmp.persist(&self.file).map_err(|e| io(e.error))?;
        self.dirty = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic entry: kind, arch, payload; the header is 64 bytes as `fatbinary` writes.
    fn entry(kind: u16, arch: u32, payload: &[u8]) -> Vec<u8> {
        entry_with_flags(kind, arch, 0x11, payload)
    }

    fn entry_with_flags(kind: u16, arch: u32, flags: u64, payload: &[u8]) -> Vec<u8> {
        let mut e = Vec::new();
        e.extend(kind.to_le_bytes());
        e.extend(0x0101u16.to_le_bytes());
        e.extend(64u32.to_le_bytes());
        e.extend((payload.len() as u64).to_le_bytes());
        e.extend(0u32.to_le_bytes());
        e.extend(0u32.to_le_bytes());
        e.extend(0u16.to_le_bytes());
        e.extend(1u16.to_le_bytes());
        e.extend(arch.to_le_bytes());
        e.extend(0u32.to_le_bytes());
        e.extend(0u32.to_le_bytes());
        e.extend(flags.to_le_bytes()); // 0x28
        e.extend(0u64.to_le_bytes());
        e.extend(0u64.to_le_bytes());
        assert_eq!(e.len(), 64);
        e.extend(payload);
        e
    }

    fn container(entries: &[Vec<u8>]) -> Vec<u8> {
        let body: Vec<u8> = entries.concat();
        let mut c = Vec::new();
        c.extend(FATBIN_MAGIC.to_le_bytes());
        c.extend(1u16.to_le_bytes());
        c.extend(16u16.to_le_bytes());
        c.extend((body.len() as u64).to_le_bytes());
        c.extend(body);
        c
    }

    fn sample_section() -> Vec<u8> {
        let mut s = container(&[
            entry(2, 80, b"\x7fELF cubin 80"),
            entry(2, 90, b"cubin 90"),
            entry(1, 90, b".version 8.0 .target sm_90"),
        ]);
        s.extend([0u8; 8]); // padding between containers
        s.extend(container(&[
            entry(2, 80, b"again"),
            entry(2, 120, b"x"),
            entry(7, 1, b""),
        ]));
        s
    }

    #[test]
    fn lists_sass_and_ptx_sorted_and_deduplicated() {
        let entries = match parse_section(&sample_section()) {
            Ok(e) => e,
            Err(e) => panic!("{e:?}"),
        };
        assert_eq!(entries.len(), 6);
        assert_eq!(entries[5].kind, EntryKind::Other(7));
        let (sass, ptx) = arch_lists(&entries);
        assert_eq!(
            sass,
            ["sm_80", "sm_90", "sm_120"].map(String::from).to_vec()
        );
        assert_eq!(ptx, ["compute_90"]);
        // The payload offsets point at the payloads.
        let s = sample_section();
        let e = &entries[1];
        let at = e.payload_offset as usize;
        assert_eq!(&s[at..at + e.payload_size as usize], b"cubin 90");
    }

    #[test]
    fn suffixes_follow_the_flags_as_cuobjdump_names_them() {
        let s = container(&[
            entry_with_flags(2, 90, 0x10_0011, b"a"),
            entry_with_flags(1, 90, 0x10_8011, b"a"),
            entry_with_flags(2, 100, 0x120_0011, b"f"),
            entry_with_flags(1, 100, 0x120_8011, b"f"),
            entry_with_flags(2, 100, 0x100_0011, b"plain"),
        ]);
        let entries = parse_section(&s).unwrap_or_default();
        let (sass, ptx) = arch_lists(&entries);
        assert_eq!(sass, ["sm_90a", "sm_100"]);
        assert_eq!(ptx, ["compute_90a", "compute_100f"]);
    }

    /// A fatbin made by NVIDIA's `fatbinary` (CUDA 13.5) from `ptxas` cubins and PTX for six
    /// targets, and what `cuobjdump --list-elf --list-ptx` printed for it.
    #[test]
    fn reads_a_real_fatbin_as_cuobjdump_does() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/fatbin");
        let bytes = std::fs::read(dir.join("arch-variants.fatbin")).unwrap_or_default();
        let listing =
            std::fs::read_to_string(dir.join("arch-variants.cuobjdump.txt")).unwrap_or_default();
        let entries = match parse_section(&bytes) {
            Ok(e) => e,
            Err(e) => panic!("{e:?}"),
        };
        // cuobjdump's lines, in its order: `ELF file 2: all.2.sm_90a.cubin`.
        let theirs: Vec<String> = listing
            .lines()
            .filter_map(|l| {
                let name = l.split_once(": ")?.1;
                let mut parts = name.rsplitn(3, '.');
                let ext = parts.next()?;
                let arch = parts.next()?.strip_prefix("sm_")?;
                Some(match ext {
                    "ptx" => format!("compute_{arch}"),
                    _ => format!("sm_{arch}"),
                })
            })
            .collect();
        let ours: Vec<String> = entries
            .iter()
            .map(|e| match e.kind {
                EntryKind::Ptx => format!("compute_{}{}", e.arch, e.suffix()),
                _ => format!("sm_{}{}", e.arch, e.suffix()),
            })
            .collect();
        assert_eq!(theirs.len(), 12, "{listing}");
        assert_eq!(ours, theirs);
    }

    #[test]
    fn every_truncation_is_an_error_or_a_shorter_listing_never_a_panic() {
        let s = sample_section();
        for cut in 0..s.len() {
            let _ = parse_section(&s[..cut]);
        }
        // Truncated inside the first container: an error with an offset inside the section.
        let err = parse_section(&s[..40]);
        assert!(
            matches!(err, Err(SectionError { offset: 0, .. })),
            "{err:?}"
        );
    }

    #[test]
    fn garbage_and_hostile_sizes_are_errors() {
        assert!(parse_section(b"not a fatbin at all").is_err());
        // A container claiming u64::MAX bytes.
        let mut c = container(&[entry(2, 80, b"x")]);
        c[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(parse_section(&c).is_err());
        // An entry claiming more than its container.
        let mut c = container(&[entry(2, 80, b"x")]);
        c[16 + 8..16 + 16].copy_from_slice(&(u64::MAX - 10).to_le_bytes());
        assert!(parse_section(&c).is_err());
        // An entry header size of 0 (would loop forever).
        let mut c = container(&[entry(2, 80, b"x")]);
        c[16 + 4..16 + 8].copy_from_slice(&0u32.to_le_bytes());
        assert!(parse_section(&c).is_err());
        // An unknown version.
        let mut c = container(&[]);
        c[4] = 2;
        assert!(parse_section(&c).is_err());
        // Pseudo-random bytes after a valid magic.
        let mut seed: u64 = 1;
        for _ in 0..2000 {
            let mut b = FATBIN_MAGIC.to_le_bytes().to_vec();
            b.extend(1u16.to_le_bytes());
            for _ in 0..200 {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                b.push((seed >> 56) as u8);
            }
            let _ = parse_section(&b);
        }
    }

    #[test]
    fn an_empty_or_zero_section_has_no_entries() {
        assert_eq!(parse_section(&[]), Ok(vec![]));
        assert_eq!(parse_section(&[0u8; 64]), Ok(vec![]));
    }

    #[test]
    fn a_file_that_is_not_elf_is_a_typed_error() {
        let r = list_image(Path::new("x.so"), b"\x7fELF garbage");
        assert!(matches!(r, Err(FatbinError::NotElf { .. })), "{r:?}");
        let r = list_image(Path::new("x.so"), b"");
        assert!(matches!(r, Err(FatbinError::NotElf { .. })), "{r:?}");
    }

    /// A minimal ELF64 little-endian shared object with the given sections (name, bytes).
    fn elf(sections: &[(&str, &[u8])]) -> Vec<u8> {
        let mut shstrtab = vec![0u8];
        let mut names = Vec::new();
        for (name, _) in sections.iter().copied().chain([(".shstrtab", &[][..])]) {
            names.push(shstrtab.len() as u32);
            shstrtab.extend(name.as_bytes());
            shstrtab.push(0);
        }
        let mut body = Vec::new();
        let mut placed = Vec::new();
        for (_, data) in sections {
            placed.push((64 + body.len() as u64, data.len() as u64));
            body.extend(*data);
        }
        placed.push((64 + body.len() as u64, shstrtab.len() as u64));
        body.extend(&shstrtab);
        while body.len() % 8 != 0 {
            body.push(0);
        }
        let shoff = 64 + body.len() as u64;
        let shnum = placed.len() as u16 + 1;
        let mut out = Vec::new();
        out.extend(b"\x7fELF\x02\x01\x01\x00");
        out.extend([0u8; 8]);
        out.extend(3u16.to_le_bytes()); // ET_DYN
        out.extend(62u16.to_le_bytes()); // x86-64
        out.extend(1u32.to_le_bytes());
        out.extend(0u64.to_le_bytes()); // entry
        out.extend(0u64.to_le_bytes()); // phoff
        out.extend(shoff.to_le_bytes());
        out.extend(0u32.to_le_bytes()); // flags
        out.extend(64u16.to_le_bytes()); // ehsize
        out.extend(56u16.to_le_bytes());
        out.extend(0u16.to_le_bytes()); // phnum
        out.extend(64u16.to_le_bytes()); // shentsize
        out.extend(shnum.to_le_bytes());
        out.extend((shnum - 1).to_le_bytes()); // shstrndx
        out.extend(&body);
        out.extend([0u8; 64]); // the null section header
        for (i, (off, size)) in placed.iter().enumerate() {
            let sh_type: u32 = if i + 1 == placed.len() { 3 } else { 1 };
            out.extend(names[i].to_le_bytes());
            out.extend(sh_type.to_le_bytes());
            out.extend(2u64.to_le_bytes()); // SHF_ALLOC
            out.extend(0x1000u64.wrapping_add(*off).to_le_bytes()); // addr
            out.extend(off.to_le_bytes());
            out.extend(size.to_le_bytes());
            out.extend(0u32.to_le_bytes());
            out.extend(0u32.to_le_bytes());
            out.extend(8u64.to_le_bytes());
            out.extend(0u64.to_le_bytes());
        }
        out
    }

    #[test]
    fn lists_the_fatbin_of_an_elf_file_and_skips_relocatable_code() {
        let rel = container(&[entry(1, 75, b"relocatable ptx")]);
        let image = elf(&[
            (".text", b"\x90\x90"),
            ("__nv_relfatbin", &rel),
            (".nv_fatbin", &sample_section()),
        ]);
        match list_image(Path::new("libx.so"), &image) {
            Ok(lib) => {
                assert_eq!(lib.sass, ["sm_80", "sm_90", "sm_120"].map(String::from));
                assert_eq!(lib.ptx, ["compute_90"]);
            }
            Err(e) => panic!("{e}"),
        }
        // Without a fatbin: empty lists.
        match list_image(Path::new("libcpu.so"), &elf(&[(".text", b"\x90")])) {
            Ok(lib) => assert!(lib.sass.is_empty() && lib.ptx.is_empty(), "{lib:?}"),
            Err(e) => panic!("{e}"),
        }
        // A broken fatbin section is an error naming the section.
        let broken = elf(&[(".nv_fatbin", &sample_section()[..50])]);
        let r = list_image(Path::new("libbad.so"), &broken);
        assert!(
            matches!(&r, Err(FatbinError::Malformed { section, .. }) if section == ".nv_fatbin"),
            "{r:?}"
        );
        // Every truncation of the whole file: an error or a listing, never a panic.
        for cut in (0..image.len()).step_by(7) {
            let _ = list_image(Path::new("libcut.so"), &image[..cut]);
        }
    }

    #[test]
    fn the_cache_answers_an_unchanged_file_and_rereads_a_changed_one() {
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        let lib = dir.path().join("libfake.so");
        assert!(std::fs::write(&lib, elf(&[(".nv_fatbin", &sample_section())])).is_ok());
        let mut cache = ListingCache::open(dir.path());
        let first = cache.list(&lib).map_err(|e| e.to_string());
        assert_eq!((cache.hits, cache.misses), (0, 1));
        assert_eq!(first.as_ref().map(|l| l.sass.len()), Ok(3));
        assert!(cache.save().is_ok());
        let mut again = ListingCache::open(dir.path());
        let second = again.list(&lib).map_err(|e| e.to_string());
        assert_eq!((again.hits, again.misses), (1, 0));
        assert_eq!(first, second);
        // Changing the file (its size) makes the next listing read it again.
        if std::fs::write(&lib, b"now not an ELF file").is_err() {
            return;
        }
        let third = again.list(&lib);
        assert!(
            matches!(third, Err(FatbinError::NotElf { .. })),
            "{third:?}"
        );
        assert_eq!(again.misses, 1);
        // A corrupt cache file is ignored, not an error.
        let _ = std::fs::write(dir.path().join(CACHE_NAME), b"{not json");
        let mut corrupt = ListingCache::open(dir.path());
        assert!(corrupt.list(&lib).is_err());
        assert_eq!(corrupt.misses, 1);
    }
}

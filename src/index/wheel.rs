//! A wheel's `*.dist-info/METADATA` from the parts of the file that hold it, for indexes that
//! serve no PEP 658 metadata file (mirrors, proxies, private indexes).
//!
//! How (the way uv's `remote_metadata` does it): the client fetches the end of the file with one
//! range request (`Range: bytes=-65536`), which holds the end-of-central-directory record (and
//! zip64's, for large wheels) and usually the whole central directory. The `zip` crate then
//! reads the archive from a [`Sparse`] file: the byte ranges fetched so far, at their offsets.
//! When it reads a byte that has not been fetched, the read fails and the range is recorded
//! ([`Sparse::take_miss`]); the client fetches it (widened, see [`Sparse::widen`]) and the
//! read starts again. A wheel needs two or three requests: the tail, perhaps the rest of the
//! central directory, and the entry's local header with its data. Inflating and the CRC check are
//! the `zip` crate's (with `flate2`); nothing here decodes deflate or parses zip records.
//!
//! Bounds: [`MAX_METADATA`] for the entry itself, and the client caps the bytes fetched per
//! wheel and the number of rounds. A server that ignores `Range` (answers 200) sends the whole
//! file; the client reads it up to its full-download cap and hands the bytes over as one range.
//!
//! What does not live here: HTTP (`super::client`), parsing the METADATA text (`super::page`).

use std::io::{self, Read, Seek, SeekFrom};

/// The largest `METADATA` entry read (uncompressed). Real ones are a few kB; torch's is 10 kB.
pub const MAX_METADATA: u64 = 4 << 20;

/// A gap up to the next held range at most this long is fetched whole (it is the central
/// directory, or an entry and what follows it up to the directory).
const WIDEN_GAP: u64 = 8 << 20;

/// The bytes of a remote file fetched so far, at their offsets, as a `Read + Seek` file of the
/// remote file's length.
#[derive(Debug, Clone)]
pub struct Sparse {
    len: u64,
    pos: u64,
    /// Fetched ranges `(start, bytes)`, sorted by start, not overlapping.
    chunks: Vec<(u64, Vec<u8>)>,
    /// The first range read that was not there.
    miss: Option<(u64, u64)>,
}

impl Sparse {
    /// An empty file of `len` bytes.
    pub fn new(len: u64) -> Self {
        Sparse {
            len,
            pos: 0,
            chunks: Vec::new(),
            miss: None,
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held, in total.
    pub fn held(&self) -> u64 {
        self.chunks.iter().map(|(_, b)| b.len() as u64).sum()
    }

    /// Adds the bytes at `start` (anything beyond the file's length is dropped; parts already
    /// held are kept as they are).
    pub fn insert(&mut self, start: u64, bytes: Vec<u8>) {
        let end = start.saturating_add(bytes.len() as u64).min(self.len);
        let mut at = start;
        // Split the new range around what is held already, so chunks never overlap.
        let mut pieces: Vec<(u64, Vec<u8>)> = Vec::new();
        while at < end {
            match self.chunk_at(at) {
                Some(i) => {
                    let (s, b) = &self.chunks[i];
                    at = s + b.len() as u64;
                }
                None => {
                    let stop = self.next_start(at).unwrap_or(end).min(end);
                    let from = usize::try_from(at - start).unwrap_or(usize::MAX);
                    let to = usize::try_from(stop - start).unwrap_or(usize::MAX);
                    if let Some(slice) = bytes.get(from..to) {
                        pieces.push((at, slice.to_vec()));
                    }
                    at = stop;
                }
            }
        }
        self.chunks.extend(pieces);
        self.chunks.sort_by_key(|(s, _)| *s);
    }

    /// Where the first held range after `pos` starts.
    fn next_start(&self, pos: u64) -> Option<u64> {
        self.chunks.iter().map(|(s, _)| *s).find(|s| *s > pos)
    }

    fn chunk_at(&self, pos: u64) -> Option<usize> {
        self.chunks
            .iter()
            .position(|(s, b)| *s <= pos && pos < s + b.len() as u64)
    }

    /// The range a failed read wanted, if one did since the last call.
    pub fn take_miss(&mut self) -> Option<(u64, u64)> {
        self.miss.take()
    }

    /// `miss` widened to what is worth one request: at least `min_len` bytes, up to the next
    /// held range (so a central directory ahead of the fetched tail comes in one piece) and the
    /// end of the file. Returns `(start, end)`, end exclusive.
    pub fn widen(&self, miss: (u64, u64), min_len: u64) -> (u64, u64) {
        let (start, end) = miss;
        let next = self.next_start(start).unwrap_or(self.len);
        let stop = if next - start <= WIDEN_GAP {
            next
        } else {
            start.saturating_add(min_len).min(next)
        };
        (start, stop.max(end).min(self.len))
    }
}

impl Read for Sparse {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.len || buf.is_empty() {
            return Ok(0);
        }
        match self.chunk_at(self.pos) {
            Some(i) => {
                let (s, b) = &self.chunks[i];
                let off = usize::try_from(self.pos - s).unwrap_or(usize::MAX);
                let avail = b.get(off..).unwrap_or(&[]);
                let n = avail.len().min(buf.len());
                buf[..n].copy_from_slice(&avail[..n]);
                self.pos += n as u64;
                Ok(n)
            }
            None => {
                let end = self.pos.saturating_add(buf.len() as u64).min(self.len);
                if self.miss.is_none() {
                    self.miss = Some((self.pos, end));
                }
                Err(io::Error::other(format!(
                    "bytes {}..{end} not fetched yet",
                    self.pos
                )))
            }
        }
    }
}

impl Seek for Sparse {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match target {
            Some(t) => {
                self.pos = t;
                Ok(t)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the file",
            )),
        }
    }
}

/// What one attempt at reading METADATA gave.
#[derive(Debug)]
pub enum Step {
    /// The METADATA text.
    Done(String),
    /// These bytes are needed first (end exclusive).
    Need(u64, u64),
    /// The file is not a wheel compat can read.
    Bad(WheelError),
}

/// Why a wheel's METADATA could not be read out of it.
#[derive(Debug, thiserror::Error)]
pub enum WheelError {
    #[error("not a zip file ({0})")]
    NotZip(#[source] zip::result::ZipError),
    #[error("it has no *.dist-info/METADATA")]
    NoMetadata,
    #[error("it has more than one *.dist-info/METADATA")]
    ManyMetadata,
    #[error("cannot open its METADATA ({0})")]
    Open(#[source] zip::result::ZipError),
    #[error("its METADATA is {0} bytes, more than the {MAX_METADATA}-byte limit")]
    TooLarge(u64),
    #[error("cannot read its METADATA ({0})")]
    Read(#[source] std::io::Error),
    #[error("its METADATA inflates to more than {MAX_METADATA} bytes")]
    Inflates,
    #[error("its METADATA is not UTF-8 ({0})")]
    NotUtf8(#[source] std::string::FromUtf8Error),
}

/// Reads `*.dist-info/METADATA` (the one at the top of the archive) from `file`.
pub fn read_metadata<R: Read + Seek>(file: R) -> Result<String, WheelError> {
    let mut archive = zip::ZipArchive::new(file).map_err(WheelError::NotZip)?;
    let index = metadata_index(&archive)?;
    let mut entry = archive.by_index(index).map_err(WheelError::Open)?;
    if entry.size() > MAX_METADATA {
        return Err(WheelError::TooLarge(entry.size()));
    }
    let mut bytes = Vec::new();
    (&mut entry)
        .take(MAX_METADATA + 1)
        .read_to_end(&mut bytes)
        .map_err(WheelError::Read)?;
    if bytes.len() as u64 > MAX_METADATA {
        return Err(WheelError::Inflates);
    }
    String::from_utf8(bytes).map_err(WheelError::NotUtf8)
}

/// One attempt on the bytes fetched so far.
pub fn step(sparse: &mut Sparse) -> Step {
    let _ = sparse.take_miss();
    let result = read_metadata(&mut *sparse);
    match (result, sparse.take_miss()) {
        (Ok(text), _) => Step::Done(text),
        (Err(_), Some((s, e))) => Step::Need(s, e),
        (Err(why), None) => Step::Bad(why),
    }
}

fn metadata_index<R: Read + Seek>(archive: &zip::ZipArchive<R>) -> Result<usize, WheelError> {
    let found: Vec<usize> = (0..archive.len())
        .filter(|i| {
            archive.name_for_index(*i).is_some_and(|n| {
                n.split_once('/')
                    .is_some_and(|(dir, rest)| dir.ends_with(".dist-info") && rest == "METADATA")
            })
        })
        .collect();
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(WheelError::NoMetadata),
        _ => Err(WheelError::ManyMetadata),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    /// A wheel with METADATA after `filler` bytes of other files.
    fn wheel(metadata: &str, filler: usize, method: zip::CompressionMethod) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default().compression_method(method);
        w.start_file("pkg/__init__.py", opts).expect("start");
        let junk: Vec<u8> = (0..filler).map(|i| (i * 7 % 251) as u8).collect();
        w.write_all(&junk).expect("write");
        for i in 0..50 {
            w.start_file(format!("pkg/m{i}.py"), opts).expect("start");
            w.write_all(b"x = 1\n").expect("write");
        }
        w.start_file("pkg-1.0.dist-info/METADATA", opts)
            .expect("start");
        w.write_all(metadata.as_bytes()).expect("write");
        w.start_file("pkg-1.0.dist-info/RECORD", opts)
            .expect("start");
        w.finish().expect("finish").into_inner()
    }

    const MD: &str =
        "Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\nRequires-Dist: numpy>=1.21\n\n";

    /// Runs the fetch loop against `bytes` as a server would answer range requests.
    fn fetch_loop(bytes: &[u8], tail: u64) -> (String, usize) {
        let len = bytes.len() as u64;
        let mut sparse = Sparse::new(len);
        let start = len.saturating_sub(tail);
        sparse.insert(start, bytes[start as usize..].to_vec());
        let mut requests = 1;
        for _ in 0..10 {
            match step(&mut sparse) {
                Step::Done(t) => return (t, requests),
                Step::Need(s, e) => {
                    let (s, e) = sparse.widen((s, e), 64 << 10);
                    sparse.insert(s, bytes[s as usize..e as usize].to_vec());
                    requests += 1;
                }
                Step::Bad(why) => panic!("bad: {why}"),
            }
        }
        panic!("too many rounds")
    }

    #[test]
    fn reads_metadata_from_ranges() {
        for method in [
            zip::CompressionMethod::Deflated,
            zip::CompressionMethod::Stored,
        ] {
            // METADATA in the tail already.
            let small = wheel(MD, 1000, method);
            assert_eq!(fetch_loop(&small, 64 << 10), (MD.to_string(), 1));
            // A big file in front: the entry needs its own request.
            let big = wheel(MD, 3 << 20, method);
            let (text, n) = fetch_loop(&big, 64 << 10);
            assert_eq!(text, MD);
            assert!(n <= 3, "{n} requests");
            // A tail too short for the central directory.
            let (text, n) = fetch_loop(&big, 100);
            assert_eq!(text, MD);
            assert!(n <= 4, "{n} requests");
        }
    }

    #[test]
    fn zip64_extra_fields_are_read_too() {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default().large_file(true);
        w.start_file("pkg/big.bin", opts).expect("start");
        w.write_all(&[7u8; 300_000]).expect("write");
        w.start_file("pkg-1.0.dist-info/METADATA", opts)
            .expect("start");
        w.write_all(MD.as_bytes()).expect("write");
        let bytes = w.finish().expect("finish").into_inner();
        // Zip64 extended-information extra fields (header id 0x0001) are there.
        assert!(bytes.windows(2).any(|s| s == [0x01, 0x00]));
        let (text, n) = fetch_loop(&bytes, 1024);
        assert_eq!(text, MD);
        assert!(n <= 3, "{n} requests");
    }

    #[test]
    fn a_whole_file_reads_too_and_bad_files_say_why() {
        let w = wheel(MD, 10, zip::CompressionMethod::Deflated);
        assert_eq!(read_metadata(Cursor::new(&w)).expect("reads"), MD);
        let err = read_metadata(Cursor::new(b"not a zip at all".to_vec())).unwrap_err();
        assert!(matches!(err, WheelError::NotZip(_)), "{err}");
        assert!(err.to_string().starts_with("not a zip file"), "{err}");
        let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
        z.start_file("pkg/x.py", zip::write::SimpleFileOptions::default())
            .expect("start");
        let none = z.finish().expect("finish").into_inner();
        assert_eq!(
            read_metadata(Cursor::new(none)).unwrap_err().to_string(),
            "it has no *.dist-info/METADATA"
        );
        // A corrupted entry fails its CRC check instead of giving wrong text.
        let mut broken = wheel(MD, 10, zip::CompressionMethod::Stored);
        let at = broken
            .windows(8)
            .position(|w| w == b"numpy>=1")
            .expect("entry bytes");
        broken[at] = b'N';
        assert!(matches!(
            read_metadata(Cursor::new(broken)),
            Err(WheelError::Read(_))
        ));
    }

    #[test]
    fn sparse_inserts_do_not_overlap() {
        let mut s = Sparse::new(100);
        s.insert(10, vec![1; 20]);
        s.insert(0, vec![2; 50]);
        s.insert(90, vec![3; 40]);
        assert_eq!(s.held(), 60);
        let mut buf = [0u8; 100];
        s.seek(SeekFrom::Start(0)).expect("seek");
        s.read_exact(&mut buf[..50]).expect("read");
        assert_eq!(&buf[..12], &[2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1]);
        assert!(s.read_exact(&mut buf[..1]).is_err());
        assert_eq!(s.take_miss(), Some((50, 51)));
        assert_eq!(s.widen((50, 51), 16), (50, 90));
    }
}

//! The inner loops of the CPU kernels (NF4 / NF4-DQ and LLM.int8 dequantize-matmul), written once
//! per instruction set and chosen at run time: AVX-512F (+BW for int8), AVX2 + FMA, NEON on
//! aarch64, and a scalar fallback. The scalar path is the reference every other path is tested
//! against (the tests at the bottom run every path this machine supports on random shapes).
//!
//! Why per-row kernels: a batch-1 matmul of a quantized weight is memory-bound, so each weight
//! byte is read once, decoded in registers and multiplied with every activation row of the batch
//! at once; the dequantized matrix is never written anywhere. Rows are split across threads by
//! the callers ([`super::nf4::matmul`], [`super::int8::matmul`]).
//!
//! NF4: byte `k` of a row holds element `2k` in its high nibble and `2k + 1` in its low one, so
//! the activations are split once into even and odd elements ([`Split`]); a 64-element block is
//! then 32 high and 32 low nibbles against 32 even and 32 odd activations. The 16 NF4 values,
//! times the block's absmax (one rounding, as `code * absmax` dequantizes), are a 16-entry f32
//! table: one `vpermps` with AVX-512, two `vpermps` and a blend by bit 3 with AVX2.
//!
//! int8: the exact i32 dot product, by sign-extending to i16 and `pmaddwd` (AVX2 / AVX-512BW),
//! `vpdpbusd` on activations offset by 128 (AVX-512 VNNI, where the CPU has it), or
//! `smull` + `sadalp` (NEON): exact for every i8 value, -128 included.
//!
//! AVX-512 multiplies 2 or 4 weight rows per activation load ([`row_tile`]); a batch above 2
//! takes [`CHUNK_COLS`] columns at a time so its activations stay in the L1 cache.

use std::sync::OnceLock;

use super::nf4::CODE;

/// An instruction set a kernel is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    Scalar,
    /// AVX2 and FMA (x86-64).
    Avx2,
    /// AVX-512F and AVX-512BW (x86-64).
    Avx512,
    /// NEON (aarch64).
    Neon,
}

impl Isa {
    pub const ALL: [Isa; 4] = [Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon];

    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Neon => "neon",
        }
    }

    /// Whether this CPU runs it (detected at run time).
    pub fn supported(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw")
            }
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// Every instruction set this CPU runs, scalar first.
    pub fn supported_all() -> Vec<Isa> {
        Isa::ALL.into_iter().filter(|i| i.supported()).collect()
    }

    /// The best this CPU runs; `COMPAT_SMOKE_ISA=scalar|avx2|avx512|neon` picks another one it
    /// runs (to compare, or to rule a SIMD path out); an unknown or unsupported name is ignored.
    pub fn best() -> Isa {
        static BEST: OnceLock<Isa> = OnceLock::new();
        *BEST.get_or_init(|| {
            let wanted = std::env::var("COMPAT_SMOKE_ISA").ok();
            Isa::choose(wanted.as_deref(), &Isa::supported_all())
        })
    }

    /// The named instruction set when it is among `supported`, else the last (best) of them.
    fn choose(wanted: Option<&str>, supported: &[Isa]) -> Isa {
        let named = wanted.map(str::trim).and_then(|w| {
            supported
                .iter()
                .copied()
                .find(|i| i.name().eq_ignore_ascii_case(w))
        });
        named.unwrap_or_else(|| supported.last().copied().unwrap_or(Isa::Scalar))
    }
}

/// Activations split for NF4's nibble order: per batch row, the even elements and the odd ones.
pub struct Split {
    pub even: Vec<f32>,
    pub odd: Vec<f32>,
    /// Elements per batch row in each half (`cols / 2`).
    pub half: usize,
    pub batch: usize,
}

impl Split {
    /// `x` is `[batch, cols]` with an even `cols`.
    pub fn new(x: &[f32], batch: usize, cols: usize) -> Split {
        assert!(cols % 2 == 0 && x.len() == batch * cols, "NF4 activations");
        let even = x.iter().step_by(2).copied().collect();
        let odd = x.iter().skip(1).step_by(2).copied().collect();
        Split {
            even,
            odd,
            half: cols / 2,
            batch,
        }
    }
}

/// The largest group of batch rows one pass over a weight row serves.
const MAX_GROUP: usize = 8;

/// Batch rows in groups of 8, 4, 2, 1: `(first row, size)`.
fn groups(batch: usize) -> impl Iterator<Item = (usize, usize)> {
    let mut start = 0;
    std::iter::from_fn(move || {
        let left = batch - start;
        let g = [MAX_GROUP, 4, 2, 1].into_iter().find(|g| *g <= left)?;
        let item = (start, g);
        start += g;
        Some(item)
    })
}

/// How many rows one tile multiplies at once: AVX-512 shares each activation load among 2 or 4
/// rows (4 for batch 1 and 2, 2 for the larger groups, which keep more accumulators); the other
/// paths take one row at a time.
fn row_tile(isa: Isa, group: usize) -> usize {
    match (isa, group) {
        (Isa::Avx512, 1 | 2) => 4,
        (Isa::Avx512, _) => 2,
        _ => 1,
    }
}

/// Columns per pass for a batch above 2: the activations of a group of 8 rows over 1024
/// columns (32 KiB of f32, 16 KiB of i16) stay in the L1 cache while the weights stream by.
pub const CHUNK_COLS: usize = 1024;

/// NF4 rows against every batch row: `out[r][b] = Σ_blk Σ_j CODE[nibble_j] · scale[blk] ·
/// x[b][j]`. `packed` holds whole rows of `cols / 2` bytes (`cols = 2 · x.half`, a multiple of
/// 64), `scales` one absmax per block of 64 of those rows, `out` is `[rows, batch]`. The
/// columns are taken `chunk` at a time (a multiple of 64), so a large batch's activations stay
/// in cache.
pub fn nf4_rows(isa: Isa, packed: &[u8], scales: &[f32], x: &Split, chunk: usize, out: &mut [f32]) {
    let (half, batch) = (x.half, x.batch);
    assert!(half % 32 == 0 && chunk % 64 == 0 && chunk > 0, "NF4 blocks");
    let nr = packed.len().checked_div(half).unwrap_or(0);
    assert_eq!(packed.len(), nr * half, "NF4 rows");
    assert_eq!(scales.len() * 32, packed.len(), "NF4 blocks per row");
    assert_eq!(out.len(), nr * batch, "NF4 outputs");
    out.fill(0.0);
    let hc = chunk / 2;
    for k0 in (0..half).step_by(hc) {
        let k = k0..(k0 + hc).min(half);
        for (b0, g) in groups(batch) {
            let rt = row_tile(isa, g);
            let mut r = 0;
            while r < nr {
                let n = if nr - r >= rt { rt } else { 1 };
                let t = Tile {
                    r,
                    b0,
                    batch,
                    k: k.clone(),
                };
                match (n, g) {
                    (4, 1) => nf4_tile::<4, 1>(isa, packed, scales, x, &t, out),
                    (4, 2) => nf4_tile::<4, 2>(isa, packed, scales, x, &t, out),
                    (2, 4) => nf4_tile::<2, 4>(isa, packed, scales, x, &t, out),
                    (2, 8) => nf4_tile::<2, 8>(isa, packed, scales, x, &t, out),
                    (_, 8) => nf4_tile::<1, 8>(isa, packed, scales, x, &t, out),
                    (_, 4) => nf4_tile::<1, 4>(isa, packed, scales, x, &t, out),
                    (_, 2) => nf4_tile::<1, 2>(isa, packed, scales, x, &t, out),
                    _ => nf4_tile::<1, 1>(isa, packed, scales, x, &t, out),
                }
                r += n;
            }
        }
    }
}

/// Which part of the product a tile computes: rows `r..r + R`, batch rows `b0..b0 + B`, and
/// the columns `k` (in bytes of a row for NF4, in elements for int8).
struct Tile {
    r: usize,
    b0: usize,
    /// Batch rows in all (the row stride of `out`).
    batch: usize,
    k: std::ops::Range<usize>,
}

fn nf4_tile<const R: usize, const B: usize>(
    isa: Isa,
    packed: &[u8],
    scales: &[f32],
    x: &Split,
    t: &Tile,
    out: &mut [f32],
) {
    let half = x.half;
    let (k0, k1) = (t.k.start, t.k.end);
    let rows: [&[u8]; R] = std::array::from_fn(|i| &packed[(t.r + i) * half..][k0..k1]);
    let sc: [&[f32]; R] = std::array::from_fn(|i| {
        &scales[((t.r + i) * half + k0) / 32..((t.r + i) * half + k1) / 32]
    });
    let xe: [&[f32]; B] = std::array::from_fn(|j| &x.even[(t.b0 + j) * half..][k0..k1]);
    let xo: [&[f32]; B] = std::array::from_fn(|j| &x.odd[(t.b0 + j) * half..][k0..k1]);
    let res: [[f32; B]; R] = match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::supported` checked AVX-512F at run time; every slice of the tile has
        // the same number of bytes or activations (`k1 - k0`, a multiple of 32) and one scale
        // per 32 bytes, which is all the kernel reads.
        Isa::Avx512 if isa.supported() => unsafe { x86::nf4_avx512::<R, B>(&rows, &sc, &xe, &xo) },
        _ => std::array::from_fn(|i| nf4_one::<B>(isa, rows[i], sc[i], &xe, &xo)),
    };
    for (i, ri) in res.iter().enumerate() {
        for (j, v) in ri.iter().enumerate() {
            out[(t.r + i) * t.batch + t.b0 + j] += v;
        }
    }
}

/// One row on the paths that take one row at a time.
fn nf4_one<const B: usize>(
    isa: Isa,
    row: &[u8],
    scales: &[f32],
    xe: &[&[f32]; B],
    xo: &[&[f32]; B],
) -> [f32; B] {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: AVX2 and FMA checked at run time; the slices are as in `nf4_tile`.
        Isa::Avx2 if isa.supported() => unsafe { x86::nf4_avx2::<B>(row, scales, xe, xo) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: NEON checked at run time; the slices are as in `nf4_tile`.
        Isa::Neon if isa.supported() => unsafe { arm::nf4_neon::<B>(row, scales, xe, xo) },
        _ => nf4_scalar::<B>(row, scales, xe, xo),
    }
}

/// The scalar NF4 row: each block's dot product in code units, scaled once by its absmax.
fn nf4_scalar<const B: usize>(
    row: &[u8],
    scales: &[f32],
    xe: &[&[f32]; B],
    xo: &[&[f32]; B],
) -> [f32; B] {
    let mut acc = [0f32; B];
    for (blk, (bytes, s)) in row.chunks_exact(32).zip(scales).enumerate() {
        let o = blk * 32;
        for b in 0..B {
            let (e, od) = (&xe[b][o..o + 32], &xo[b][o..o + 32]);
            let mut a = [0f32; 4];
            for (j, &byte) in bytes.iter().enumerate() {
                a[j % 4] += CODE[(byte >> 4) as usize] * e[j] + CODE[(byte & 15) as usize] * od[j];
            }
            acc[b] += s * ((a[0] + a[1]) + (a[2] + a[3]));
        }
    }
    acc
}

/// Double-quantized absmax values decoded as [`super::nf4_dq::DoubleQuant::absmax_at`] does,
/// bit for bit: `out[j] = code2[q[j]] * scale + offset`, a rounded product then a rounded sum
/// (never fused), for one run of blocks that shares the second-level `scale`.
pub fn dq_decode(isa: Isa, q: &[u8], code2: &[f32; 256], scale: f32, offset: f32, out: &mut [f32]) {
    assert_eq!(q.len(), out.len(), "absmax codes");
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: AVX-512F checked at run time; `q` and `out` have the same length (asserted)
        // and every index is a u8, inside the 256-entry `code2`.
        Isa::Avx512 if isa.supported() => unsafe { x86::dq_avx512(q, code2, scale, offset, out) },
        _ => {
            for (o, &c) in out.iter_mut().zip(q) {
                *o = code2[c as usize] * scale + offset;
            }
        }
    }
}

/// The exact i32 dot products of int8 weight rows (`w`: whole rows of `cols` values) with every
/// batch row of `x` (`[batch, cols]`; `x16` the same values widened to i16, which the x86 paths
/// read); `out` is `[rows, batch]`. The columns are taken `chunk` at a time (a multiple of 32).
pub fn dot_i8_rows(
    isa: Isa,
    w: &[i8],
    x: &[i8],
    x16: &[i16],
    batch: usize,
    chunk: usize,
    out: &mut [i32],
) {
    assert!(batch > 0 && x.len() % batch == 0, "int8 inputs");
    let cols = x.len() / batch;
    assert!(
        x16.len() == x.len() && chunk % 32 == 0 && chunk > 0,
        "int8 inputs"
    );
    let nr = w.len().checked_div(cols).unwrap_or(out.len() / batch);
    assert!(w.len() == nr * cols && out.len() == nr * batch, "int8 rows");
    out.fill(0);
    for k0 in (0..cols.max(1)).step_by(chunk) {
        let k = k0..(k0 + chunk).min(cols);
        for (b0, g) in groups(batch) {
            let rt = row_tile(isa, g);
            let mut r = 0;
            while r < nr {
                let n = if nr - r >= rt { rt } else { 1 };
                let t = Tile {
                    r,
                    b0,
                    batch,
                    k: k.clone(),
                };
                match (n, g) {
                    (4, 1) => i8_tile::<4, 1>(isa, w, x, x16, cols, &t, out),
                    (4, 2) => i8_tile::<4, 2>(isa, w, x, x16, cols, &t, out),
                    (2, 4) => i8_tile::<2, 4>(isa, w, x, x16, cols, &t, out),
                    (2, 8) => i8_tile::<2, 8>(isa, w, x, x16, cols, &t, out),
                    (_, 8) => i8_tile::<1, 8>(isa, w, x, x16, cols, &t, out),
                    (_, 4) => i8_tile::<1, 4>(isa, w, x, x16, cols, &t, out),
                    (_, 2) => i8_tile::<1, 2>(isa, w, x, x16, cols, &t, out),
                    _ => i8_tile::<1, 1>(isa, w, x, x16, cols, &t, out),
                }
                r += n;
            }
        }
    }
}

#[allow(unused_variables)]
fn i8_tile<const R: usize, const B: usize>(
    isa: Isa,
    w: &[i8],
    x: &[i8],
    x16: &[i16],
    cols: usize,
    t: &Tile,
    out: &mut [i32],
) {
    let (k0, k1) = (t.k.start, t.k.end);
    let wr: [&[i8]; R] = std::array::from_fn(|i| &w[(t.r + i) * cols..][k0..k1]);
    let xs: [&[i8]; B] = std::array::from_fn(|j| &x[(t.b0 + j) * cols..][k0..k1]);
    let xw: [&[i16]; B] = std::array::from_fn(|j| &x16[(t.b0 + j) * cols..][k0..k1]);
    let res: [[i32; B]; R] = match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: AVX-512F/BW/VNNI checked at run time; every slice of the tile is `k1 - k0`
        // long.
        Isa::Avx512 if isa.supported() && x86::has_vnni() => unsafe {
            x86::i8_vnni::<R, B>(&wr, &xs)
        },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: AVX-512F/BW checked at run time; every slice of the tile is `k1 - k0` long.
        Isa::Avx512 if isa.supported() => unsafe { x86::i8_avx512::<R, B>(&wr, &xw) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: AVX2 checked at run time; every slice of the tile is `k1 - k0` long.
        Isa::Avx2 if isa.supported() => {
            std::array::from_fn(|i| unsafe { x86::i8_avx2::<B>(wr[i], &xw) })
        }
        #[cfg(target_arch = "aarch64")]
        // SAFETY: NEON checked at run time; every slice of the tile is `k1 - k0` long.
        Isa::Neon if isa.supported() => {
            std::array::from_fn(|i| unsafe { arm::i8_neon::<B>(wr[i], &xs) })
        }
        _ => std::array::from_fn(|i| std::array::from_fn(|j| super::int8::dot_i8(wr[i], xs[j]))),
    };
    for (i, ri) in res.iter().enumerate() {
        for (j, v) in ri.iter().enumerate() {
            out[(t.r + i) * t.batch + t.b0 + j] += v;
        }
    }
}

// The AVX-512 intrinsics are stable since Rust 1.89, above the `rust-version` (1.85) in
// Cargo.toml; candle-core 0.11.1, a dependency, uses them as well, so building compat already
// needs 1.89. Raising `rust-version` turns on newer lints across the whole crate: a separate
// change.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::incompatible_msrv)]
mod x86 {
    use std::arch::x86_64::*;

    use super::CODE;

    /// How many independent accumulators a group of `b` batch rows keeps per row (enough chains
    /// in flight to hide the FMA latency, few enough to stay in registers).
    const fn chains(b: usize) -> usize {
        if b >= 4 {
            1
        } else {
            4 / b
        }
    }

    /// `R` NF4 rows against `B` batch rows: each activation load serves every row of the tile.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn nf4_avx512<const R: usize, const B: usize>(
        rows: &[&[u8]; R],
        scales: &[&[f32]; R],
        xe: &[&[f32]; B],
        xo: &[&[f32]; B],
    ) -> [[f32; B]; R] {
        let code = _mm512_loadu_ps(CODE.as_ptr());
        let mut acc = [[_mm512_setzero_ps(); B]; R];
        let nblk = scales[0].len();
        for blk in 0..nblk {
            let mut t = [code; R];
            for i in 0..R {
                t[i] = _mm512_mul_ps(code, _mm512_set1_ps(*scales[i].get_unchecked(blk)));
            }
            let o = blk * 32;
            for h in 0..2 {
                let mut whi = [_mm512_setzero_ps(); R];
                let mut wlo = [_mm512_setzero_ps(); R];
                for i in 0..R {
                    let p = rows[i].as_ptr().add(o + 16 * h);
                    let v = _mm512_cvtepu8_epi32(_mm_loadu_si128(p as *const __m128i));
                    // vpermps uses the low 4 bits of each index: the low nibble needs no mask
                    whi[i] = _mm512_permutexvar_ps(_mm512_srli_epi32(v, 4), t[i]);
                    wlo[i] = _mm512_permutexvar_ps(v, t[i]);
                }
                for b in 0..B {
                    let e = _mm512_loadu_ps(xe[b].as_ptr().add(o + 16 * h));
                    let od = _mm512_loadu_ps(xo[b].as_ptr().add(o + 16 * h));
                    for i in 0..R {
                        acc[i][b] = _mm512_fmadd_ps(whi[i], e, acc[i][b]);
                        acc[i][b] = _mm512_fmadd_ps(wlo[i], od, acc[i][b]);
                    }
                }
            }
        }
        let mut out = [[0f32; B]; R];
        for i in 0..R {
            for b in 0..B {
                out[i][b] = _mm512_reduce_add_ps(acc[i][b]);
            }
        }
        out
    }

    /// `code[i]` for i in 0..16 from its two 8-entry halves: vpermps on each (low 3 bits), then
    /// bit 3, moved to the sign bit that blendv reads, picks the half.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn look(tl: __m256, th: __m256, idx: __m256i, bit3_to_sign: __m256i) -> __m256 {
        _mm256_blendv_ps(
            _mm256_permutevar8x32_ps(tl, idx),
            _mm256_permutevar8x32_ps(th, idx),
            _mm256_castsi256_ps(bit3_to_sign),
        )
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn nf4_avx2<const B: usize>(
        row: &[u8],
        scales: &[f32],
        xe: &[&[f32]; B],
        xo: &[&[f32]; B],
    ) -> [f32; B] {
        let nc = chains(B);
        let lo8 = _mm256_loadu_ps(CODE.as_ptr());
        let hi8 = _mm256_loadu_ps(CODE.as_ptr().add(8));
        let mut acc = [[_mm256_setzero_ps(); 4]; B];
        let p = row.as_ptr();
        for (blk, &s) in scales.iter().enumerate() {
            let sv = _mm256_set1_ps(s);
            let (tl, th) = (_mm256_mul_ps(lo8, sv), _mm256_mul_ps(hi8, sv));
            let o = blk * 32;
            for q in 0..4 {
                let v = _mm256_cvtepu8_epi32(_mm_loadl_epi64(p.add(o + 8 * q) as *const __m128i));
                let whi = look(tl, th, _mm256_srli_epi32(v, 4), _mm256_slli_epi32(v, 24));
                let wlo = look(tl, th, v, _mm256_slli_epi32(v, 28));
                let c = q % nc;
                for b in 0..B {
                    let e = _mm256_loadu_ps(xe[b].as_ptr().add(o + 8 * q));
                    let od = _mm256_loadu_ps(xo[b].as_ptr().add(o + 8 * q));
                    acc[b][c] = _mm256_fmadd_ps(whi, e, acc[b][c]);
                    acc[b][c] = _mm256_fmadd_ps(wlo, od, acc[b][c]);
                }
            }
        }
        let mut out = [0f32; B];
        for b in 0..B {
            let mut s = acc[b][0];
            for a in &acc[b][1..nc] {
                s = _mm256_add_ps(s, *a);
            }
            let h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
            let h = _mm_add_ps(h, _mm_movehl_ps(h, h));
            let h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
            out[b] = _mm_cvtss_f32(h);
        }
        out
    }

    #[target_feature(enable = "avx512f")]
    pub unsafe fn dq_avx512(
        q: &[u8],
        code2: &[f32; 256],
        scale: f32,
        offset: f32,
        out: &mut [f32],
    ) {
        let n = q.len();
        let full = n - n % 16;
        let (sv, ov) = (_mm512_set1_ps(scale), _mm512_set1_ps(offset));
        let mut k = 0;
        while k < full {
            let idx = _mm512_cvtepu8_epi32(_mm_loadu_si128(q.as_ptr().add(k) as *const __m128i));
            let c = _mm512_i32gather_ps::<4>(idx, code2.as_ptr());
            _mm512_storeu_ps(
                out.as_mut_ptr().add(k),
                _mm512_add_ps(_mm512_mul_ps(c, sv), ov),
            );
            k += 16;
        }
        for j in full..n {
            out[j] = code2[q[j] as usize] * scale + offset;
        }
    }

    /// `R` int8 rows against `B` batch rows, exact: i8 → i16, `pmaddwd` pairs into i32.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub unsafe fn i8_avx512<const R: usize, const B: usize>(
        w: &[&[i8]; R],
        x16: &[&[i16]; B],
    ) -> [[i32; B]; R] {
        let n = w[0].len();
        let full = n - n % 32;
        let mut acc = [[_mm512_setzero_si512(); B]; R];
        let mut k = 0;
        while k < full {
            let mut wv = [_mm512_setzero_si512(); R];
            for i in 0..R {
                let p = w[i].as_ptr().add(k) as *const __m256i;
                wv[i] = _mm512_cvtepi8_epi16(_mm256_loadu_si256(p));
            }
            for b in 0..B {
                let xv = _mm512_loadu_si512(x16[b].as_ptr().add(k) as *const _);
                for i in 0..R {
                    acc[i][b] = _mm512_add_epi32(acc[i][b], _mm512_madd_epi16(wv[i], xv));
                }
            }
            k += 32;
        }
        let mut out = [[0i32; B]; R];
        for i in 0..R {
            for b in 0..B {
                let mut t = _mm512_reduce_add_epi32(acc[i][b]);
                for j in full..n {
                    t += i32::from(w[i][j]) * i32::from(x16[b][j]);
                }
                out[i][b] = t;
            }
        }
        out
    }

    /// Whether the CPU has AVX-512 VNNI (`vpdpbusd`).
    pub fn has_vnni() -> bool {
        is_x86_feature_detected!("avx512vnni")
    }

    /// `R` int8 rows against `B` batch rows with `vpdpbusd` (u8 × i8, four products into each
    /// i32, exact): the activations are made unsigned by adding 128 (`x ^ 0x80`), and `128 ·
    /// Σ w` (summed with the same instruction against ones) is taken off again, so the result
    /// is the exact `Σ x · w` for every i8 value.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub unsafe fn i8_vnni<const R: usize, const B: usize>(
        w: &[&[i8]; R],
        x: &[&[i8]; B],
    ) -> [[i32; B]; R] {
        let n = w[0].len();
        let full = n - n % 64;
        let flip = _mm512_set1_epi8(-128);
        let ones = _mm512_set1_epi8(1);
        let mut acc = [[_mm512_setzero_si512(); B]; R];
        let mut wsum = [_mm512_setzero_si512(); R];
        let mut k = 0;
        while k < full {
            let mut wv = [_mm512_setzero_si512(); R];
            for i in 0..R {
                wv[i] = _mm512_loadu_si512(w[i].as_ptr().add(k) as *const _);
                wsum[i] = _mm512_dpbusd_epi32(wsum[i], ones, wv[i]);
            }
            for b in 0..B {
                let xu =
                    _mm512_xor_si512(_mm512_loadu_si512(x[b].as_ptr().add(k) as *const _), flip);
                for i in 0..R {
                    acc[i][b] = _mm512_dpbusd_epi32(acc[i][b], xu, wv[i]);
                }
            }
            k += 64;
        }
        let mut out = [[0i32; B]; R];
        for i in 0..R {
            let ws = _mm512_reduce_add_epi32(wsum[i]);
            for b in 0..B {
                let mut t = _mm512_reduce_add_epi32(acc[i][b]).wrapping_sub(ws.wrapping_mul(128));
                for j in full..n {
                    t += i32::from(w[i][j]) * i32::from(x[b][j]);
                }
                out[i][b] = t;
            }
        }
        out
    }

    #[target_feature(enable = "avx2")]
    pub unsafe fn i8_avx2<const B: usize>(w: &[i8], x16: &[&[i16]; B]) -> [i32; B] {
        let nc = chains(B);
        let n = w.len();
        let full = n - n % 16;
        let mut acc = [[_mm256_setzero_si256(); 4]; B];
        let mut k = 0;
        while k < full {
            let wv = _mm256_cvtepi8_epi16(_mm_loadu_si128(w.as_ptr().add(k) as *const __m128i));
            let c = (k / 16) % nc;
            for b in 0..B {
                let xv = _mm256_loadu_si256(x16[b].as_ptr().add(k) as *const __m256i);
                acc[b][c] = _mm256_add_epi32(acc[b][c], _mm256_madd_epi16(wv, xv));
            }
            k += 16;
        }
        let mut out = [0i32; B];
        for b in 0..B {
            let mut s = acc[b][0];
            for a in &acc[b][1..nc] {
                s = _mm256_add_epi32(s, *a);
            }
            let h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
            let h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0b01_00_11_10));
            let h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0b10_11_00_01));
            let mut t = _mm_cvtsi128_si32(h);
            for j in full..n {
                t += i32::from(w[j]) * i32::from(x16[b][j]);
            }
            out[b] = t;
        }
        out
    }
}

#[cfg(target_arch = "aarch64")]
mod arm {
    use std::arch::aarch64::*;

    use super::CODE;

    #[target_feature(enable = "neon")]
    pub unsafe fn nf4_neon<const B: usize>(
        row: &[u8],
        scales: &[f32],
        xe: &[&[f32]; B],
        xo: &[&[f32]; B],
    ) -> [f32; B] {
        let mut acc = [[vdupq_n_f32(0.0); 2]; B];
        let mut t = [0f32; 16];
        for (blk, &s) in scales.iter().enumerate() {
            for (tv, c) in t.iter_mut().zip(CODE) {
                *tv = c * s;
            }
            let o = blk * 32;
            for q in 0..8 {
                let by = &row[o + 4 * q..o + 4 * q + 4];
                let hi = [
                    t[(by[0] >> 4) as usize],
                    t[(by[1] >> 4) as usize],
                    t[(by[2] >> 4) as usize],
                    t[(by[3] >> 4) as usize],
                ];
                let lo = [
                    t[(by[0] & 15) as usize],
                    t[(by[1] & 15) as usize],
                    t[(by[2] & 15) as usize],
                    t[(by[3] & 15) as usize],
                ];
                let (whi, wlo) = (vld1q_f32(hi.as_ptr()), vld1q_f32(lo.as_ptr()));
                for b in 0..B {
                    let e = vld1q_f32(xe[b].as_ptr().add(o + 4 * q));
                    let od = vld1q_f32(xo[b].as_ptr().add(o + 4 * q));
                    acc[b][q % 2] = vfmaq_f32(acc[b][q % 2], whi, e);
                    acc[b][q % 2] = vfmaq_f32(acc[b][q % 2], wlo, od);
                }
            }
        }
        let mut out = [0f32; B];
        for b in 0..B {
            out[b] = vaddvq_f32(vaddq_f32(acc[b][0], acc[b][1]));
        }
        out
    }

    #[target_feature(enable = "neon")]
    pub unsafe fn i8_neon<const B: usize>(w: &[i8], x: &[&[i8]; B]) -> [i32; B] {
        let n = w.len();
        let full = n - n % 16;
        let mut acc = [vdupq_n_s32(0); B];
        let mut k = 0;
        while k < full {
            let wv = vld1q_s8(w.as_ptr().add(k));
            for b in 0..B {
                let xv = vld1q_s8(x[b].as_ptr().add(k));
                // i8 · i8 fits i16 (|-128 · -128| = 16384); pairs are added into i32
                acc[b] = vpadalq_s16(acc[b], vmull_s8(vget_low_s8(wv), vget_low_s8(xv)));
                acc[b] = vpadalq_s16(acc[b], vmull_high_s8(wv, xv));
            }
            k += 16;
        }
        let mut out = [0i32; B];
        for b in 0..B {
            let mut t = vaddvq_s32(acc[b]);
            for j in full..n {
                t += i32::from(w[j]) * i32::from(x[b][j]);
            }
            out[b] = t;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smoke::testutil::Rng;

    #[test]
    fn the_override_picks_a_supported_isa_only() {
        let sup = [Isa::Scalar, Isa::Avx2];
        assert_eq!(Isa::choose(None, &sup), Isa::Avx2);
        assert_eq!(Isa::choose(Some("scalar"), &sup), Isa::Scalar);
        assert_eq!(Isa::choose(Some(" AVX2 "), &sup), Isa::Avx2);
        assert_eq!(
            Isa::choose(Some("avx512"), &sup),
            Isa::Avx2,
            "not supported"
        );
        assert_eq!(Isa::choose(Some("nonsense"), &sup), Isa::Avx2);
        assert!(Isa::supported_all().contains(&Isa::Scalar));
        assert!(Isa::best().supported());
        // the paths the other tests compare are really there where the CPU has them
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            assert!(Isa::supported_all().contains(&Isa::Avx2));
        }
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx512bw") {
            assert!(Isa::supported_all().contains(&Isa::Avx512));
        }
    }

    #[test]
    fn batch_groups_cover_every_row_once() {
        for batch in 0..40 {
            let g: Vec<(usize, usize)> = groups(batch).collect();
            assert_eq!(g.iter().map(|x| x.1).sum::<usize>(), batch);
            let mut next = 0;
            for (s, n) in g {
                assert_eq!(s, next);
                assert!(n <= MAX_GROUP);
                next += n;
            }
        }
    }

    /// Every supported path against the exact product, on 1..9 random rows (every row tile and
    /// remainder) of 1..40 blocks, batch 1..19 (every group size and remainder), column chunks
    /// of 64 to the whole row (every chunk boundary), random bytes (every nibble) and scales of
    /// mixed sign and size; the bound is f32 rounding of `cols + 8` operations of the terms'
    /// magnitudes.
    #[test]
    fn nf4_paths_agree_with_the_exact_product() {
        let mut rng = Rng::new(11);
        let isas = Isa::supported_all();
        for case in 0..60 {
            let blocks = 1 + (rng.next_u64() % 40) as usize;
            let nr = 1 + (rng.next_u64() % 9) as usize;
            let batch = 1 + (case % 19);
            let cols = 64 * blocks;
            let chunk = 64 * (1 + (rng.next_u64() as usize % blocks));
            let packed: Vec<u8> = (0..nr * cols / 2).map(|_| rng.next_u64() as u8).collect();
            let scales: Vec<f32> = (0..nr * blocks)
                .map(|i| if i % 7 == 3 { 0.0 } else { rng.normal() * 0.05 })
                .collect();
            let x: Vec<f32> = (0..batch * cols).map(|_| rng.normal()).collect();
            let split = Split::new(&x, batch, cols);
            let outs: Vec<(Isa, Vec<f32>)> = isas
                .iter()
                .map(|&isa| {
                    let mut y = vec![0f32; nr * batch];
                    nf4_rows(isa, &packed, &scales, &split, chunk, &mut y);
                    (isa, y)
                })
                .collect();
            for r in 0..nr {
                for b in 0..batch {
                    let (mut exact, mut terms) = (0f64, 0f64);
                    for k in 0..cols {
                        let byte = packed[r * cols / 2 + k / 2];
                        let nib = if k % 2 == 0 { byte >> 4 } else { byte & 15 };
                        let t = f64::from(CODE[nib as usize] * scales[r * blocks + k / 64])
                            * f64::from(x[b * cols + k]);
                        exact += t;
                        terms += t.abs();
                    }
                    let tol = (cols + 8) as f64 * f64::from(f32::EPSILON) * (terms + 1e-30);
                    for (isa, y) in &outs {
                        let got = f64::from(y[r * batch + b]);
                        assert!(
                            (got - exact).abs() <= tol,
                            "{} {nr}x{cols} chunk {chunk} batch {batch} r{r} b{b}: {got} vs {exact}",
                            isa.name()
                        );
                    }
                }
            }
        }
    }

    /// Both AVX-512 int8 kernels (pmaddwd, and VNNI where the CPU has it: the dispatch takes
    /// VNNI then, so the other is called directly here), exact on every length and tile.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn both_avx512_int8_kernels_are_exact() {
        if !Isa::Avx512.supported() {
            return;
        }
        let mut rng = Rng::new(19);
        for n in [0usize, 1, 31, 32, 63, 64, 65, 200, 1024] {
            let w: Vec<Vec<i8>> = (0..4)
                .map(|_| (0..n).map(|_| rng.next_u64() as i8).collect())
                .collect();
            let x: Vec<Vec<i8>> = (0..2)
                .map(|_| (0..n).map(|_| rng.next_u64() as i8).collect())
                .collect();
            let x16: Vec<Vec<i16>> = x
                .iter()
                .map(|r| r.iter().map(|&v| i16::from(v)).collect())
                .collect();
            let wr: [&[i8]; 4] = [&w[0], &w[1], &w[2], &w[3]];
            let xr: [&[i8]; 2] = [&x[0], &x[1]];
            let xw: [&[i16]; 2] = [&x16[0], &x16[1]];
            let want: [[i32; 2]; 4] = std::array::from_fn(|i| {
                std::array::from_fn(|b| super::super::int8::dot_i8(wr[i], xr[b]))
            });
            // SAFETY: AVX-512F/BW checked above; all rows are `n` long.
            let got = unsafe { x86::i8_avx512::<4, 2>(&wr, &xw) };
            assert_eq!(got, want, "pmaddwd n {n}");
            if x86::has_vnni() {
                // SAFETY: AVX-512 VNNI checked; all rows are `n` long.
                let got = unsafe { x86::i8_vnni::<4, 2>(&wr, &xr) };
                assert_eq!(got, want, "vnni n {n}");
            }
        }
    }

    #[test]
    fn absmax_decoding_is_bit_exact_on_every_path() {
        let mut rng = Rng::new(17);
        let code2: Vec<f32> = crate::smoke::formats::nf4_dq::dynamic_code();
        let code2: [f32; 256] = code2.try_into().expect("256 values");
        for n in [0usize, 1, 15, 16, 17, 224, 255, 300] {
            let q: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            let (scale, offset) = (rng.normal() * 0.01, rng.normal() * 0.02);
            let want: Vec<u32> = q
                .iter()
                .map(|&c| (code2[c as usize] * scale + offset).to_bits())
                .collect();
            for isa in Isa::supported_all() {
                let mut out = vec![0f32; n];
                dq_decode(isa, &q, &code2, scale, offset, &mut out);
                let got: Vec<u32> = out.iter().map(|v| v.to_bits()).collect();
                assert_eq!(got, want, "{} n {n}", isa.name());
            }
        }
    }

    /// Every supported path gives the exact integer, for 1..9 rows, every length 0..300 (every
    /// tail), chunks of 32 to 320 columns, batch 1..19, and the extremes -128 and 127.
    #[test]
    fn int8_paths_are_exact() {
        let mut rng = Rng::new(13);
        let isas = Isa::supported_all();
        for case in 0..120 {
            let cols = (rng.next_u64() % 300) as usize + usize::from(case == 0) * 4096;
            let nr = 1 + (rng.next_u64() % 9) as usize;
            let batch = 1 + case % 19;
            let chunk = 32 * (1 + (rng.next_u64() % 10) as usize);
            let extreme = case % 5 == 0;
            let pick = |r: &mut Rng| {
                if extreme {
                    if r.next_u64() % 2 == 0 {
                        -128i8
                    } else {
                        127
                    }
                } else {
                    r.next_u64() as i8
                }
            };
            let w: Vec<i8> = (0..nr * cols).map(|_| pick(&mut rng)).collect();
            let x: Vec<i8> = (0..batch * cols).map(|_| pick(&mut rng)).collect();
            let x16: Vec<i16> = x.iter().map(|&v| i16::from(v)).collect();
            let mut want = vec![0i32; nr * batch];
            for r in 0..nr {
                for b in 0..batch {
                    want[r * batch + b] = w[r * cols..(r + 1) * cols]
                        .iter()
                        .zip(&x[b * cols..(b + 1) * cols])
                        .map(|(a, c)| i64::from(*a) * i64::from(*c))
                        .sum::<i64>() as i32;
                }
            }
            for &isa in &isas {
                let mut got = vec![0i32; nr * batch];
                dot_i8_rows(isa, &w, &x, &x16, batch, chunk, &mut got);
                assert_eq!(
                    got,
                    want,
                    "{} {nr}x{cols} chunk {chunk} batch {batch}",
                    isa.name()
                );
            }
        }
    }
}

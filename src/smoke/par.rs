//! Data parallelism for the CPU kernels, with nothing but `std::thread::scope`.
//!
//! Every kernel here splits its *output* into disjoint contiguous pieces, one per thread, so no
//! locking or atomics are needed and the result does not depend on the thread count (each output
//! element is computed by the same sequential code whichever thread runs it). The number of
//! threads is the machine's available parallelism, overridable with `COMPAT_SMOKE_THREADS` for
//! benchmarks.

use std::ops::Range;

/// The number of worker threads the CPU kernels use.
pub fn threads() -> usize {
    if let Some(n) = std::env::var("COMPAT_SMOKE_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
    {
        return n.min(256);
    }
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(256)
}

/// Splits `0..n` into at most `parts` contiguous ranges of nearly equal length (empty ranges
/// are left out).
pub fn split(n: usize, parts: usize) -> Vec<Range<usize>> {
    let parts = parts.max(1).min(n.max(1));
    let base = n / parts;
    let extra = n % parts;
    let mut out = Vec::with_capacity(parts);
    let mut start = 0;
    for i in 0..parts {
        let len = base + usize::from(i < extra);
        if len > 0 {
            out.push(start..start + len);
        }
        start += len;
    }
    out
}

/// Runs `f(first_chunk_index, piece)` on disjoint pieces of `out`, each piece a whole number of
/// `chunk`-sized chunks (the last chunk may be short).
pub fn for_chunks<T: Send>(out: &mut [T], chunk: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    let chunk = chunk.max(1);
    let n_chunks = out.len().div_ceil(chunk);
    let ranges = split(n_chunks, threads());
    if ranges.len() <= 1 {
        f(0, out);
        return;
    }
    std::thread::scope(|s| {
        let mut rest = out;
        for r in ranges {
            let take = (r.len() * chunk).min(rest.len());
            let (piece, tail) = rest.split_at_mut(take);
            rest = tail;
            let f = &f;
            s.spawn(move || f(r.start, piece));
        }
    });
}

/// Like [`for_chunks`] over two outputs whose chunk `i` belong together (for example the packed
/// bytes and the absmax of block `i`).
pub fn for_chunks2<A: Send, B: Send>(
    a: &mut [A],
    chunk_a: usize,
    b: &mut [B],
    chunk_b: usize,
    f: impl Fn(usize, &mut [A], &mut [B]) + Sync,
) {
    let chunk_a = chunk_a.max(1);
    let chunk_b = chunk_b.max(1);
    let n_chunks = a.len().div_ceil(chunk_a);
    let ranges = split(n_chunks, threads());
    if ranges.len() <= 1 {
        f(0, a, b);
        return;
    }
    std::thread::scope(|s| {
        let (mut ra, mut rb) = (a, b);
        for r in ranges {
            let ta = (r.len() * chunk_a).min(ra.len());
            let tb = (r.len() * chunk_b).min(rb.len());
            let (pa, resta) = ra.split_at_mut(ta);
            let (pb, restb) = rb.split_at_mut(tb);
            ra = resta;
            rb = restb;
            let f = &f;
            s.spawn(move || f(r.start, pa, pb));
        }
    });
}

/// Maps disjoint ranges of `0..n` in parallel and returns the results in range order.
pub fn map_ranges<R: Send>(n: usize, f: impl Fn(Range<usize>) -> R + Sync) -> Vec<R> {
    let ranges = split(n, threads());
    if ranges.len() <= 1 {
        return vec![f(0..n)];
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = ranges
            .into_iter()
            .map(|r| {
                let f = &f;
                s.spawn(move || f(r))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(v) => v,
                Err(e) => std::panic::resume_unwind(e),
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_covers_everything_once() {
        for n in [0, 1, 5, 64, 1000] {
            for p in [1, 2, 3, 7] {
                let r = split(n, p);
                let total: usize = r.iter().map(|r| r.len()).sum();
                assert_eq!(total, n);
                for w in r.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                }
            }
        }
    }

    #[test]
    fn chunks_see_their_index() {
        let mut v = vec![0usize; 103];
        for_chunks(&mut v, 10, |first, piece| {
            for (i, c) in piece.chunks_mut(10).enumerate() {
                c.fill(first + i);
            }
        });
        for (i, x) in v.iter().enumerate() {
            assert_eq!(*x, i / 10);
        }
    }
}

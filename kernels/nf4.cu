// NF4 (bitsandbytes 4-bit, QLoRA) on the GPU: quantize in bitsandbytes' format, dequantize the
// double-quantized absmax, and the dequantize-matmul (GEMV). Compiled at run time by NVRTC
// (src/smoke/gpu/nvrtc.rs; launched from src/smoke/gpu/kernels.rs); no headers, so it builds with NVRTC alone.
//
// Format (must match src/smoke/formats/nf4.rs and bitsandbytes 0.50's CPU path bit for bit):
// blocks of 64 consecutive row-major elements; absmax = max |x| (f32, NaN if the block holds one);
// a full block scales by x * (1 / max(absmax, 1e-38)), a last partial block by
// x / max(absmax, 1e-38) (and stores the clamped absmax); clamp to [-1, 1]; the code index counts
// the midpoints below the scaled value (a value on a midpoint takes the lower code; NaN takes
// code 15); two indices a byte, the FIRST element in the HIGH nibble; an odd tail is padded with
// code 7. The 16 code values and 15 midpoints come from the host, so the only float literal here
// is bitsandbytes' 1e-38.

extern "C" __global__ void nf4_quantize(const float* __restrict__ w, long long n,
                                        const float* __restrict__ mids,
                                        unsigned char* __restrict__ packed,
                                        float* __restrict__ absmax)
{
    // One thread per block of 64 elements.
    long long b = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    long long nblocks = (n + 63) / 64;
    if (b >= nblocks) return;
    long long start = b * 64;
    int len = (int)((n - start) < 64 ? (n - start) : 64);
    float m = 0.0f;
    for (int i = 0; i < len; ++i) {
        float v = fabsf(w[start + i]);
        m = (v != v || m != m) ? __int_as_float(0x7fc00000) : fmaxf(m, v);
    }
    float clamped = (m != m) ? m : fmaxf(m, 1e-38f);
    bool partial = len < 64;
    absmax[b] = partial ? clamped : m;
    float inv = 1.0f / clamped;  // IEEE division (NVRTC's default --prec-div=true)
    for (int i = 0; i < len; i += 2) {
        unsigned char idx[2] = {7, 7};
        for (int j = 0; j < 2 && i + j < len; ++j) {
            float v = w[start + i + j];
            float s = partial ? __fdiv_rn(v, clamped) : __fmul_rn(v, inv);
            s = (s != s) ? s : fminf(fmaxf(s, -1.0f), 1.0f);
            unsigned char c = 0;
            for (int k = 0; k < 15; ++k) c += (s > mids[k]) ? 1 : 0;
            idx[j] = (s != s) ? 15 : c;
        }
        packed[(start + i) / 2] = (unsigned char)((idx[0] << 4) | idx[1]);
    }
}

// absmax[i] = code2[q[i]] * absmax2[i / 256] + offset, with no fused multiply-add (bitsandbytes
// rounds the product, then the sum).
extern "C" __global__ void nf4_dq_absmax(const unsigned char* __restrict__ q,
                                         const float* __restrict__ absmax2,
                                         const float* __restrict__ code2, float offset,
                                         long long n, float* __restrict__ out)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    out[i] = __fadd_rn(__fmul_rn(code2[q[i]], absmax2[i / 256]), offset);
}

// y[b][r] = sum_k x[b][k] * code[nib(r, k)] * absmax[(r * cols + k) / 64].
// One warp per output row; each lane reads 16 packed bytes (32 weights, one absmax block) at a
// time, so a warp reads 512 contiguous bytes per step. Needs cols % 64 == 0 (the host checks).
extern "C" __global__ void nf4_gemv(const unsigned char* __restrict__ packed,
                                    const float* __restrict__ absmax,
                                    const float* __restrict__ code,
                                    const float* __restrict__ x, float* __restrict__ y,
                                    int rows, int cols, int batch)
{
    __shared__ float lut[16];
    if (threadIdx.x < 16) lut[threadIdx.x] = code[threadIdx.x];
    __syncthreads();
    int warp = (int)(((long long)blockIdx.x * blockDim.x + threadIdx.x) / 32);
    int lane = threadIdx.x & 31;
    if (warp >= rows) return;
    const uint4* row = (const uint4*)(packed + (size_t)warp * (cols / 2));
    const float* am = absmax + (size_t)warp * (cols / 64);
    int nvec = cols / 32;
    for (int b = 0; b < batch; ++b) {
        const float* xb = x + (size_t)b * cols;
        float acc = 0.0f;
        for (int v = lane; v < nvec; v += 32) {
            uint4 q = row[v];
            float s = am[v / 2];
            const float4* xv = (const float4*)(xb + 32 * v);
            unsigned int words[4] = {q.x, q.y, q.z, q.w};
            float part = 0.0f;
#pragma unroll
            for (int wi = 0; wi < 4; ++wi) {
                unsigned int wd = words[wi];
                float4 xa = xv[2 * wi];
                float4 xc = xv[2 * wi + 1];
                // little-endian: byte 0 holds elements 0 (high nibble) and 1 (low nibble)
                part += lut[(wd >> 4) & 15] * xa.x + lut[wd & 15] * xa.y
                      + lut[(wd >> 12) & 15] * xa.z + lut[(wd >> 8) & 15] * xa.w
                      + lut[(wd >> 20) & 15] * xc.x + lut[(wd >> 16) & 15] * xc.y
                      + lut[(wd >> 28) & 15] * xc.z + lut[(wd >> 24) & 15] * xc.w;
            }
            acc += s * part;
        }
        for (int off = 16; off > 0; off >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, off);
        if (lane == 0) y[(size_t)b * rows + warp] = acc;
    }
}

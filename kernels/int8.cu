// LLM.int8 (bitsandbytes 8-bit) on the GPU: row-wise int8 quantization with outlier columns,
// and the int8 GEMV with the outlier columns multiplied in fp16. Compiled at run time by NVRTC
// (src/smoke/gpu/nvrtc.rs; launched from src/smoke/gpu/kernels.rs); no headers (fp16 rounding is the PTX cvt instruction).
//
// Format (must match src/smoke/formats/int8.rs and bitsandbytes 0.50's CPU path bit for bit): per
// row, absmax = max |x| over the elements below the threshold (all of them when threshold <= 0),
// NaN if the row holds one (torch's max propagates it); the scale is torch's `127 / absmax`, a
// reciprocal times 127 (two roundings); q = round_half_even(x * scale), and 0 where that is not
// finite (a zero or subnormal row) as torch's int8 cast gives, and 0 in the outlier columns.

__device__ __forceinline__ float round_f16(float v)
{
    unsigned short h;
    float r;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(v));
    asm("cvt.f32.f16 %0, %1;" : "=f"(r) : "h"(h));
    return r;
}

// One block of 256 threads per row. `outlier` is [cols], 1 for an outlier column.
extern "C" __global__ void int8_quantize_rows(const float* __restrict__ x, int rows, int cols,
                                              float threshold,
                                              const unsigned char* __restrict__ outlier,
                                              signed char* __restrict__ q,
                                              float* __restrict__ row_absmax)
{
    __shared__ float red[256];
    int r = blockIdx.x;
    if (r >= rows) return;
    const float* xr = x + (size_t)r * cols;
    float m = 0.0f;
    for (int k = threadIdx.x; k < cols; k += blockDim.x) {
        float v = fabsf(xr[k]);
        if (v != v) m = v;  // NaN propagates, as torch's max
        else if (m == m && !(threshold > 0.0f && v >= threshold)) m = fmaxf(m, v);
    }
    red[threadIdx.x] = m;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            float a = red[threadIdx.x], b = red[threadIdx.x + s];
            red[threadIdx.x] = (a != a || b != b) ? __int_as_float(0x7fc00000) : fmaxf(a, b);
        }
        __syncthreads();
    }
    m = red[0];
    if (threadIdx.x == 0) row_absmax[r] = m;
    float sc = __fmul_rn(1.0f / m, 127.0f);  // IEEE division (NVRTC's default --prec-div=true)
    for (int k = threadIdx.x; k < cols; k += blockDim.x) {
        signed char v = 0;
        if (!outlier[k]) {
            float t = rintf(__fmul_rn(xr[k], sc));  // rintf: round half to even
            if (t - t == 0.0f && fabsf(t) < 2147483648.0f) v = (signed char)(int)t;  // finite
        }
        q[(size_t)r * cols + k] = v;
    }
}

// y[b][r] = (sum_k xq[b][k] * wq[r][k]) * (sx[b] * sw[r]) / 127^2
//         + sum_j f16(x[b][c_j]) * f16(wq[r][c_j] * sw[r] / 127)    (outlier columns c_j)
// One warp per output row; each lane takes 16 int8 at a time (dp4a). Needs cols % 16 == 0.
extern "C" __global__ void int8_gemv(const signed char* __restrict__ wq,
                                     const float* __restrict__ sw,
                                     const signed char* __restrict__ xq,
                                     const float* __restrict__ sx,
                                     const float* __restrict__ x,
                                     const int* __restrict__ outlier_cols, int n_outliers,
                                     float* __restrict__ y, int rows, int cols, int batch)
{
    int warp = (int)(((long long)blockIdx.x * blockDim.x + threadIdx.x) / 32);
    int lane = threadIdx.x & 31;
    if (warp >= rows) return;
    const int4* wr = (const int4*)(wq + (size_t)warp * cols);
    int nvec = cols / 16;
    const float inv127 = 7.874015718698502e-3f;
    for (int b = 0; b < batch; ++b) {
        const int4* xr = (const int4*)(xq + (size_t)b * cols);
        int acc = 0;
        for (int v = lane; v < nvec; v += 32) {
            int4 a = wr[v];
            int4 c = xr[v];
            acc = __dp4a(a.x, c.x, acc);
            acc = __dp4a(a.y, c.y, acc);
            acc = __dp4a(a.z, c.z, acc);
            acc = __dp4a(a.w, c.w, acc);
        }
        for (int off = 16; off > 0; off >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, off);
        if (lane == 0) {
            float out = (float)acc * (sx[b] * sw[warp]) * (1.0f / 16129.0f);
            float extra = 0.0f;
            for (int j = 0; j < n_outliers; ++j) {
                int c = outlier_cols[j];
                float wv = __fmul_rn(__fmul_rn((float)wq[(size_t)warp * cols + c], sw[warp]), inv127);
                extra += round_f16(x[(size_t)b * cols + c]) * round_f16(wv);
            }
            y[(size_t)b * rows + warp] = out + extra;
        }
    }
}

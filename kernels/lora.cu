// LoRA (peft) on the GPU: an f32 GEMV, the scaled sum `base + s * delta`, and the merge
// `W + s * B A`. Compiled at run time by NVRTC (src/smoke/gpu/nvrtc.rs; launched from src/smoke/gpu/kernels.rs); no headers.

// y[b][r] = sum_k w[r][k] * x[b][k]; one warp per row, float4 loads when cols % 4 == 0.
extern "C" __global__ void gemv_f32(const float* __restrict__ w, const float* __restrict__ x,
                                    float* __restrict__ y, int rows, int cols, int batch)
{
    int warp = (int)(((long long)blockIdx.x * blockDim.x + threadIdx.x) / 32);
    int lane = threadIdx.x & 31;
    if (warp >= rows) return;
    const float* wr = w + (size_t)warp * cols;
    for (int b = 0; b < batch; ++b) {
        const float* xb = x + (size_t)b * cols;
        float acc = 0.0f;
        if ((cols & 3) == 0) {
            const float4* w4 = (const float4*)wr;
            const float4* x4 = (const float4*)xb;
            for (int v = lane; v < cols / 4; v += 32) {
                float4 a = w4[v];
                float4 c = x4[v];
                acc += a.x * c.x + a.y * c.y + a.z * c.z + a.w * c.w;
            }
        } else {
            for (int k = lane; k < cols; k += 32) acc += wr[k] * xb[k];
        }
        for (int off = 16; off > 0; off >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, off);
        if (lane == 0) y[(size_t)b * rows + warp] = acc;
    }
}

// out[i] = base[i] + s * delta[i]
extern "C" __global__ void add_scaled(const float* __restrict__ base,
                                      const float* __restrict__ delta, float s, long long n,
                                      float* __restrict__ out)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = base[i] + s * delta[i];
}

// merged[r][c] = w[r][c] + s * sum_k b[r][k] * a[k][c]; one thread per element.
extern "C" __global__ void lora_merge(const float* __restrict__ w, const float* __restrict__ a,
                                      const float* __restrict__ bm, int rows, int cols, int r,
                                      float s, float* __restrict__ merged)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (long long)rows * cols) return;
    int row = (int)(i / cols);
    int col = (int)(i % cols);
    float acc = 0.0f;
    for (int k = 0; k < r; ++k) acc += bm[(size_t)row * r + k] * a[(size_t)k * cols + col];
    merged[i] = w[i] + s * acc;
}

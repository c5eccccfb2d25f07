// 2:4 structured sparsity on the GPU: prune by magnitude and the sparse GEMV. Compiled at run
// time by NVRTC (src/smoke/gpu/nvrtc.rs; launched from src/smoke/gpu/kernels.rs); no headers.
//
// Must match src/smoke/formats/sparse24.rs: in each group of 4 consecutive weights of a row keep the 2 of
// largest magnitude (ties to the lower index), values in column order. The GPU layout keeps one
// byte per group (`i0 | i1 << 2`, i0 < i1); the host packs two groups a byte to compare.

extern "C" __global__ void sparse24_prune(const float* __restrict__ w, long long groups,
                                          float* __restrict__ values,
                                          unsigned char* __restrict__ pos)
{
    long long g = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (g >= groups) return;
    float v[4];
    float a[4];
    for (int i = 0; i < 4; ++i) { v[i] = w[4 * g + i]; a[i] = fabsf(v[i]); }
    int kept[2];
    int n = 0;
    for (int i = 0; i < 4; ++i) {
        int beaten = 0;
        for (int j = 0; j < 4; ++j)
            if (j != i && (a[j] > a[i] || (a[j] == a[i] && j < i))) ++beaten;
        if (beaten < 2 && n < 2) kept[n++] = i;
    }
    values[2 * g] = v[kept[0]];
    values[2 * g + 1] = v[kept[1]];
    pos[g] = (unsigned char)(kept[0] | (kept[1] << 2));
}

// y[b][r] = sum over groups g of v0 * x[4g + i0] + v1 * x[4g + i1]; one warp per row.
extern "C" __global__ void sparse24_gemv(const float* __restrict__ values,
                                         const unsigned char* __restrict__ pos,
                                         const float* __restrict__ x, float* __restrict__ y,
                                         int rows, int cols, int batch)
{
    int warp = (int)(((long long)blockIdx.x * blockDim.x + threadIdx.x) / 32);
    int lane = threadIdx.x & 31;
    if (warp >= rows) return;
    int groups = cols / 4;
    const float2* vr = (const float2*)(values + (size_t)warp * (cols / 2));
    const unsigned char* pr = pos + (size_t)warp * groups;
    for (int b = 0; b < batch; ++b) {
        const float* xb = x + (size_t)b * cols;
        float acc = 0.0f;
        for (int g = lane; g < groups; g += 32) {
            float2 v = vr[g];
            unsigned char p = pr[g];
            acc += v.x * xb[4 * g + (p & 3)] + v.y * xb[4 * g + (p >> 2)];
        }
        for (int off = 16; off > 0; off >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, off);
        if (lane == 0) y[(size_t)b * rows + warp] = acc;
    }
}

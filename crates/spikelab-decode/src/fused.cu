// Fused row kernels of `fused.rs`: layer norm, softmax over the last axis, exact-erf GELU,
// each forward and backward, for float and double. One block per row for the row kernels
// (block size a power of two, 32…256, rows walked with a stride), one thread per entry for
// GELU. Sums run in the accumulator type of the input (float or double).

template <typename T>
__device__ T block_sum(T v, T* shm) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) shm[warp] = v;
    __syncthreads();
    if (warp == 0) {
        const int warps = (blockDim.x + 31) >> 5;
        T r = lane < warps ? shm[lane] : T(0);
        for (int o = 16; o > 0; o >>= 1) r += __shfl_down_sync(0xffffffffu, r, o);
        if (lane == 0) shm[0] = r;
    }
    __syncthreads();
    return shm[0];
}

template <typename T>
__device__ T block_max(T v, T* shm) {
    for (int o = 16; o > 0; o >>= 1) v = fmax(v, __shfl_down_sync(0xffffffffu, v, o));
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) shm[warp] = v;
    __syncthreads();
    if (warp == 0) {
        const int warps = (blockDim.x + 31) >> 5;
        T r = lane < warps ? shm[lane] : shm[0];
        for (int o = 16; o > 0; o >>= 1) r = fmax(r, __shfl_down_sync(0xffffffffu, r, o));
        if (lane == 0) shm[0] = r;
    }
    __syncthreads();
    return shm[0];
}

// Mean and 1 / sqrt(biased variance + eps) of the row xr of length d.
template <typename T>
__device__ void row_stats(const T* xr, int d, T eps, T* shm, T& mean, T& rstd) {
    T s = 0;
    for (int i = threadIdx.x; i < d; i += blockDim.x) s += xr[i];
    mean = block_sum(s, shm) / T(d);
    T q = 0;
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        const T c = xr[i] - mean;
        q += c * c;
    }
    rstd = T(1) / sqrt(block_sum(q, shm) / T(d) + eps);
}

// y = (x − mean) / sqrt(var + eps) · w + b over rows of length d.
template <typename T>
__device__ void layer_norm_fwd(const T* x, const T* w, const T* b, T* y, int d, T eps) {
    __shared__ T shm[32];
    const T* xr = x + (size_t)blockIdx.x * d;
    T* yr = y + (size_t)blockIdx.x * d;
    T mean, rstd;
    row_stats(xr, d, eps, shm, mean, rstd);
    for (int i = threadIdx.x; i < d; i += blockDim.x) yr[i] = (xr[i] - mean) * rstd * w[i] + b[i];
}

// out row = [dx (d) | g · x̂ (d)]; dx = rstd · (g·w − mean(g·w) − x̂ · mean(g·w·x̂)).
template <typename T>
__device__ void layer_norm_bwd(const T* x, const T* w, const T* g, T* out, int d, T eps) {
    __shared__ T shm[32];
    const T* xr = x + (size_t)blockIdx.x * d;
    const T* gr = g + (size_t)blockIdx.x * d;
    T* dx = out + (size_t)blockIdx.x * 2 * d;
    T* gxh = dx + d;
    T mean, rstd;
    row_stats(xr, d, eps, shm, mean, rstd);
    T a = 0, c = 0;
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        const T xh = (xr[i] - mean) * rstd;
        const T gw = gr[i] * w[i];
        a += gw;
        c += gw * xh;
        gxh[i] = gr[i] * xh;
    }
    const T mean_gw = block_sum(a, shm) / T(d);
    const T mean_gwx = block_sum(c, shm) / T(d);
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        const T xh = (xr[i] - mean) * rstd;
        dx[i] = rstd * (gr[i] * w[i] - mean_gw - xh * mean_gwx);
    }
}

template <typename T>
__device__ void softmax_fwd(const T* x, T* y, int d) {
    __shared__ T shm[32];
    const T* xr = x + (size_t)blockIdx.x * d;
    T* yr = y + (size_t)blockIdx.x * d;
    T m = xr[0];
    for (int i = threadIdx.x; i < d; i += blockDim.x) m = fmax(m, xr[i]);
    m = block_max(m, shm);
    T s = 0;
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        const T e = exp(xr[i] - m);
        yr[i] = e;
        s += e;
    }
    const T inv = T(1) / block_sum(s, shm);
    for (int i = threadIdx.x; i < d; i += blockDim.x) yr[i] *= inv;
}

// dx = y · (g − Σ g·y)
template <typename T>
__device__ void softmax_bwd(const T* y, const T* g, T* dx, int d) {
    __shared__ T shm[32];
    const T* yr = y + (size_t)blockIdx.x * d;
    const T* gr = g + (size_t)blockIdx.x * d;
    T* dr = dx + (size_t)blockIdx.x * d;
    T s = 0;
    for (int i = threadIdx.x; i < d; i += blockDim.x) s += gr[i] * yr[i];
    s = block_sum(s, shm);
    for (int i = threadIdx.x; i < d; i += blockDim.x) dr[i] = yr[i] * (gr[i] - s);
}

template <typename T>
__device__ void gelu_fwd(const T* x, T* y, size_t n) {
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = T(0.5) * x[i] * (T(1) + erf(x[i] * T(0.70710678118654752440)));
}

// dx = g · (Φ(x) + x φ(x))
template <typename T>
__device__ void gelu_bwd(const T* x, const T* g, T* dx, size_t n) {
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        const T v = x[i];
        const T cdf = T(0.5) * (T(1) + erf(v * T(0.70710678118654752440)));
        const T pdf = exp(T(-0.5) * v * v) * T(0.39894228040143267794);
        dx[i] = g[i] * (cdf + v * pdf);
    }
}

#define FUSED_KERNELS(T, S)                                                                    \
    extern "C" __global__ void layer_norm_fwd_##S(const T* x, const T* w, const T* b, T* y,   \
                                                  int d, T eps) {                              \
        layer_norm_fwd<T>(x, w, b, y, d, eps);                                                 \
    }                                                                                          \
    extern "C" __global__ void layer_norm_bwd_##S(const T* x, const T* w, const T* g, T* out, \
                                                  int d, T eps) {                              \
        layer_norm_bwd<T>(x, w, g, out, d, eps);                                               \
    }                                                                                          \
    extern "C" __global__ void softmax_fwd_##S(const T* x, T* y, int d) {                      \
        softmax_fwd<T>(x, y, d);                                                               \
    }                                                                                          \
    extern "C" __global__ void softmax_bwd_##S(const T* y, const T* g, T* dx, int d) {         \
        softmax_bwd<T>(y, g, dx, d);                                                           \
    }                                                                                          \
    extern "C" __global__ void gelu_fwd_##S(const T* x, T* y, size_t n) { gelu_fwd<T>(x, y, n); } \
    extern "C" __global__ void gelu_bwd_##S(const T* x, const T* g, T* dx, size_t n) {         \
        gelu_bwd<T>(x, g, dx, n);                                                              \
    }

FUSED_KERNELS(float, f32)
FUSED_KERNELS(double, f64)

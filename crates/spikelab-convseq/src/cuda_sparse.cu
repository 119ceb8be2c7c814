// Event-driven convSeq epoch on an NVIDIA GPU (f64): the sparse CPU path's maths
// (src/sparse.rs, src/loss.rs) as five kernels. Compiled at run time with NVRTC.
//
// Layouts: theta, m, v, s are [K, N, W] row-major (taps in filter order); proj and g are
// [K, L]; spikes are (bin, neuron) sorted by bin (tb, tn) and per neuron (ptr, bins).
// x[t] = sum over spikes (n, b) of S[n, b + P - t] for 0 <= b + P - t < W.

#define WARP 32
#define NEG_INF (-__longlong_as_double(0x7ff0000000000000LL))

__device__ double block_sum(double v, double* red) {
    for (int o = WARP / 2; o > 0; o /= 2) v += __shfl_down_sync(0xffffffffu, v, o);
    int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
    __syncthreads();
    if (lane == 0) red[warp] = v;
    __syncthreads();
    int nw = (blockDim.x + WARP - 1) / WARP;
    double r = 0.0;
    if (threadIdx.x < WARP) {
        r = threadIdx.x < nw ? red[threadIdx.x] : 0.0;
        for (int o = WARP / 2; o > 0; o /= 2) r += __shfl_down_sync(0xffffffffu, r, o);
        if (threadIdx.x == 0) red[0] = r;
    }
    __syncthreads();
    return red[0];
}

__device__ double block_max(double v, double* red) {
    for (int o = WARP / 2; o > 0; o /= 2) v = fmax(v, __shfl_down_sync(0xffffffffu, v, o));
    int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
    __syncthreads();
    if (lane == 0) red[warp] = v;
    __syncthreads();
    int nw = (blockDim.x + WARP - 1) / WARP;
    if (threadIdx.x < WARP) {
        double r = threadIdx.x < nw ? red[threadIdx.x] : NEG_INF;
        for (int o = WARP / 2; o > 0; o /= 2) r = fmax(r, __shfl_down_sync(0xffffffffu, r, o));
        if (threadIdx.x == 0) red[0] = r;
    }
    __syncthreads();
    return red[0];
}

// One block per filter row: s = softmax(theta row); ftv_row = sum_j (s[j+1] - s[j])^2.
extern "C" __global__ void softmax_rows(const double* theta, double* s, double* ftv_row, int w) {
    __shared__ double red[WARP];
    size_t row = blockIdx.x;
    const double* z = theta + row * w;
    double* o = s + row * w;
    double m = NEG_INF;
    for (int j = threadIdx.x; j < w; j += blockDim.x) m = fmax(m, z[j]);
    m = block_max(m, red);
    double sum = 0.0;
    for (int j = threadIdx.x; j < w; j += blockDim.x) {
        double e = exp(z[j] - m);
        o[j] = e;
        sum += e;
    }
    sum = block_sum(sum, red);
    for (int j = threadIdx.x; j < w; j += blockDim.x) o[j] = o[j] / sum;
    __syncthreads();
    double acc = 0.0;
    for (int j = threadIdx.x; j + 1 < w; j += blockDim.x) {
        double d = o[j + 1] - o[j];
        acc += d * d;
    }
    acc = block_sum(acc, red);
    if (threadIdx.x == 0) ftv_row[row] = acc;
}

// First index i in [0, n) with a[i] >= key (n when none).
__device__ int lower_bound(const unsigned* a, int n, long long key) {
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if ((long long)a[mid] < key) lo = mid + 1; else hi = mid;
    }
    return lo;
}

// Grid (ceil(L / blockDim), K): one thread per output t of filter k sums, in spike order,
// every spike whose window reaches t (bins sb in [t - p, t - p + w)), x[t] = sum s[n, sb + p - t].
// No atomics: the order of the sum is fixed, so a run is bit-reproducible.
extern "C" __global__ void project_outputs(const double* s, const unsigned* tb, const unsigned* tn,
                                           int n_spikes, double* proj, int l, int n, int w,
                                           int p) {
    int k = blockIdx.y;
    long long t = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= l) return;
    long long lo = t - p > 0 ? t - p : 0;
    long long hi = t - p + w;
    double acc = 0.0;
    if (hi > 0) {
        int i0 = lower_bound(tb, n_spikes, lo);
        int i1 = lower_bound(tb, n_spikes, hi);
        const double* sk = s + (size_t)k * n * w;
        for (int e = i0; e < i1; ++e) acc += sk[(size_t)tn[e] * w + (tb[e] + p - t)];
    }
    proj[(size_t)k * l + t] = acc;
}

// Grid (chunks, K): partial sums of x and of (x[t+1] - x[t])^2 over each chunk.
extern "C" __global__ void proj_sums(const double* proj, int l, int chunk, double* part_sum,
                                     double* part_tv) {
    __shared__ double red[WARP];
    int k = blockIdx.y;
    const double* x = proj + (size_t)k * l;
    int a = blockIdx.x * chunk, b = a + chunk < l ? a + chunk : l;
    double sum = 0.0, tv = 0.0;
    for (int t = a + threadIdx.x; t < b; t += blockDim.x) {
        sum += x[t];
        if (t + 1 < l) {
            double d = x[t + 1] - x[t];
            tv += d * d;
        }
    }
    sum = block_sum(sum, red);
    tv = block_sum(tv, red);
    if (threadIdx.x == 0) {
        part_sum[k * gridDim.x + blockIdx.x] = sum;
        part_tv[k * gridDim.x + blockIdx.x] = tv;
    }
}

// Grid (chunks, K): g = d(-var + tv_l * TV)/dx and partial sums of (x - mean)^2.
extern "C" __global__ void proj_grad(const double* proj, int l, int chunk, const double* part_sum,
                                     double tv_l, double* g, double* part_var) {
    __shared__ double red[WARP];
    int k = blockIdx.y;
    int nblk = gridDim.x;
    double tot = 0.0;
    for (int i = threadIdx.x; i < nblk; i += blockDim.x) tot += part_sum[k * nblk + i];
    double mean = block_sum(tot, red) / l;
    const double* x = proj + (size_t)k * l;
    double* gk = g + (size_t)k * l;
    double lm1 = (double)(l - 1);
    double cv = -2.0 / lm1, ct = tv_l * 2.0 / lm1;
    int a = blockIdx.x * chunk, b = a + chunk < l ? a + chunk : l;
    double var = 0.0;
    for (int t = a + threadIdx.x; t < b; t += blockDim.x) {
        double d = x[t] - mean;
        var += d * d;
        double left = t > 0 ? x[t] - x[t - 1] : 0.0;
        double right = t + 1 < l ? x[t + 1] - x[t] : 0.0;
        gk[t] = cv * d + ct * (left - right);
    }
    var = block_sum(var, red);
    if (threadIdx.x == 0) part_var[k * nblk + blockIdx.x] = var;
}

// One block per filter row (k, n): dL/dS[j] = sum over the neuron's spikes b of g[b + P - j]
// plus the filter-TV term, the softmax Jacobian, then either an Adam step of the logits
// (update != 0) or dL/dtheta written to gz.
extern "C" __global__ void gather_adam(const double* s, const double* g, const unsigned* ptr,
                                       const unsigned* bins, double* theta, double* m, double* v,
                                       double* gz, int n, int w, int l, int p, double ftv_coef,
                                       double b1, double b2, double step_size, double bc2s,
                                       double eps, int update) {
    extern __shared__ double gs[];
    __shared__ double red[WARP];
    size_t row = blockIdx.x;
    int k = row / n, nn = row % n;
    const double* srow = s + row * w;
    const double* gk = g + (size_t)k * l;
    unsigned e0 = ptr[nn], e1 = ptr[nn + 1];
    double dot = 0.0;
    for (int j = threadIdx.x; j < w; j += blockDim.x) {
        double acc = 0.0;
        if (ftv_coef != 0.0) {
            double left = j > 0 ? srow[j] - srow[j - 1] : 0.0;
            double right = j + 1 < w ? srow[j + 1] - srow[j] : 0.0;
            acc = ftv_coef * (left - right);
        }
        double walk = 0.0;
        for (unsigned e = e0; e < e1; e++) {
            long long t = (long long)bins[e] + p - j;
            if (t >= 0 && t < l) walk += gk[t];
        }
        acc += walk;
        gs[j] = acc;
        dot += srow[j] * acc;
    }
    dot = block_sum(dot, red);
    for (int j = threadIdx.x; j < w; j += blockDim.x) {
        size_t i = row * w + j;
        double gzj = srow[j] * (gs[j] - dot);
        if (update) {
            m[i] = b1 * m[i] + (1.0 - b1) * gzj;
            v[i] = b2 * v[i] + (1.0 - b2) * gzj * gzj;
            theta[i] -= step_size * m[i] / (sqrt(v[i]) / bc2s + eps);
        } else {
            gz[i] = gzj;
        }
    }
}

// Epilogue of one cuDNN convolution of the fully-convolutional network (feature `cudnn`):
// out = act(max(a[t], a[t + d]) + bias[ch]) for t < l − d, where `a` is the convolution's
// output without bias for a batch of segments, laid out channels-last ([batch, l, c]) or
// channels-first ([batch, c, l]); `d = 0` is no pool. max(a, a') + b = max(a + b, a' + b)
// and ReLU is monotone, so this equals the network's relu(conv + b) followed by the pool, bit
// for bit.
//
// bf16 is handled as its bit pattern (no cuda_bf16.h, which NVRTC may lack): loads widen
// exactly, stores round to nearest even.

typedef unsigned short bf16_bits;

__device__ __forceinline__ float load(const float *p, long long i) { return p[i]; }
__device__ __forceinline__ float load(const bf16_bits *p, long long i) {
    return __uint_as_float(((unsigned int)p[i]) << 16);
}
__device__ __forceinline__ void store(float *p, long long i, float v) { p[i] = v; }
__device__ __forceinline__ void store(bf16_bits *p, long long i, float v) {
    unsigned int u = __float_as_uint(v);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        p[i] = (bf16_bits)((u >> 16) | 0x40u);  // quiet NaN
        return;
    }
    u += 0x7fffu + ((u >> 16) & 1u);
    p[i] = (bf16_bits)(u >> 16);
}

template <typename TI, typename TO>
__device__ void epilogue(const TI *a, const float *bias, TO *out, int batch, long long l, int c,
                         int d, int channels_last, int relu) {
    const long long lo = l - d;
    const long long n = (long long)batch * lo * c;
    const long long shift = channels_last ? (long long)d * c : (long long)d;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)gridDim.x * blockDim.x) {
        long long src;
        int ch;
        if (channels_last) {
            // [batch, l, c] -> [batch, l - d, c]
            const long long b = i / (lo * c);
            const long long r = i - b * lo * c;
            const long long t = r / c;
            ch = (int)(r - t * c);
            src = (b * l + t) * c + ch;
        } else {
            // [batch, c, l] -> [batch, c, l - d]: rows of length l, row = b * c + ch
            const long long row = i / lo;
            ch = (int)(row % c);
            src = row * l + (i - row * lo);
        }
        float v = load(a, src);
        if (d > 0) v = fmaxf(v, load(a, src + shift));
        v += bias[ch];
        if (relu) v = v > 0.0f ? v : 0.0f;
        store(out, i, v);
    }
}

extern "C" __global__ void epilogue_f32(const float *a, const float *bias, float *out,
                                        int batch, long long l, int c, int d, int channels_last,
                                        int relu) {
    epilogue<float, float>(a, bias, out, batch, l, c, d, channels_last, relu);
}

extern "C" __global__ void epilogue_bf16(const bf16_bits *a, const float *bias, bf16_bits *out,
                                         int batch, long long l, int c, int d,
                                         int channels_last, int relu) {
    epilogue<bf16_bits, bf16_bits>(a, bias, out, batch, l, c, d, channels_last, relu);
}

extern "C" __global__ void epilogue_bf16_to_f32(const bf16_bits *a, const float *bias, float *out,
                                                int batch, long long l, int c, int d,
                                                int channels_last, int relu) {
    epilogue<bf16_bits, float>(a, bias, out, batch, l, c, d, channels_last, relu);
}

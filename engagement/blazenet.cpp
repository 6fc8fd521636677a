// SPDX-License-Identifier: MIT
// The BlazeFace inference engine of blazenet.h: an ONNX reader, a planner that turns the graph
// into a list of NHWC kernels with reused buffers, and the kernels (AVX2/FMA when the island
// is built with them, plain loops otherwise).
#include "blazenet.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define BLAZENET_AVX2 1
#endif

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "blazenet reads ONNX tensors as little-endian memory"
#endif

namespace eng_nn {
namespace {

[[noreturn]] void fail(const std::string &m)
{
    throw std::runtime_error("onnx: " + m);
}

// ---- protobuf wire format (only what ONNX's ModelProto needs) ----

struct Pb {
    const uint8_t *p, *end;
    bool more() const { return p < end; }
    uint64_t varint()
    {
        uint64_t r = 0;
        for (int s = 0; s < 64; s += 7) {
            if (p >= end)
                fail("truncated varint");
            const uint8_t c = *p++;
            r |= (uint64_t)(c & 0x7f) << s;
            if (!(c & 0x80))
                return r;
        }
        fail("varint too long");
    }
    uint32_t key(int &wt)
    {
        const uint64_t k = varint();
        wt = (int)(k & 7);
        return (uint32_t)(k >> 3);
    }
    Pb sub()
    {
        const uint64_t n = varint();
        if (n > (uint64_t)(end - p))
            fail("truncated field");
        Pb s{p, p + n};
        p += n;
        return s;
    }
    std::string str()
    {
        Pb s = sub();
        return std::string(reinterpret_cast<const char *>(s.p), (size_t)(s.end - s.p));
    }
    uint32_t fixed32()
    {
        if (end - p < 4)
            fail("truncated fixed32");
        uint32_t v;
        std::memcpy(&v, p, 4);
        p += 4;
        return v;
    }
    void skip(int wt)
    {
        switch (wt) {
        case 0: varint(); break;
        case 1:
            if (end - p < 8)
                fail("truncated fixed64");
            p += 8;
            break;
        case 2: sub(); break;
        case 5: fixed32(); break;
        default: fail("unsupported wire type");
        }
    }
};

void want(int wt, int expected)
{
    if (wt != expected)
        fail("unexpected wire type");
}

void read_ints(Pb &pb, int wt, std::vector<int64_t> &out)
{
    if (wt == 0) {
        out.push_back((int64_t)pb.varint());
        return;
    }
    want(wt, 2);
    Pb s = pb.sub();
    while (s.more())
        out.push_back((int64_t)s.varint());
}

void read_floats(Pb &pb, int wt, std::vector<float> &out)
{
    if (wt == 5) {
        const uint32_t v = pb.fixed32();
        float f;
        std::memcpy(&f, &v, 4);
        out.push_back(f);
        return;
    }
    want(wt, 2);
    Pb s = pb.sub();
    const size_t n = (size_t)(s.end - s.p);
    if (n % 4)
        fail("bad float list");
    const size_t o = out.size();
    out.resize(o + n / 4);
    if (n)
        std::memcpy(out.data() + o, s.p, n);
}

const int T_FLOAT = 1, T_INT64 = 7;

struct Tensor {
    std::string name;
    std::vector<int64_t> dims;
    int dtype = 0;
    std::vector<float> f;
    std::vector<int64_t> i;
    size_t count() const
    {
        size_t n = 1;
        for (int64_t d : dims)
            n *= (size_t)d;
        return n;
    }
};

// A tensor's n values: from raw_data when it had one (little-endian, as this host), else
// the typed list already read into v; either way exactly n of them.
template <typename T>
void take_values(const std::string &name, const std::string &raw, bool has_raw, size_t n, std::vector<T> &v)
{
    if (has_raw) {
        if (raw.size() != n * sizeof(T))
            fail("tensor " + name + ": size mismatch");
        v.resize(n);
        if (n)
            std::memcpy(v.data(), raw.data(), raw.size());
    }
    if (v.size() != n)
        fail("tensor " + name + ": size mismatch");
}

Tensor read_tensor(Pb pb)
{
    Tensor t;
    std::string raw;
    bool has_raw = false;
    while (pb.more()) {
        int wt;
        switch (pb.key(wt)) {
        case 1: read_ints(pb, wt, t.dims); break;
        case 2: want(wt, 0); t.dtype = (int)pb.varint(); break;
        case 4: read_floats(pb, wt, t.f); break;
        case 7: read_ints(pb, wt, t.i); break;
        case 8: want(wt, 2); t.name = pb.str(); break;
        case 9: want(wt, 2); raw = pb.str(); has_raw = true; break;
        default: pb.skip(wt);
        }
    }
    size_t n = 1;
    for (int64_t d : t.dims) {
        if (d < 0 || d > (1 << 24))
            fail("tensor " + t.name + ": bad dimension");
        n *= (size_t)d;
        if (n > ((size_t)1 << 26))
            fail("tensor " + t.name + ": too large");
    }
    if (t.dtype == T_FLOAT)
        take_values(t.name, raw, has_raw, n, t.f);
    else if (t.dtype == T_INT64)
        take_values(t.name, raw, has_raw, n, t.i);
    else
        fail("tensor " + t.name + ": unsupported element type");
    return t;
}

struct Attr {
    std::vector<int64_t> ints;
    std::vector<float> floats;
    std::string s;
    bool has_t = false;
    Tensor t;
};

struct Node {
    std::string op, name;
    std::vector<std::string> in, out;
    std::map<std::string, Attr> attrs;
    const Attr *attr(const char *n) const
    {
        auto it = attrs.find(n);
        return it == attrs.end() ? nullptr : &it->second;
    }
    std::vector<int64_t> ints(const char *n, std::vector<int64_t> dflt) const
    {
        const Attr *a = attr(n);
        return a ? a->ints : dflt;
    }
};

Node read_node(Pb pb)
{
    Node n;
    while (pb.more()) {
        int wt;
        switch (pb.key(wt)) {
        case 1: want(wt, 2); n.in.push_back(pb.str()); break;
        case 2: want(wt, 2); n.out.push_back(pb.str()); break;
        case 3: want(wt, 2); n.name = pb.str(); break;
        case 4: want(wt, 2); n.op = pb.str(); break;
        case 5: {
            want(wt, 2);
            Pb a = pb.sub();
            std::string name;
            Attr at;
            while (a.more()) {
                int awt;
                switch (a.key(awt)) {
                case 1: want(awt, 2); name = a.str(); break;
                case 2: read_floats(a, awt, at.floats); break;
                case 3: want(awt, 0); at.ints.push_back((int64_t)a.varint()); break;
                case 4: want(awt, 2); at.s = a.str(); break;
                case 5: want(awt, 2); at.t = read_tensor(a.sub()); at.has_t = true; break;
                case 7: read_floats(a, awt, at.floats); break;
                case 8: read_ints(a, awt, at.ints); break;
                default: a.skip(awt);
                }
            }
            n.attrs[name] = std::move(at);
            break;
        }
        default: pb.skip(wt);
        }
    }
    if (n.op.empty() || n.out.size() != 1)
        fail("node '" + n.name + "': needs an operator and exactly one output");
    return n;
}

struct Io {
    std::string name;
    std::vector<int64_t> dims;
};

// The first length-delimited field number `field` of msg, if any.
bool find_sub(Pb msg, uint32_t field, Pb &out)
{
    while (msg.more()) {
        int wt;
        if (msg.key(wt) == field && wt == 2) {
            out = msg.sub();
            return true;
        }
        msg.skip(wt);
    }
    return false;
}

// ValueInfoProto: name, and the dims of type.tensor_type.shape (-1 for a symbolic one).
Io read_value_info(Pb pb)
{
    Io v;
    Pb type{nullptr, nullptr}, tensor{nullptr, nullptr}, shape{nullptr, nullptr};
    while (pb.more()) {
        int wt;
        const uint32_t f = pb.key(wt);
        if (f == 1) {
            want(wt, 2);
            v.name = pb.str();
        } else if (f == 2) {
            want(wt, 2);
            type = pb.sub();
        } else {
            pb.skip(wt);
        }
    }
    if (!type.p || !find_sub(type, 1, tensor) || !find_sub(tensor, 2, shape))
        return v;
    while (shape.more()) {
        int wt;
        if (shape.key(wt) != 1) {
            shape.skip(wt);
            continue;
        }
        want(wt, 2);
        Pb dim = shape.sub();
        int64_t value = -1;
        while (dim.more()) {
            int dw;
            if (dim.key(dw) == 1) {
                want(dw, 0);
                value = (int64_t)dim.varint();
            } else {
                dim.skip(dw);
            }
        }
        v.dims.push_back(value);
    }
    return v;
}

int round8(int c)
{
    return (c + 7) / 8 * 8;
}

// ---- kernels: NHWC, channel stride a multiple of 8 except the graph input ----

#ifdef BLAZENET_AVX2
// The register tile shared by the 1x1 and stem convolutions: PX pixels x NB blocks of 8
// output channels, all accumulators in registers (PX * NB + NB + 1 of the 16), so enough
// independent FMA chains are in flight to hide the FMA latency. (GCC keeps such arrays on
// the stack unless the loops are unrolled before its scalar replacement: hence the pragmas.)
template <int NB, int PX>
struct Tile {
    __m256 acc[PX][NB];

    explicit Tile(const float *b)
    {
        #pragma GCC unroll 16
        for (int j = 0; j < NB; j++) {
            const __m256 bj = _mm256_loadu_ps(b + 8 * j);
            #pragma GCC unroll 16
            for (int q = 0; q < PX; q++)
                acc[q][j] = bj;
        }
    }
    // acc[q] += x[q * xstep] * w[0 .. 8 NB) for every pixel q.
    inline void fma(const float *x, size_t xstep, const float *w)
    {
        __m256 wv[NB];
        #pragma GCC unroll 16
        for (int j = 0; j < NB; j++)
            wv[j] = _mm256_loadu_ps(w + 8 * j);
        #pragma GCC unroll 16
        for (int q = 0; q < PX; q++) {
            const __m256 v = _mm256_broadcast_ss(x + (size_t)q * xstep);
            #pragma GCC unroll 16
            for (int j = 0; j < NB; j++)
                acc[q][j] = _mm256_fmadd_ps(v, wv[j], acc[q][j]);
        }
    }
    // Pixel q to o + q * stride, plus the residual res (same layout) when given, then Relu.
    inline void store(float *o, const float *res, size_t stride, bool relu)
    {
        const __m256 zero = _mm256_setzero_ps();
        #pragma GCC unroll 16
        for (int q = 0; q < PX; q++)
            #pragma GCC unroll 16
            for (int j = 0; j < NB; j++) {
                __m256 a = acc[q][j];
                if (res)
                    a = _mm256_add_ps(a, _mm256_loadu_ps(res + q * stride + 8 * j));
                if (relu)
                    a = _mm256_max_ps(a, zero);
                _mm256_storeu_ps(o + q * stride + 8 * j, a);
            }
    }
};

template <int NB, int PX>
inline void pointwise_tile(const float *x, int cin, int in_stride, const float *w, int w_stride,
                           const float *b, float *o, const float *res, int out_stride, bool relu)
{
    Tile<NB, PX> t(b);
    for (int ci = 0; ci < cin; ci++, w += w_stride)
        t.fma(x + ci, (size_t)in_stride, w);
    t.store(o, res, (size_t)out_stride, relu);
}

template <int NB>
void pointwise_chunk(const float *in, int npix, int cin, int in_stride, const float *w, int w_stride,
                     const float *b, float *out, const float *res, int out_stride, bool relu)
{
    constexpr int PX = NB >= 4 ? 2 : NB == 3 ? 3 : 4;
    int p = 0;
    for (; p + PX <= npix; p += PX)
        pointwise_tile<NB, PX>(in + (size_t)p * in_stride, cin, in_stride, w, w_stride, b,
                               out + (size_t)p * out_stride, res ? res + (size_t)p * out_stride : nullptr,
                               out_stride, relu);
    for (; p < npix; p++)
        pointwise_tile<NB, 1>(in + (size_t)p * in_stride, cin, in_stride, w, w_stride, b,
                              out + (size_t)p * out_stride, res ? res + (size_t)p * out_stride : nullptr,
                              out_stride, relu);
}
#endif

// 1x1 convolution: out[p][co] = b[co] + sum_ci in[p][ci] * w[ci][co] (+ res[p][co] when res
// is given: a block's residual, added before the Relu).
void pointwise(const float *in, int npix, int cin, int in_stride, const float *w, const float *b,
               int cout_p, float *out, const float *res, bool relu)
{
#ifdef BLAZENET_AVX2
    for (int co = 0; co < cout_p; co += 32) {
        const int nb = std::min(4, (cout_p - co) / 8);
        switch (nb) {
        case 4: pointwise_chunk<4>(in, npix, cin, in_stride, w + co, cout_p, b + co, out + co, res ? res + co : nullptr, cout_p, relu); break;
        case 3: pointwise_chunk<3>(in, npix, cin, in_stride, w + co, cout_p, b + co, out + co, res ? res + co : nullptr, cout_p, relu); break;
        case 2: pointwise_chunk<2>(in, npix, cin, in_stride, w + co, cout_p, b + co, out + co, res ? res + co : nullptr, cout_p, relu); break;
        default: pointwise_chunk<1>(in, npix, cin, in_stride, w + co, cout_p, b + co, out + co, res ? res + co : nullptr, cout_p, relu); break;
        }
    }
#else
    for (int p = 0; p < npix; p++) {
        float *o = out + (size_t)p * cout_p;
        const float *x = in + (size_t)p * in_stride;
        std::copy(b, b + cout_p, o);
        for (int ci = 0; ci < cin; ci++)
            for (int co = 0; co < cout_p; co++)
                o[co] += x[ci] * w[(size_t)ci * cout_p + co];
        if (res)
            for (int co = 0; co < cout_p; co++)
                o[co] += res[(size_t)p * cout_p + co];
        if (relu)
            for (int co = 0; co < cout_p; co++)
                o[co] = std::max(o[co], 0.f);
    }
#endif
}

struct ConvGeom {
    int h, w, oh, ow, kh, kw, sh, sw, pt, pl;
};

// One output row oy of a depthwise convolution over cp channels (w is [kh*kw][cp]) into
// out_row (g.ow x cp), one 8-channel block at a time with its weights in registers (3x3, the
// common case).
void depthwise_row(const float *in, int cp, const ConvGeom &g, const float *w, const float *b, int oy,
                   float *out_row, bool relu)
{
    {
        const int iy0 = oy * g.sh - g.pt;
        const int ky0 = std::max(0, -iy0), ky1 = std::min(g.kh, g.h - iy0);
        // Output columns whose taps are all inside the row: [ox_lo, ox_hi).
        const int ox_lo = std::min(g.ow, (g.pl + g.sw - 1) / g.sw);
        const int last = g.w - g.kw + g.pl; // the last column whose taps fit, times the stride
        const int ox_hi = last < 0 ? ox_lo : std::max(ox_lo, std::min(g.ow, last / g.sw + 1));
        for (int c = 0; c < cp; c += 8) {
            auto edge = [&](int ox) {
                const int ix0 = ox * g.sw - g.pl;
                const int kx0 = std::max(0, -ix0), kx1 = std::min(g.kw, g.w - ix0);
                float *o = out_row + (size_t)ox * cp + c;
#ifdef BLAZENET_AVX2
                __m256 acc = _mm256_loadu_ps(b + c);
                for (int ky = ky0; ky < ky1; ky++)
                    for (int kx = kx0; kx < kx1; kx++)
                        acc = _mm256_fmadd_ps(
                            _mm256_loadu_ps(in + ((size_t)(iy0 + ky) * g.w + (ix0 + kx)) * cp + c),
                            _mm256_loadu_ps(w + (size_t)(ky * g.kw + kx) * cp + c), acc);
                _mm256_storeu_ps(o, relu ? _mm256_max_ps(acc, _mm256_setzero_ps()) : acc);
#else
                for (int k = 0; k < 8; k++) {
                    float acc = b[c + k];
                    for (int ky = ky0; ky < ky1; ky++)
                        for (int kx = kx0; kx < kx1; kx++)
                            acc += in[((size_t)(iy0 + ky) * g.w + (ix0 + kx)) * cp + c + k] *
                                   w[(size_t)(ky * g.kw + kx) * cp + c + k];
                    o[k] = relu ? std::max(acc, 0.f) : acc;
                }
#endif
            };
            for (int ox = 0; ox < ox_lo; ox++)
                edge(ox);
#ifdef BLAZENET_AVX2
            if (g.kh == 3 && g.kw == 3 && ky0 == 0 && ky1 == 3) {
                __m256 wv[9];
                for (int k = 0; k < 9; k++)
                    wv[k] = _mm256_loadu_ps(w + (size_t)k * cp + c);
                const __m256 bias = _mm256_loadu_ps(b + c), zero = _mm256_setzero_ps();
                const size_t row = (size_t)g.w * cp, step = (size_t)g.sw * cp;
                const float *x = in + ((size_t)iy0 * g.w + (size_t)(ox_lo * g.sw - g.pl)) * cp + c;
                float *o = out_row + (size_t)ox_lo * cp + c;
                for (int ox = ox_lo; ox < ox_hi; ox++, x += step, o += cp) {
                    __m256 a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x), wv[0], bias);
                    __m256 a1 = _mm256_mul_ps(_mm256_loadu_ps(x + cp), wv[1]);
                    __m256 a2 = _mm256_mul_ps(_mm256_loadu_ps(x + 2 * cp), wv[2]);
                    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + row), wv[3], a0);
                    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + row + cp), wv[4], a1);
                    a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + row + 2 * cp), wv[5], a2);
                    a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + 2 * row), wv[6], a0);
                    a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + 2 * row + cp), wv[7], a1);
                    a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + 2 * row + 2 * cp), wv[8], a2);
                    __m256 acc = _mm256_add_ps(_mm256_add_ps(a0, a1), a2);
                    if (relu)
                        acc = _mm256_max_ps(acc, zero);
                    _mm256_storeu_ps(o, acc);
                }
            } else
#endif
                for (int ox = ox_lo; ox < ox_hi; ox++)
                    edge(ox);
            for (int ox = ox_hi; ox < g.ow; ox++)
                edge(ox);
        }
    }
}

void depthwise(const float *in, int cp, const ConvGeom &g, const float *w, const float *b, float *out,
               bool relu)
{
    for (int oy = 0; oy < g.oh; oy++)
        depthwise_row(in, cp, g, w, b, oy, out + (size_t)oy * g.ow * cp, relu);
}

#ifdef BLAZENET_AVX2
// The stem's full convolution for one block of NB x 8 output channels, PX horizontally
// adjacent output pixels at a time (their taps are all inside the row).
template <int NB, int PX>
inline void conv_full_tile(const float *in, int cin, int in_stride, const ConvGeom &g, const float *w,
                           const float *b, int cout_p, float *o, int iy0, int ky0, int ky1, int ix0,
                           int kx0, int kx1, bool relu)
{
    Tile<NB, PX> t(b);
    const size_t xstep = (size_t)g.sw * in_stride;
    for (int ky = ky0; ky < ky1; ky++) {
        const float *x = in + ((size_t)(iy0 + ky) * g.w + (ix0 + kx0)) * in_stride;
        const float *wp = w + ((size_t)(ky * g.kw + kx0) * cin) * cout_p;
        const int n = (kx1 - kx0) * cin; // the row's taps are contiguous in both
        for (int k = 0; k < n; k++, wp += cout_p)
            t.fma(x + k, xstep, wp);
    }
    t.store(o, nullptr, (size_t)cout_p, relu);
}

template <int NB>
void conv_full_chunk(const float *in, int cin, int in_stride, const ConvGeom &g, const float *w,
                     const float *b, int cout_p, float *out, bool relu)
{
    constexpr int PX = NB >= 4 ? 2 : NB == 3 ? 3 : 4;
    for (int oy = 0; oy < g.oh; oy++) {
        const int iy0 = oy * g.sh - g.pt;
        const int ky0 = std::max(0, -iy0), ky1 = std::min(g.kh, g.h - iy0);
        int ox = 0;
        while (ox < g.ow) {
            const int ix0 = ox * g.sw - g.pl;
            const int kx0 = std::max(0, -ix0), kx1 = std::min(g.kw, g.w - ix0);
            float *o = out + ((size_t)oy * g.ow + ox) * cout_p;
            // PX pixels share the tap range when the first is inside on the left and the last
            // on the right.
            const int last = ix0 + (PX - 1) * g.sw;
            if (kx0 == 0 && ox + PX <= g.ow && last + g.kw <= g.w) {
                conv_full_tile<NB, PX>(in, cin, in_stride, g, w, b, cout_p, o, iy0, ky0, ky1, ix0, 0, g.kw, relu);
                ox += PX;
            } else {
                conv_full_tile<NB, 1>(in, cin, in_stride, g, w, b, cout_p, o, iy0, ky0, ky1, ix0, kx0, kx1, relu);
                ox++;
            }
        }
    }
}
#endif

// Full convolution (the stem: few input channels); w is [kh][kw][cin][cout_p].
void conv_full(const float *in, int cin, int in_stride, const ConvGeom &g, const float *w,
               const float *b, int cout_p, float *out, bool relu)
{
#ifdef BLAZENET_AVX2
    if (in_stride == cin) {
        for (int co = 0; co < cout_p; co += 32) {
            switch (std::min(4, (cout_p - co) / 8)) {
            case 4: conv_full_chunk<4>(in, cin, in_stride, g, w + co, b + co, cout_p, out + co, relu); break;
            case 3: conv_full_chunk<3>(in, cin, in_stride, g, w + co, b + co, cout_p, out + co, relu); break;
            case 2: conv_full_chunk<2>(in, cin, in_stride, g, w + co, b + co, cout_p, out + co, relu); break;
            default: conv_full_chunk<1>(in, cin, in_stride, g, w + co, b + co, cout_p, out + co, relu); break;
            }
        }
        return;
    }
#endif
    for (int oy = 0; oy < g.oh; oy++) {
        const int iy0 = oy * g.sh - g.pt;
        const int ky0 = std::max(0, -iy0), ky1 = std::min(g.kh, g.h - iy0);
        for (int ox = 0; ox < g.ow; ox++) {
            const int ix0 = ox * g.sw - g.pl;
            const int kx0 = std::max(0, -ix0), kx1 = std::min(g.kw, g.w - ix0);
            float *o = out + ((size_t)oy * g.ow + ox) * cout_p;
            for (int co = 0; co < cout_p; co += 32) {
                const int n = std::min(32, cout_p - co);
                float acc[32];
                std::copy(b + co, b + co + n, acc);
                for (int ky = ky0; ky < ky1; ky++)
                    for (int kx = kx0; kx < kx1; kx++) {
                        const float *x = in + ((size_t)(iy0 + ky) * g.w + (ix0 + kx)) * in_stride;
                        const float *wp = w + ((size_t)(ky * g.kw + kx) * cin) * cout_p + co;
                        for (int ci = 0; ci < cin; ci++, wp += cout_p) {
                            const float v = x[ci];
                            for (int j = 0; j < n; j++)
                                acc[j] += v * wp[j];
                        }
                    }
                for (int j = 0; j < n; j++)
                    o[co + j] = relu ? std::max(acc[j], 0.f) : acc[j];
            }
        }
    }
}

void add(const float *a, const float *b, size_t n, float *out, bool relu)
{
    size_t i = 0;
#ifdef BLAZENET_AVX2
    const __m256 zero = _mm256_setzero_ps();
    for (; i + 8 <= n; i += 8) {
        __m256 s = _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        if (relu)
            s = _mm256_max_ps(s, zero);
        _mm256_storeu_ps(out + i, s);
    }
#endif
    for (; i < n; i++) {
        const float s = a[i] + b[i];
        out[i] = relu ? std::max(s, 0.f) : s;
    }
}

void relu_copy(const float *a, size_t n, float *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = std::max(a[i], 0.f);
}

// 2x2 max pooling with stride 2 and no padding (a trailing odd row or column is dropped).
void maxpool2(const float *in, int w, int cp, float *out, int oh, int ow)
{
    for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++) {
            const float *r0 = in + ((size_t)(2 * oy) * w + 2 * ox) * cp, *r1 = r0 + (size_t)w * cp;
            float *o = out + ((size_t)oy * ow + ox) * cp;
            for (int c = 0; c < cp; c++)
                o[c] = std::max(std::max(r0[c], r0[cp + c]), std::max(r1[c], r1[cp + c]));
        }
}

// Channel padding: the first cp_in channels copied (their own padding is zero), the rest zero.
void pad_channels(const float *in, int npix, int cp_in, int cp_out, float *out)
{
    for (int p = 0; p < npix; p++) {
        std::memcpy(out + (size_t)p * cp_out, in + (size_t)p * cp_in, (size_t)cp_in * sizeof(float));
        std::fill(out + (size_t)p * cp_out + cp_in, out + (size_t)(p + 1) * cp_out, 0.f);
    }
}

} // namespace

// ---- the planned network ----

struct Value {
    enum Layout { NHWC, NCHW, FLAT };
    int h = 0, w = 0, c = 0, cp = 0; // cp: channel stride in memory
    bool zeros = false;              // a ConstantOfShape of zeros, never stored
    Layout layout = NCHW;
    int storage = -1;
};

// Block: a depthwise convolution, then a 1x1 convolution of its output, then (when in1 >= 0)
// the residual in1 added, then Relu: BlazeFace's building block, run row by row so the
// depthwise output and the sums never leave the cache.
enum class Op { Pointwise, Depthwise, ConvFull, Add, Relu, MaxPool, PadChannels, Block };

struct Step {
    Op op;
    int in0 = -1, in1 = -1, out = -1;
    bool relu = false;
    ConvGeom g{};
    int cin = 0;
    std::vector<float> w, b;
    std::vector<float> w2, b2; // Block: the 1x1 convolution
};

// The planned graph: what Model holds. Written only while load() builds it; read-only after,
// so Nets on several threads share it. A Net's writable state is Net::Scratch below.
struct Model::Impl {
    std::vector<Value> values;
    std::vector<Step> steps;          // with their (repacked) weights
    std::vector<int> storage_buffer;  // storage -> buffer
    std::vector<size_t> buffer_sizes; // floats per buffer
    struct Out {
        std::string name;
        int value;
    };
    std::vector<Out> outputs;
    int input = -1;
    size_t row_size = 0; // floats of one Block's depthwise output row

    struct Builder;
    void build(const std::vector<Io> &inputs, const std::map<std::string, Tensor> &inits,
               const std::vector<Node> &nodes, const std::vector<std::string> &outs);
};

// One Net's activations: the buffers of the model's plan, the Block row and the compacted
// outputs. Written by every forward() and output().
struct Net::Scratch {
    const Model::Impl &m;
    std::vector<std::vector<float>> buffers;
    std::vector<float> row;
    std::vector<std::vector<float>> compact; // per output, when its channels are padded

    explicit Scratch(const Model::Impl &model) : m(model), buffers(model.buffer_sizes.size()),
        row(model.row_size, 0.f), compact(model.outputs.size())
    {
        for (size_t b = 0; b < buffers.size(); b++)
            buffers[b].assign(model.buffer_sizes[b], 0.f);
    }
    float *data(int v) { return buffers[(size_t)m.storage_buffer[(size_t)m.values[(size_t)v].storage]].data(); }
};

// The graph, lowered in named steps: the one image input, then node by node into Steps
// (each supported operator has its method), then depthwise -> 1x1 (-> Add) fused into
// Blocks, then every storage given a reused buffer. The Builder holds what the steps
// share; the results go straight into the Impl.
struct Model::Impl::Builder {
    Impl &net;
    const std::map<std::string, Tensor> &inits;
    std::vector<Value> &values;
    std::vector<Step> &steps;
    std::map<std::string, int> ids;  // tensor name -> value
    std::map<std::string, int> uses; // tensor name -> readers among nodes and outputs
    int nstorage = 0;

    Builder(Impl &impl, const std::map<std::string, Tensor> &initializers)
        : net(impl), inits(initializers), values(impl.values), steps(impl.steps)
    {
    }

    // Counts the readers of every tensor (a Relu fuses into its producer only when it is
    // that tensor's one reader).
    void count_uses(const std::vector<Node> &nodes, const std::vector<std::string> &outs)
    {
        for (const Node &n : nodes)
            for (const std::string &s : n.in)
                uses[s]++;
        for (const std::string &s : outs)
            uses[s]++;
    }

    // The one graph input that is not a constant: an NHWC image [1,H,W,C].
    void add_input(const std::vector<Io> &inputs)
    {
        const Io *in = nullptr;
        for (const Io &i : inputs)
            if (!inits.count(i.name)) {
                if (in)
                    fail("more than one graph input");
                in = &i;
            }
        if (!in || in->dims.size() != 4 || (in->dims[0] != 1 && in->dims[0] != -1) || in->dims[1] <= 0 ||
            in->dims[2] <= 0 || in->dims[3] <= 0 || in->dims[1] > 4096 || in->dims[2] > 4096 ||
            in->dims[3] > 8)
            fail("the graph input must be one NHWC image [1,H,W,C]");
        Value iv;
        iv.h = (int)in->dims[1];
        iv.w = (int)in->dims[2];
        iv.c = iv.cp = (int)in->dims[3];
        iv.layout = Value::NHWC;
        iv.storage = nstorage++;
        values.push_back(iv);
        net.input = 0;
        ids[in->name] = 0;
    }

    int value_of(const Node &n, size_t k)
    {
        if (k >= n.in.size())
            fail("node '" + n.name + "': missing input");
        auto it = ids.find(n.in[k]);
        if (it == ids.end())
            fail("node '" + n.name + "': input '" + n.in[k] + "' is not computed before it");
        return it->second;
    }

    const Tensor &init_of(const Node &n, size_t k)
    {
        if (k >= n.in.size())
            fail("node '" + n.name + "': missing input");
        auto it = inits.find(n.in[k]);
        if (it == inits.end())
            fail("node '" + n.name + "': input '" + n.in[k] + "' must be a constant");
        return it->second;
    }

    void new_value(const Node &n, Value v)
    {
        v.storage = v.zeros ? -1 : nstorage++;
        values.push_back(v);
        ids[n.out[0]] = (int)values.size() - 1;
    }

    void alias(const Node &n, int src, Value::Layout layout)
    {
        Value v = values[(size_t)src];
        v.layout = layout;
        values.push_back(v);
        ids[n.out[0]] = (int)values.size() - 1;
    }

    Value activation(const Node &n, int v)
    {
        const Value &x = values[(size_t)v];
        if (x.zeros || x.layout != Value::NCHW)
            fail("node '" + n.name + "': unsupported input layout");
        return x;
    }

    void transpose(const Node &n)
    {
        const int v = value_of(n, 0);
        const std::vector<int64_t> perm = n.ints("perm", {});
        const Value::Layout from = values[(size_t)v].layout;
        if (perm == std::vector<int64_t>{0, 3, 1, 2} && from == Value::NHWC)
            alias(n, v, Value::NCHW);
        else if (perm == std::vector<int64_t>{0, 2, 3, 1} && from == Value::NCHW)
            alias(n, v, Value::NHWC);
        else
            fail("node '" + n.name + "': unsupported Transpose");
    }

    void reshape(const Node &n)
    {
        const int v = value_of(n, 0);
        const Tensor &shape = init_of(n, 1);
        const Value &x = values[(size_t)v];
        if (x.layout != Value::NHWC || x.zeros || shape.dtype != T_INT64)
            fail("node '" + n.name + "': unsupported Reshape");
        int64_t prod = 1;
        for (int64_t d : shape.i) {
            if (d < 1 || d > (1 << 24) || prod > ((int64_t)1 << 32))
                fail("node '" + n.name + "': unsupported Reshape shape");
            prod *= d;
        }
        if (prod != (int64_t)x.h * x.w * x.c)
            fail("node '" + n.name + "': Reshape changes the element count");
        alias(n, v, Value::FLAT);
    }

    void conv(const Node &n)
    {
        const Value x = activation(n, value_of(n, 0));
        const int xv = ids[n.in[0]];
        const Tensor &W = init_of(n, 1);
        if (W.dtype != T_FLOAT || W.dims.size() != 4)
            fail("node '" + n.name + "': weights must be float [Co,Ci/g,kh,kw]");
        const int co = (int)W.dims[0], cig = (int)W.dims[1], kh = (int)W.dims[2], kw = (int)W.dims[3];
        std::vector<float> bias((size_t)co, 0.f);
        if (n.in.size() > 2 && !n.in[2].empty()) {
            const Tensor &B = init_of(n, 2);
            if (B.dtype != T_FLOAT || B.count() != (size_t)co)
                fail("node '" + n.name + "': bad bias");
            bias = B.f;
        }
        const std::vector<int64_t> groups = n.ints("group", {1});
        if (groups.size() != 1)
            fail("node '" + n.name + "': bad group attribute");
        const int64_t group = groups[0];
        const std::vector<int64_t> strides = n.ints("strides", {1, 1});
        const std::vector<int64_t> pads = n.ints("pads", {0, 0, 0, 0});
        const std::vector<int64_t> dil = n.ints("dilations", {1, 1});
        const Attr *ap = n.attr("auto_pad");
        if ((ap && !ap->s.empty() && ap->s != "NOTSET") || strides.size() != 2 || pads.size() != 4 ||
            dil != std::vector<int64_t>{1, 1} || kh < 1 || kw < 1 || kh > 7 || kw > 7 ||
            strides[0] < 1 || strides[1] < 1 || strides[0] > 4 || strides[1] > 4)
            fail("node '" + n.name + "': unsupported Conv attributes");
        for (int64_t p : pads)
            if (p < 0 || p > 7)
                fail("node '" + n.name + "': unsupported Conv padding");
        ConvGeom g{x.h, x.w, 0, 0, kh, kw, (int)strides[0], (int)strides[1], (int)pads[0], (int)pads[1]};
        const int eh = x.h + (int)pads[0] + (int)pads[2], ew = x.w + (int)pads[1] + (int)pads[3];
        if (eh < kh || ew < kw)
            fail("node '" + n.name + "': kernel larger than its input");
        g.oh = (eh - kh) / g.sh + 1;
        g.ow = (ew - kw) / g.sw + 1;
        Step s;
        s.in0 = xv;
        s.g = g;
        s.cin = x.c;
        const int cop = round8(co);
        Value y;
        y.h = g.oh;
        y.w = g.ow;
        y.c = co;
        y.cp = cop;
        if (group == 1 && kh == 1 && kw == 1 && g.sh == 1 && g.sw == 1 && g.pt == 0 && g.pl == 0 &&
            pads[2] == 0 && pads[3] == 0) {
            if (cig != x.c)
                fail("node '" + n.name + "': channel mismatch");
            s.op = Op::Pointwise;
            s.w.assign((size_t)x.c * cop, 0.f);
            for (int o = 0; o < co; o++)
                for (int i = 0; i < x.c; i++)
                    s.w[(size_t)i * cop + o] = W.f[(size_t)o * cig + i];
        } else if (group == x.c && cig == 1 && co == x.c) {
            // The kernel works on 8-channel blocks: the input's stride must be padded.
            if (x.cp % 8 != 0)
                fail("node '" + n.name + "': depthwise convolution of an unpadded tensor");
            s.op = Op::Depthwise;
            s.w.assign((size_t)kh * kw * cop, 0.f);
            for (int c = 0; c < co; c++)
                for (int k = 0; k < kh * kw; k++)
                    s.w[(size_t)k * cop + c] = W.f[(size_t)c * kh * kw + k];
        } else if (group == 1 && cig == x.c) {
            s.op = Op::ConvFull;
            s.w.assign((size_t)kh * kw * x.c * cop, 0.f);
            for (int o = 0; o < co; o++)
                for (int i = 0; i < x.c; i++)
                    for (int k = 0; k < kh * kw; k++)
                        s.w[((size_t)k * x.c + i) * cop + o] = W.f[((size_t)o * cig + i) * kh * kw + k];
        } else {
            fail("node '" + n.name + "': unsupported Conv grouping");
        }
        s.b.assign((size_t)cop, 0.f);
        std::copy(bias.begin(), bias.end(), s.b.begin());
        new_value(n, y);
        s.out = ids[n.out[0]];
        steps.push_back(std::move(s));
    }

    void relu(const Node &n)
    {
        const int v = value_of(n, 0);
        const Value x = activation(n, v);
        // Fused into the layer that produced it when nothing else reads that layer.
        if (!steps.empty() && steps.back().out == v && !steps.back().relu && uses[n.in[0]] == 1 &&
            steps.back().op != Op::MaxPool && steps.back().op != Op::PadChannels) {
            steps.back().relu = true;
            ids[n.out[0]] = v;
            return;
        }
        Step s;
        s.op = Op::Relu;
        s.in0 = v;
        new_value(n, x);
        s.out = ids[n.out[0]];
        steps.push_back(std::move(s));
    }

    void add_(const Node &n)
    {
        const int a = value_of(n, 0), b = value_of(n, 1);
        const Value x = activation(n, a), y = activation(n, b);
        if (x.h != y.h || x.w != y.w || x.c != y.c || x.cp != y.cp)
            fail("node '" + n.name + "': Add of different shapes");
        Step s;
        s.op = Op::Add;
        s.in0 = a;
        s.in1 = b;
        new_value(n, x);
        s.out = ids[n.out[0]];
        steps.push_back(std::move(s));
    }

    void maxpool(const Node &n)
    {
        const int v = value_of(n, 0);
        const Value x = activation(n, v);
        if (n.ints("kernel_shape", {}) != std::vector<int64_t>{2, 2} ||
            n.ints("strides", {1, 1}) != std::vector<int64_t>{2, 2} ||
            n.ints("pads", {0, 0, 0, 0}) != std::vector<int64_t>{0, 0, 0, 0} ||
            n.ints("ceil_mode", {0}) != std::vector<int64_t>{0} || x.h < 2 || x.w < 2)
            fail("node '" + n.name + "': only 2x2 max pooling with stride 2 is supported");
        Value y = x;
        y.h = x.h / 2;
        y.w = x.w / 2;
        Step s;
        s.op = Op::MaxPool;
        s.in0 = v;
        new_value(n, y);
        s.out = ids[n.out[0]];
        steps.push_back(std::move(s));
    }

    void constant_of_shape(const Node &n)
    {
        const Tensor &shape = init_of(n, 0);
        if (shape.dtype != T_INT64 || shape.i.size() != 4 || shape.i[0] != 1)
            fail("node '" + n.name + "': unsupported ConstantOfShape");
        const Attr *val = n.attr("value");
        if (val && val->has_t) {
            if (val->t.dtype != T_FLOAT)
                fail("node '" + n.name + "': ConstantOfShape must be float zeros");
            for (float f : val->t.f)
                if (f != 0.f)
                    fail("node '" + n.name + "': ConstantOfShape must be float zeros");
        }
        for (int k = 1; k < 4; k++)
            if (shape.i[(size_t)k] <= 0 || shape.i[(size_t)k] > 4096)
                fail("node '" + n.name + "': bad shape");
        Value z;
        z.zeros = true;
        z.c = (int)shape.i[1];
        z.h = (int)shape.i[2];
        z.w = (int)shape.i[3];
        new_value(n, z);
    }

    void concat(const Node &n)
    {
        if (n.in.size() != 2)
            fail("node '" + n.name + "': only Concat(x, zeros) is supported");
        const std::vector<int64_t> axis = n.ints("axis", {});
        const int v = value_of(n, 0), zv = value_of(n, 1);
        const Value x = activation(n, v), &z = values[(size_t)zv];
        if (axis.size() != 1 || (axis[0] != 1 && axis[0] != -3) || !z.zeros || z.h != x.h || z.w != x.w)
            fail("node '" + n.name + "': only a channel Concat(x, zeros) is supported");
        Value y = x;
        y.c = x.c + z.c;
        y.cp = round8(y.c);
        Step s;
        s.op = Op::PadChannels;
        s.in0 = v;
        new_value(n, y);
        s.out = ids[n.out[0]];
        steps.push_back(std::move(s));
    }

    // Every node, in order, into Steps.
    void lower(const std::vector<Node> &nodes)
    {
        for (const Node &n : nodes) {
            if (n.op == "Transpose")
                transpose(n);
            else if (n.op == "Reshape")
                reshape(n);
            else if (n.op == "Conv")
                conv(n);
            else if (n.op == "Relu")
                relu(n);
            else if (n.op == "Add")
                add_(n);
            else if (n.op == "MaxPool")
                maxpool(n);
            else if (n.op == "ConstantOfShape")
                constant_of_shape(n);
            else if (n.op == "Concat")
                concat(n);
            else
                fail("unsupported operator " + n.op + " (node '" + n.name + "')");
        }
    }

    void fuse_blocks(const std::vector<std::string> &outs)
    {
        // Fuse depthwise -> 1x1 (-> Add) into Blocks when nothing else reads the intermediates.
        // Readers are counted per storage: a Transpose or Reshape reads through another value id
        // on the same storage.
        std::map<int, int> readers;
        auto storage_of = [&](int v) { return values[(size_t)v].storage; };
        for (const Step &st : steps)
            for (int v : {st.in0, st.in1})
                if (v >= 0)
                    readers[storage_of(v)]++;
        for (const std::string &o : outs)
            if (ids.count(o))
                readers[storage_of(ids[o])]++;
        std::vector<Step> fused;
        size_t max_row = 0;
        for (size_t k = 0; k < steps.size(); k++) {
            Step &d = steps[k];
            if (d.op == Op::Depthwise && !d.relu && k + 1 < steps.size() && steps[k + 1].op == Op::Pointwise &&
                steps[k + 1].in0 == d.out && readers[storage_of(d.out)] == 1) {
                Step &pw = steps[k + 1];
                Step blk;
                blk.op = Op::Block;
                blk.in0 = d.in0;
                blk.g = d.g;
                blk.cin = pw.cin;
                blk.w = std::move(d.w);
                blk.b = std::move(d.b);
                blk.w2 = std::move(pw.w);
                blk.b2 = std::move(pw.b);
                blk.out = pw.out;
                blk.relu = pw.relu;
                k++;
                if (!blk.relu && k + 1 < steps.size() && steps[k + 1].op == Op::Add && readers[storage_of(pw.out)] == 1 &&
                    (steps[k + 1].in0 == pw.out || steps[k + 1].in1 == pw.out)) {
                    const Step &ad = steps[k + 1];
                    blk.in1 = ad.in0 == pw.out ? ad.in1 : ad.in0;
                    blk.out = ad.out;
                    blk.relu = ad.relu;
                    k++;
                }
                const Value &dv = values[(size_t)d.out];
                max_row = std::max(max_row, (size_t)dv.w * dv.cp);
                fused.push_back(std::move(blk));
                continue;
            }
            fused.push_back(std::move(d));
        }
        steps = std::move(fused);
        net.row_size = max_row;
    }

    void assign_buffers(const std::vector<std::string> &outs)
    {
        // Buffers: a storage lives from the step that writes it to its last reader; outputs live
        // to the end. Greedy reuse of the smallest free buffer that fits.
        std::vector<int> last_use((size_t)nstorage, -1);
        for (size_t k = 0; k < steps.size(); k++)
            for (int v : {steps[k].in0, steps[k].in1})
                if (v >= 0 && values[(size_t)v].storage >= 0)
                    last_use[(size_t)values[(size_t)v].storage] = (int)k;
        for (const std::string &o : outs) {
            auto it = ids.find(o);
            if (it == ids.end())
                fail("graph output '" + o + "' is not computed");
            const Value &v = values[(size_t)it->second];
            if (v.zeros || v.storage < 0 || v.layout != Value::FLAT)
                fail("graph output '" + o + "' must be a reshaped NHWC tensor");
            last_use[(size_t)v.storage] = INT_MAX;
            net.outputs.push_back({o, it->second});
        }
        std::vector<size_t> need((size_t)nstorage, 0);
        for (const Value &v : values)
            if (v.storage >= 0)
                need[(size_t)v.storage] = std::max(need[(size_t)v.storage], (size_t)v.h * v.w * v.cp);
        net.storage_buffer.assign((size_t)nstorage, -1);
        std::vector<size_t> cap;
        std::vector<int> free_list;
        auto take = [&](int st) {
            int best = -1;
            for (int b : free_list)
                if (cap[(size_t)b] >= need[(size_t)st] && (best < 0 || cap[(size_t)b] < cap[(size_t)best]))
                    best = b;
            if (best < 0 && !free_list.empty()) { // grow the largest free one
                best = free_list[0];
                for (int b : free_list)
                    if (cap[(size_t)b] > cap[(size_t)best])
                        best = b;
            }
            if (best < 0) {
                best = (int)cap.size();
                cap.push_back(0);
            } else {
                free_list.erase(std::find(free_list.begin(), free_list.end(), best));
            }
            cap[(size_t)best] = std::max(cap[(size_t)best], need[(size_t)st]);
            net.storage_buffer[(size_t)st] = best;
        };
        std::vector<bool> released((size_t)nstorage, false);
        take(values[(size_t)net.input].storage);
        for (size_t k = 0; k < steps.size(); k++) {
            for (int st = 0; st < nstorage; st++)
                if (net.storage_buffer[(size_t)st] >= 0 && !released[(size_t)st] && last_use[(size_t)st] < (int)k) {
                    released[(size_t)st] = true;
                    free_list.push_back(net.storage_buffer[(size_t)st]);
                }
            take(values[(size_t)steps[k].out].storage);
        }
        // Every storage a step or an output reads must have been given a buffer.
        for (const Step &st : steps)
            for (int v : {st.in0, st.in1, st.out})
                if (v >= 0 && (values[(size_t)v].storage < 0 || net.storage_buffer[(size_t)values[(size_t)v].storage] < 0))
                    fail("internal: a tensor without a buffer");
        for (const Out &o : net.outputs)
            if (net.storage_buffer[(size_t)values[(size_t)o.value].storage] < 0)
                fail("internal: an output without a buffer");
        size_t total = 0;
        for (size_t c : cap)
            total += c;
        if (total > ((size_t)64 << 20)) // floats: 256 MB; BlazeFace-256 needs about 2 MB
            fail("the graph's activations are too large");
        net.buffer_sizes = cap;
    }
};

void Model::Impl::build(const std::vector<Io> &inputs, const std::map<std::string, Tensor> &inits,
                        const std::vector<Node> &nodes, const std::vector<std::string> &outs)
{
    Builder b(*this, inits);
    b.count_uses(nodes, outs);
    b.add_input(inputs);
    b.lower(nodes);
    b.fuse_blocks(outs);
    b.assign_buffers(outs);
}

Model::Model() : d_(new Impl) {}
Model::~Model() = default;

std::shared_ptr<const Model> Model::load(const std::string &path)
{
    std::vector<Io> inputs;
    std::map<std::string, Tensor> inits;
    std::vector<Node> nodes;
    std::vector<std::string> outs;
    {
        std::ifstream f(path, std::ios::binary);
        if (!f)
            fail("cannot open " + path);
        const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
        Pb model{bytes.data(), bytes.data() + bytes.size()};
        bool has_graph = false;
        while (model.more()) {
            int wt;
            if (model.key(wt) != 7) {
                model.skip(wt);
                continue;
            }
            want(wt, 2);
            has_graph = true;
            Pb g = model.sub();
            while (g.more()) {
                int gw;
                switch (g.key(gw)) {
                case 1: want(gw, 2); nodes.push_back(read_node(g.sub())); break;
                case 5: {
                    want(gw, 2);
                    Tensor t = read_tensor(g.sub());
                    std::string name = t.name;
                    inits[name] = std::move(t);
                    break;
                }
                case 11: want(gw, 2); inputs.push_back(read_value_info(g.sub())); break;
                case 12: want(gw, 2); outs.push_back(read_value_info(g.sub()).name); break;
                default: g.skip(gw);
                }
            }
        }
        if (!has_graph || nodes.empty() || outs.empty())
            fail(path + ": no graph");
    } // the file's bytes go before the plan is built
    std::shared_ptr<Model> m(new Model);
    m->d_->build(inputs, inits, nodes, outs);
    return m;
}

int Model::in_h() const
{
    return d_->values.empty() ? 0 : d_->values[0].h;
}
int Model::in_w() const
{
    return d_->values.empty() ? 0 : d_->values[0].w;
}
int Model::in_c() const
{
    return d_->values.empty() ? 0 : d_->values[0].c;
}

size_t Model::activation_bytes() const
{
    size_t n = d_->row_size;
    for (size_t b : d_->buffer_sizes)
        n += b;
    return n * sizeof(float);
}

Net::Net() = default;
Net::Net(std::shared_ptr<const Model> model) : model_(std::move(model))
{
    if (model_)
        s_ = std::make_unique<Scratch>(*model_->d_);
}
Net::~Net() = default;
Net::Net(Net &&) noexcept = default;
Net &Net::operator=(Net &&) noexcept = default;

void Net::load(const std::string &path)
{
    *this = Net(Model::load(path));
}

bool Net::loaded() const
{
    return model_ && !model_->d_->steps.empty();
}
int Net::in_h() const
{
    return model_ ? model_->in_h() : 0;
}
int Net::in_w() const
{
    return model_ ? model_->in_w() : 0;
}
int Net::in_c() const
{
    return model_ ? model_->in_c() : 0;
}

float *Net::input()
{
    return !s_ || s_->m.values.empty() ? nullptr : s_->data(s_->m.input);
}

void Net::forward()
{
    if (!s_)
        return;
    Scratch &sc = *s_;
    const Model::Impl &m = sc.m;
    for (const Step &s : m.steps) {
        const Value &x = m.values[(size_t)s.in0];
        const Value &y = m.values[(size_t)s.out];
        const float *in = sc.data(s.in0);
        float *out = sc.data(s.out);
        switch (s.op) {
        case Op::Pointwise:
            pointwise(in, x.h * x.w, s.cin, x.cp, s.w.data(), s.b.data(), y.cp, out, nullptr, s.relu);
            break;
        case Op::Depthwise: depthwise(in, x.cp, s.g, s.w.data(), s.b.data(), out, s.relu); break;
        case Op::ConvFull: conv_full(in, s.cin, x.cp, s.g, s.w.data(), s.b.data(), y.cp, out, s.relu); break;
        case Op::Add: add(in, sc.data(s.in1), (size_t)x.h * x.w * x.cp, out, s.relu); break;
        case Op::Relu: relu_copy(in, (size_t)x.h * x.w * x.cp, out); break;
        case Op::MaxPool: maxpool2(in, x.w, x.cp, out, y.h, y.w); break;
        case Op::PadChannels: pad_channels(in, x.h * x.w, x.cp, y.cp, out); break;
        case Op::Block: {
            const float *res = s.in1 >= 0 ? sc.data(s.in1) : nullptr;
            const size_t stride = (size_t)y.w * y.cp;
            for (int oy = 0; oy < s.g.oh; oy++) {
                depthwise_row(in, x.cp, s.g, s.w.data(), s.b.data(), oy, sc.row.data(), false);
                pointwise(sc.row.data(), y.w, s.cin, x.cp, s.w2.data(), s.b2.data(), y.cp, out + oy * stride,
                          res ? res + oy * stride : nullptr, s.relu);
            }
            break;
        }
        }
    }
}

const float *Net::output(const std::string &name, size_t *count)
{
    if (!s_)
        return nullptr;
    const Model::Impl &m = s_->m;
    for (size_t k = 0; k < m.outputs.size(); k++) {
        const Model::Impl::Out &o = m.outputs[k];
        if (o.name != name)
            continue;
        const Value &v = m.values[(size_t)o.value];
        const size_t npix = (size_t)v.h * v.w;
        if (count)
            *count = npix * (size_t)v.c;
        const float *src = s_->data(o.value);
        if (v.c == v.cp)
            return src;
        std::vector<float> &compact = s_->compact[k];
        compact.resize(npix * (size_t)v.c);
        for (size_t p = 0; p < npix; p++)
            std::memcpy(compact.data() + p * (size_t)v.c, src + p * (size_t)v.cp, (size_t)v.c * sizeof(float));
        return compact.data();
    }
    return nullptr;
}

} // namespace eng_nn

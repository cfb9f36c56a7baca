/* The train benchmark's hand-tuned C yardstick: the same workload and arithmetic as
 * yardstick.c (one hidden relu layer on 1-D inputs, output bias and skip, rademacher
 * label noise, batch 1), written the way the "hand-tuned AVX-512 loop" is
 * described: one sweep over the parameters per step. The sample index and noise of
 * step t+1 are drawn before step t's update, so the update of step t and the forward
 * pass of step t+1 share the sweep; AVX-512 intrinsics, 8 doubles per vector, four
 * partial sums for the next forward pass, m padded to a multiple of 32 with zero
 * units (a zero unit contributes nothing and stays zero). Compiled by benches/train.rs
 * with `cc -O3 -mavx512f -mfma` when the CPU has AVX-512F.
 * Usage: yardstick_avx512 M STEPS SCALE; prints ns/step and a checksum. */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t s[4];
static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static inline uint64_t next(void) {
    uint64_t r = rotl(s[0] + s[3], 23) + s[0], t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45);
    return r;
}
static inline uint64_t splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull; z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* h(x) = bout + sk x + sum_j c_j relu(a_j x + b_j), by vectors. */
static double forward(const double *a, const double *b, const double *c, int mp, double x,
                      double bout, double sk) {
    __m512d xv = _mm512_set1_pd(x), zero = _mm512_setzero_pd();
    __m512d acc[4] = {zero, zero, zero, zero};
    for (int j = 0; j < mp; j += 32)
        for (int k = 0; k < 4; k++) {
            __m512d u = _mm512_fmadd_pd(_mm512_load_pd(a + j + 8 * k), xv, _mm512_load_pd(b + j + 8 * k));
            acc[k] = _mm512_fmadd_pd(_mm512_load_pd(c + j + 8 * k), _mm512_max_pd(u, zero), acc[k]);
        }
    __m512d sum = _mm512_add_pd(_mm512_add_pd(acc[0], acc[1]), _mm512_add_pd(acc[2], acc[3]));
    return bout + sk * x + _mm512_reduce_add_pd(sum);
}

int main(int argc, char **argv) {
    int m = argc > 1 ? atoi(argv[1]) : 256;
    long steps = argc > 2 ? atol(argv[2]) : 1000000;
    double scale = argc > 3 ? atof(argv[3]) : 1.0;
    const double X[12] = {-2.75, -2.25, -1.75, -1.25, -0.75, -0.25, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75};
    const double Y[12] = {-0.3, 0.3, 0.9, 1.0, 0.6, 0.2, 0.25, 0.75, 1.25, 1.35, 1.05, 0.75};
    uint64_t seed = 1;
    for (int k = 0; k < 4; k++) s[k] = splitmix(&seed);
    int mp = (m + 31) / 32 * 32;
    double *a = aligned_alloc(64, 8 * mp), *b = aligned_alloc(64, 8 * mp), *c = aligned_alloc(64, 8 * mp);
    memset(a, 0, 8 * mp); memset(b, 0, 8 * mp); memset(c, 0, 8 * mp);
    for (int j = 0; j < m; j++) {
        a[j] = scale * (2.0 * ((next() >> 11) * 0x1p-53) - 1.0);
        b[j] = scale * (2.0 * ((next() >> 11) * 0x1p-53) - 1.0);
        c[j] = scale * (2.0 * ((next() >> 11) * 0x1p-53) - 1.0) / sqrt((double)m);
    }
    double bout = 0.1, sk = 0.2, lr = 1e-3, sigma = 0.5;
    const __m512d zero = _mm512_setzero_pd();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int i = (int)(((unsigned __int128)next() * 12u) >> 64);
    double z = (next() >> 63) ? -sigma : sigma;
    double h = forward(a, b, c, mp, X[i], bout, sk);
    for (long t = 0; t < steps; t++) {
        double x = X[i], g = 2.0 * lr * (h - Y[i] - z);
        /* Draw step t+1 now, so its forward pass can share the sweep. */
        int i2 = (int)(((unsigned __int128)next() * 12u) >> 64);
        double z2 = (next() >> 63) ? -sigma : sigma;
        double x2 = X[i2];
        double bout2 = bout - g, sk2 = sk - g * x;
        __m512d xv = _mm512_set1_pd(x), x2v = _mm512_set1_pd(x2), gv = _mm512_set1_pd(g);
        __m512d gx = _mm512_set1_pd(g * x);
        __m512d acc[4] = {zero, zero, zero, zero};
        for (int j = 0; j < mp; j += 32)
            for (int k = 0; k < 4; k++) {
                double *pa = a + j + 8 * k, *pb = b + j + 8 * k, *pc = c + j + 8 * k;
                __m512d av = _mm512_load_pd(pa), bv = _mm512_load_pd(pb), cv = _mm512_load_pd(pc);
                __m512d u = _mm512_fmadd_pd(av, xv, bv);
                __mmask8 on = _mm512_cmp_pd_mask(u, zero, _CMP_GT_OQ);
                __m512d r = _mm512_maskz_mov_pd(on, u);
                /* c -= g r; a -= g d x; b -= g d, with d = c (old) where the unit is on. */
                __m512d c2 = _mm512_fnmadd_pd(gv, r, cv);
                __m512d a2 = _mm512_mask_mov_pd(av, on, _mm512_fnmadd_pd(gx, cv, av));
                __m512d b2 = _mm512_mask_mov_pd(bv, on, _mm512_fnmadd_pd(gv, cv, bv));
                _mm512_store_pd(pa, a2); _mm512_store_pd(pb, b2); _mm512_store_pd(pc, c2);
                __m512d u2 = _mm512_fmadd_pd(a2, x2v, b2);
                acc[k] = _mm512_fmadd_pd(c2, _mm512_max_pd(u2, zero), acc[k]);
            }
        __m512d sum = _mm512_add_pd(_mm512_add_pd(acc[0], acc[1]), _mm512_add_pd(acc[2], acc[3]));
        bout = bout2; sk = sk2;
        h = bout + sk * x2 + _mm512_reduce_add_pd(sum);
        i = i2; z = z2;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
    double check = bout + sk;
    for (int j = 0; j < m; j++) check += a[j] + b[j] + c[j];
    printf("%.3f %.17g\n", ns / steps, check);
    return 0;
}

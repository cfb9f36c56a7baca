/* The train benchmark's C yardstick: the same workload as the fused Rust kernel
 * (one hidden relu layer on 1-D inputs, output bias and skip, rademacher label noise,
 * batch 1), written as the plain two-pass loop (forward, then update) a C programmer
 * would write. Compiled by benches/train.rs with `cc -O3 -march=native`.
 * Usage: yardstick M STEPS SCALE; prints ns/step. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

int main(int argc, char **argv) {
    int m = argc > 1 ? atoi(argv[1]) : 256;
    long steps = argc > 2 ? atol(argv[2]) : 1000000;
    double scale = argc > 3 ? atof(argv[3]) : 1.0;
    const double X[12] = {-2.75, -2.25, -1.75, -1.25, -0.75, -0.25, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75};
    const double Y[12] = {-0.3, 0.3, 0.9, 1.0, 0.6, 0.2, 0.25, 0.75, 1.25, 1.35, 1.05, 0.75};
    uint64_t seed = 1;
    for (int k = 0; k < 4; k++) s[k] = splitmix(&seed);
    double *a = aligned_alloc(64, 64 * ((m * 8 + 63) / 64)), *b = aligned_alloc(64, 64 * ((m * 8 + 63) / 64));
    double *c = aligned_alloc(64, 64 * ((m * 8 + 63) / 64));
    for (int j = 0; j < m; j++) {
        a[j] = scale * (2.0 * ((next() >> 11) * 0x1p-53) - 1.0);
        b[j] = scale * (2.0 * ((next() >> 11) * 0x1p-53) - 1.0);
        c[j] = scale * (2.0 * ((next() >> 11) * 0x1p-53) - 1.0) / sqrt((double)m);
    }
    double bout = 0.1, sk = 0.2, lr = 1e-3, sigma = 0.5;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long t = 0; t < steps; t++) {
        int i = (int)(((unsigned __int128)next() * 12u) >> 64);
        double z = (next() >> 63) ? -sigma : sigma;
        double x = X[i], h = bout + sk * x;
        for (int j = 0; j < m; j++) {
            double u = a[j] * x + b[j];
            h += c[j] * (u > 0.0 ? u : 0.0);
        }
        double g = 2.0 * lr * (h - Y[i] - z);
        for (int j = 0; j < m; j++) {
            double u = a[j] * x + b[j];
            double r = u > 0.0 ? u : 0.0, d = u > 0.0 ? c[j] : 0.0;
            c[j] -= g * r;
            a[j] -= g * d * x;
            b[j] -= g * d;
        }
        bout -= g;
        sk -= g * x;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
    double check = bout + sk;
    for (int j = 0; j < m; j++) check += a[j] + b[j] + c[j];
    printf("%.3f %.17g\n", ns / steps, check);
    return 0;
}

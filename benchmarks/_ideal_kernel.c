/* The "ideal" optimizer step: one in-place pass over every leaf, OpenMP-parallel.
 *
 * Built at run time by benchmarks/_ideal.py with
 *     gcc -O3 -march=native -fopenmp -fno-math-errno -shared -fPIC
 * and called through ctypes on NumPy float32 arrays. One call handles a whole tree: the
 * leaves are passed as arrays of pointers plus their sizes, and a single parallel region
 * walks them, so the per-leaf overhead is a function call, not a thread fork/join.
 *
 * Work split: a leaf of at least SMALL elements is cut into one contiguous, 16-element
 * aligned slice per thread (a static schedule with no barrier between leaves); smaller
 * leaves are dealt whole to the threads in turn.
 *
 * Traffic per float32 parameter (the minimum any implementation must move):
 *   Adam / AdamW      read p, g, m, v; write p, m, v     28 bytes
 *   SGD Nesterov      read p, g, v;    write p, v        20 bytes
 *   global norm       read g                              4 bytes
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#define SMALL 16384
#define MAX_THREADS 256
#define PAD 8 /* doubles per thread slot: one cache line, no false sharing */

typedef void (*range_fn)(int64_t leaf, int64_t lo, int64_t hi, const void *args);

/* Call fn(leaf, lo, hi, args) so that every element of every leaf is covered once. */
static void tree_loop(int64_t n_leaves, const int64_t *sizes, range_fn fn, const void *args,
                      int nthreads) {
    int64_t total = 0;
    for (int64_t l = 0; l < n_leaves; l++) total += sizes[l];
#pragma omp parallel num_threads(nthreads) if (total >= 4 * SMALL)
    {
        const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
        int64_t turn = 0;
        for (int64_t l = 0; l < n_leaves; l++) {
            const int64_t n = sizes[l];
            if (n < SMALL) {
                if (turn++ % nth == tid) fn(l, 0, n, args);
            } else {
                const int64_t chunk = ((n + nth - 1) / nth + 15) & ~(int64_t)15;
                const int64_t lo = tid * chunk, hi = lo + chunk < n ? lo + chunk : n;
                if (lo < hi) fn(l, lo, hi, args);
            }
        }
    }
}

/* ---- AdamW (Adam when wd = 0), on gradients scaled by gscale (the clip factor) ---- */

typedef struct {
    float *const *p, *const *m, *const *v;
    const float *const *g;
    float lr, b1, b2, eps, bc1, bc2, wd, gscale;
} adamw_args;

static void adamw_range(int64_t l, int64_t lo, int64_t hi, const void *args) {
    const adamw_args *a = args;
    float *restrict p = a->p[l], *restrict m = a->m[l], *restrict v = a->v[l];
    const float *restrict g = a->g[l];
    const float b1 = a->b1, c1 = 1.0f - a->b1, b2 = a->b2, c2 = 1.0f - a->b2;
    const float inv_bc1 = 1.0f / a->bc1, inv_bc2 = 1.0f / a->bc2;
    const float lr = a->lr, eps = a->eps, wd = a->wd, gs = a->gscale;
#pragma omp simd
    for (int64_t j = lo; j < hi; j++) {
        const float gj = g[j] * gs;
        const float mj = b1 * m[j] + c1 * gj;
        const float vj = b2 * v[j] + c2 * gj * gj;
        m[j] = mj;
        v[j] = vj;
        const float u = (mj * inv_bc1) / (sqrtf(vj * inv_bc2) + eps) + wd * p[j];
        p[j] -= lr * u;
    }
}

void adamw_tree(int64_t n_leaves, const int64_t *sizes, float *const *p, float *const *m,
                float *const *v, const float *const *g, float lr, float b1, float b2, float eps,
                float bc1, float bc2, float wd, float gscale, int nthreads) {
    const adamw_args a = {p, m, v, g, lr, b1, b2, eps, bc1, bc2, wd, gscale};
    tree_loop(n_leaves, sizes, adamw_range, &a, nthreads);
}

/* ---- SGD with Nesterov momentum (PyTorch/Optax form) ---- */

typedef struct {
    float *const *p, *const *vel;
    const float *const *g;
    float lr, mu;
} sgd_args;

static void sgd_nesterov_range(int64_t l, int64_t lo, int64_t hi, const void *args) {
    const sgd_args *a = args;
    float *restrict p = a->p[l], *restrict vel = a->vel[l];
    const float *restrict g = a->g[l];
    const float lr = a->lr, mu = a->mu;
#pragma omp simd
    for (int64_t j = lo; j < hi; j++) {
        const float vj = mu * vel[j] + g[j];
        vel[j] = vj;
        p[j] -= lr * (g[j] + mu * vj);
    }
}

void sgd_nesterov_tree(int64_t n_leaves, const int64_t *sizes, float *const *p,
                       float *const *vel, const float *const *g, float lr, float mu,
                       int nthreads) {
    const sgd_args a = {p, vel, g, lr, mu};
    tree_loop(n_leaves, sizes, sgd_nesterov_range, &a, nthreads);
}

/* ---- Sum of squares of a tree (the global-norm pass) ---- */

typedef struct {
    const float *const *g;
    double *partial; /* MAX_THREADS * PAD */
} sumsq_args;

static void sumsq_range(int64_t l, int64_t lo, int64_t hi, const void *args) {
    const sumsq_args *a = args;
    const float *restrict g = a->g[l];
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t j = lo; j < hi; j++) s += (double)g[j] * (double)g[j];
    a->partial[omp_get_thread_num() * PAD] += s;
}

double sumsq_tree(int64_t n_leaves, const int64_t *sizes, const float *const *g, int nthreads) {
    double partial[MAX_THREADS * PAD] = {0.0};
    if (nthreads > MAX_THREADS) nthreads = MAX_THREADS;
    const sumsq_args a = {g, partial};
    tree_loop(n_leaves, sizes, sumsq_range, &a, nthreads);
    double s = 0.0;
    for (int t = 0; t < MAX_THREADS; t++) s += partial[t * PAD];
    return s;
}

/* ---- Multi-threaded copy, to measure the machine's copy bandwidth ---- */

void copy_f32(float *dst, const float *src, int64_t n, int nthreads) {
#pragma omp parallel num_threads(nthreads)
    {
        const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
        const int64_t chunk = ((n + nth - 1) / nth + 15) & ~(int64_t)15;
        const int64_t lo = tid * chunk, hi = lo + chunk < n ? lo + chunk : n;
        if (lo < hi) memcpy(dst + lo, src + lo, (size_t)(hi - lo) * sizeof(float));
    }
}

// An experiment, not part of gradtx: Adam's moment updates and direction in ONE pass over
// every leaf, as an XLA FFI custom call (see run.py and benchmarks/README.md).
//
// Operands: a 6-vector of scalars [b1, b2, eps, eps_root, 1 - b1^t, 1 - b2^t], then the
// L gradients, the L first moments, the L second moments. Results: the L directions u, the
// L new first moments and the L new second moments (the moments alias their inputs).
// Work is split evenly over two OpenMP threads by element count, across leaf boundaries.
#ifdef _OPENMP
#include <omp.h>
#endif
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

template <typename T>
static void AdamRange(const T* g, const T* m, const T* v, T* u, T* m_out, T* v_out,
                      int64_t lo, int64_t hi, const T* s) {
  const T b1 = s[0], b2 = s[1], eps = s[2], eps_root = s[3], c1 = s[4], c2 = s[5];
  const T a1 = T(1) - b1, a2 = T(1) - b2;
#pragma omp simd
  for (int64_t i = lo; i < hi; ++i) {
    const T gi = g[i];
    const T mi = a1 * gi + b1 * m[i];
    const T vi = a2 * (gi * gi) + b2 * v[i];
    m_out[i] = mi;
    v_out[i] = vi;
    u[i] = (mi / c1) / (std::sqrt(vi / c2 + eps_root) + eps);
  }
}

template <ffi::DataType DT>
static ffi::Error Adam(ffi::Buffer<DT> scalars, ffi::RemainingArgs args,
                       ffi::RemainingRets rets) {
  using T = ffi::NativeType<DT>;
  const size_t n = args.size() / 3;
  std::vector<const T*> g(n), m(n), v(n);
  std::vector<T*> u(n), m_out(n), v_out(n);
  std::vector<int64_t> start(n + 1, 0);
  for (size_t k = 0; k < n; ++k) {
    auto gk = args.get<ffi::AnyBuffer>(k);
    auto mk = args.get<ffi::AnyBuffer>(n + k);
    auto vk = args.get<ffi::AnyBuffer>(2 * n + k);
    auto uk = rets.get<ffi::AnyBuffer>(k);
    auto mo = rets.get<ffi::AnyBuffer>(n + k);
    auto vo = rets.get<ffi::AnyBuffer>(2 * n + k);
    if (!gk || !mk || !vk || !uk || !mo || !vo) {
      return ffi::Error::InvalidArgument("adam_kernel: expected 3L operands and 3L results");
    }
    g[k] = static_cast<const T*>(gk->untyped_data());
    m[k] = static_cast<const T*>(mk->untyped_data());
    v[k] = static_cast<const T*>(vk->untyped_data());
    u[k] = static_cast<T*>((*uk)->untyped_data());
    m_out[k] = static_cast<T*>((*mo)->untyped_data());
    v_out[k] = static_cast<T*>((*vo)->untyped_data());
    start[k + 1] = start[k] + static_cast<int64_t>(gk->element_count());
  }
  const int64_t total = start[n];
  const T* s = scalars.typed_data();
#pragma omp parallel num_threads(total > 200000 ? 2 : 1)
  {
    int t = 0, nt = 1;
#ifdef _OPENMP
    t = omp_get_thread_num();
    nt = omp_get_num_threads();
#endif
    const int64_t lo = total * t / nt, hi = total * (t + 1) / nt;
    for (size_t k = 0; k < n; ++k) {
      const int64_t a = std::max(lo, start[k]), b = std::min(hi, start[k + 1]);
      if (a < b) {
        AdamRange<T>(g[k], m[k], v[k], u[k], m_out[k], v_out[k], a - start[k], b - start[k], s);
      }
    }
  }
  return ffi::Error::Success();
}

XLA_FFI_DEFINE_HANDLER_SYMBOL(AdamF32, Adam<ffi::DataType::F32>,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::DataType::F32>>()
                                  .RemainingArgs()
                                  .RemainingRets());

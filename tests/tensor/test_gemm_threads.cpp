// matmul at an uneven OpenMP thread count in each of the four transpose layouts against a plain
// triple loop, and OneBlasThread (tensor/cpu/blas.h): BLAS on one thread for a scope, OpenMP's
// thread count untouched (OpenBLAS's OpenMP build would otherwise set it along with its own).
#include <omp.h>

#include "tensor/cpu/blas.h"
#include "tests/helpers.h"

using namespace moegrad;

namespace {

// C[i][j] = Σ_p A[i][p] B[p][j] by the definition, in float64.
std::vector<double> naive_product(const Tensor& a, const Tensor& b) {
  Tensor x = a.contiguous(), y = b.contiguous();
  std::int64_t m = x.size(0), k = x.size(1), n = y.size(1);
  const double* p = x.data<double>();
  const double* q = y.data<double>();
  std::vector<double> c(m * n, 0.0);
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t l = 0; l < k; ++l)
      for (std::int64_t j = 0; j < n; ++j) c[i * n + j] += p[i * k + l] * q[l * n + j];
  return c;
}

void check_product(std::int64_t m, std::int64_t k, std::int64_t n, bool transpose_a, bool transpose_b) {
  Generator generator(m * 7 + n);
  // a transposed operand is a transpose view of a (k,m) tensor: BLAS reads it through its flag
  Tensor a = transpose_a ? randn({k, m}, generator, kFloat64).t() : randn({m, k}, generator, kFloat64);
  Tensor b = transpose_b ? randn({n, k}, generator, kFloat64).t() : randn({k, n}, generator, kFloat64);
  Tensor c = matmul(a, b);
  std::vector<double> expected = naive_product(a, b);
  const double* got = c.contiguous().data<double>();
  double worst = 0.0;
  for (std::size_t i = 0; i < expected.size(); ++i) worst = std::max(worst, std::abs(got[i] - expected[i]));
  CHECK(worst < 1e-10);
}

}  // namespace

TEST_CASE("matmul at three OpenMP threads gives the plain product in every transpose layout") {
  int before = omp_get_max_threads();
  omp_set_num_threads(3);
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      CAPTURE(ta);
      CAPTURE(tb);
      check_product(203, 91, 170, ta, tb);
      check_product(40, 300, 517, ta, tb);
      check_product(5, 7, 3, ta, tb);
    }
  }
  omp_set_num_threads(before);
}

TEST_CASE("OneBlasThread puts BLAS on one thread for its scope and leaves OpenMP's count alone") {
  int omp_before = omp_get_max_threads(), blas_before = openblas_get_num_threads();
  omp_set_num_threads(3);
  {
    OneBlasThread one_thread;
    CHECK(openblas_get_num_threads() == 1);
    CHECK(omp_get_max_threads() == 3);
  }
  CHECK(omp_get_max_threads() == 3);
  omp_set_num_threads(omp_before);
  openblas_set_num_threads(blas_before);
}

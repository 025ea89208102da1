// Deterministic mode (tensor/determinism.h): a few training steps on 1 thread and on 2 threads
// give the same parameters bit for bit. The matmuls are large enough (256 x 384 x 512) that
// OpenBLAS splits them across threads, and the elementwise and reduction kernels run past the
// parallel grain, so both kinds of kernel see 2 threads.
#include <cblas.h>
#include <omp.h>

#include "nn/layers.h"
#include "nn/optim.h"
#include "tensor/determinism.h"
#include "tests/helpers.h"

using namespace moegrad;

namespace {

// Parameters after `steps` Adam steps of a 2-layer MLP on fixed random data, with OpenMP and
// OpenBLAS set to `threads`.
std::vector<float> train_with_threads(int threads, int steps = 3) {
  const int omp_before = omp_get_max_threads(), blas_before = openblas_get_num_threads();
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
  Generator generator(11);
  nn::Linear first(384, 512, true, generator), second(512, 16, true, generator);
  std::vector<Tensor> parameters = {first.weight, first.bias, second.weight, second.bias};
  nn::Adam optimizer(parameters, {.lr = 1e-2});
  Tensor x = randn({256, 384}, generator);
  Tensor target = randn({256, 16}, generator);
  for (int step = 0; step < steps; ++step) {
    Tensor loss = mse_loss(second(tanh(first(x))), target);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
  }
  omp_set_num_threads(omp_before);
  openblas_set_num_threads(blas_before);
  std::vector<float> values;
  for (const Tensor& parameter : parameters) {
    std::vector<float> part = parameter.to_vector<float>();
    values.insert(values.end(), part.begin(), part.end());
  }
  return values;
}

// Restores the mode a test found, whatever the test does.
struct DeterministicMode {
  bool before = deterministic();
  explicit DeterministicMode(bool on) { set_deterministic(on); }
  ~DeterministicMode() { set_deterministic(before); }
};

}  // namespace

TEST_CASE("in deterministic mode, training on 1 and on 2 threads gives bit-identical parameters") {
  DeterministicMode on(true);
  const std::vector<float> one = train_with_threads(1), two = train_with_threads(2);
  REQUIRE(one.size() == two.size());
  std::size_t differing = 0;
  for (std::size_t i = 0; i < one.size(); ++i) differing += one[i] != two[i];
  CHECK(differing == 0);
  // The mode leaves the caller's BLAS thread count as it found it.
  openblas_set_num_threads(2);
  matmul(ones({64, 64}), ones({64, 64}));
  CHECK(openblas_get_num_threads() == 2);
}

TEST_CASE("without deterministic mode the thread count may change the bits (measured, not promised)") {
  DeterministicMode off(false);
  const std::vector<float> one = train_with_threads(1), two = train_with_threads(2);
  std::size_t differing = 0;
  for (std::size_t i = 0; i < one.size(); ++i) differing += one[i] != two[i];
  MESSAGE(differing, " of ", one.size(), " parameters differ between 1 and 2 threads without deterministic mode");
}

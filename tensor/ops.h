// Every public op of moegrad. Each one checks its arguments, promotes dtypes, broadcasts, runs the
// kernel through backend_for(device) and records its autograd node; its backward rule sits right
// below its forward in tensor/ops/<family>.cpp.
//
// Conventions: axes may be negative; reductions take a list of axes ({} = all) and keepdim;
// comparisons return 0/1 in the promoted dtype of their inputs (so a mask multiplies straight in)
// and have no gradient; index tensors are int64.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "tensor/tensor.h"

namespace moegrad {

// ---------------- arithmetic, broadcasting (tensor/ops/arithmetic.cpp) ----------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
// True division, as in PyTorch: two int64 tensors give a float32 result (7 / 2 = 3.5).
Tensor div(const Tensor& a, const Tensor& b);
// Division rounded toward minus infinity (-7 // 2 = -4), exact for int64 (no trip through double);
// an int64 divisor holding 0 is an Error. No gradient (a step function): the result is detached.
Tensor floor_divide(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& base, const Tensor& exponent);
Tensor pow(const Tensor& base, double exponent);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& x);
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
// condition != 0 picks a, else b; all three broadcast together. Gradient flows to a and b.
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);  // value where mask != 0
Tensor clamp(const Tensor& x, std::optional<double> min, std::optional<double> max);
// A 0-d tensor holding `value` in like's dtype and device: how scalars enter binary ops.
Tensor scalar_like(const Tensor& like, double value);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& x);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);

// ---------------- elementwise math (tensor/ops/unary.cpp) ----------------
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor square(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
enum class GeluApproximation { Erf, Tanh };
Tensor gelu(const Tensor& x, GeluApproximation approximation = GeluApproximation::Erf);
Tensor softplus(const Tensor& x);  // log(1 + exp(x)), computed stably
Tensor erf(const Tensor& x);
Tensor normal_cdf(const Tensor& x);  // Φ(x) = ½(1 + erf(x/√2)), Shazeer's load estimator
Tensor sign(const Tensor& x);        // no gradient
Tensor floor(const Tensor& x);       // floating x; no gradient (zero almost everywhere)
Tensor ceil(const Tensor& x);        // floating x; no gradient

// ---------------- shape and views (tensor/ops/views.cpp) ----------------
Tensor reshape(const Tensor& x, const Shape& shape);  // one -1 allowed; a view when strides allow
Tensor view(const Tensor& x, const Shape& shape);     // like reshape, but never copies (throws instead)
Tensor transpose(const Tensor& x, std::int64_t axis0, std::int64_t axis1);
Tensor permute(const Tensor& x, const std::vector<std::int64_t>& axes);
Tensor narrow(const Tensor& x, std::int64_t axis, std::int64_t start, std::int64_t length);
Tensor slice(const Tensor& x, std::int64_t axis, std::int64_t start, std::int64_t end, std::int64_t step = 1);
Tensor select(const Tensor& x, std::int64_t axis, std::int64_t index);  // drops the axis
Tensor expand(const Tensor& x, const Shape& shape);  // size-1 axes grow with stride 0, -1 keeps a size
Tensor broadcast_to(const Tensor& x, const Shape& shape);
// The gradient of broadcasting: sums `x` down to `shape` (the inverse of broadcast_to).
Tensor sum_to(const Tensor& x, const Shape& shape);
Tensor unsqueeze(const Tensor& x, std::int64_t axis);
Tensor squeeze(const Tensor& x, std::int64_t axis);
Tensor flatten(const Tensor& x, std::int64_t start_axis = 0, std::int64_t end_axis = -1);
Tensor contiguous(const Tensor& x);
Tensor detach(const Tensor& x);
Tensor to_dtype(const Tensor& x, DType dtype);

// ---------------- reductions (tensor/ops/reduce.cpp) ----------------
Tensor sum(const Tensor& x, const std::vector<std::int64_t>& axes = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<std::int64_t>& axes = {}, bool keepdim = false);
Tensor max(const Tensor& x, const std::vector<std::int64_t>& axes = {}, bool keepdim = false);
Tensor min(const Tensor& x, const std::vector<std::int64_t>& axes = {}, bool keepdim = false);
// correction = 1: unbiased (PyTorch's default); 0: the population variance.
Tensor var(const Tensor& x, const std::vector<std::int64_t>& axes = {}, std::int64_t correction = 1,
           bool keepdim = false);
Tensor argmax(const Tensor& x, std::int64_t axis, bool keepdim = false);
Tensor argmin(const Tensor& x, std::int64_t axis, bool keepdim = false);
Tensor logsumexp(const Tensor& x, const std::vector<std::int64_t>& axes, bool keepdim = false);
Tensor cumsum(const Tensor& x, std::int64_t axis);

// ---------------- matmul (tensor/ops/matmul.cpp) ----------------
// (M,K)@(K,N); batched (...,M,K)@(...,K,N) with equal batch shapes, or one side 2-D.
// Transposed operands go to BLAS as flags, not copies.
Tensor matmul(const Tensor& a, const Tensor& b);

// ---------------- grouped matmul (tensor/ops/grouped_matmul.cpp) ----------------
// x (N,K), w (G,K,M), group_offsets (G+1) int64, bias (G,M) or undefined -> (N,M):
// rows [offsets[g], offsets[g+1]) are multiplied by w[g] (+ bias[g]); rows in no group are 0.
// The MoE experts in one op: x holds the tokens sorted by expert (moe/dispatch_plan.h).
Tensor grouped_matmul(const Tensor& x, const Tensor& w, const Tensor& group_offsets, const Tensor& bias = Tensor());

// ---------------- softmax family (tensor/ops/softmax.cpp) ----------------
Tensor softmax(const Tensor& x, std::int64_t axis = -1);
Tensor log_softmax(const Tensor& x, std::int64_t axis = -1);
// Attention's softmax over the last axis: softmax(scale·x + mask), one fused row kernel each way.
// mask (optional) is additive, 0 to keep a key and a large negative number (-1e9) to mask it,
// broadcast to x's shape, and a constant: a mask that requires grad is refused.
Tensor scaled_masked_softmax(const Tensor& x, double scale, const Tensor& mask = Tensor());

// ---------------- normalisation (tensor/ops/layer_norm.cpp) ----------------
// Normalises over the last axis; weight and bias (C) may be undefined. One fused kernel each way.
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps = 1e-5);

// ---------------- indexing (tensor/ops/indexing.cpp) ----------------
Tensor gather(const Tensor& x, std::int64_t axis, const Tensor& index);
// x with src added at the places named by index along axis (out of place; differentiable in x, src).
Tensor scatter_add(const Tensor& x, std::int64_t axis, const Tensor& index, const Tensor& src);
Tensor index_select(const Tensor& x, std::int64_t axis, const Tensor& index);
// x with src's slices added at rows index[i] along axis (out of place; differentiable in x, src).
Tensor index_add(const Tensor& x, std::int64_t axis, const Tensor& index, const Tensor& src);
Tensor one_hot(const Tensor& index, std::int64_t num_classes, DType dtype = kFloat32);
// Throws IndexError naming op and what unless every entry of the int64 index lies in [0, size); the
// check the indexing ops run, for modules that index through a table of their own (hash routing).
void check_index_range(const char* op, const Tensor& index, std::int64_t size, const char* what = "index");
// weight (V,D), ids int64 of any shape -> (..., D)
Tensor embedding(const Tensor& weight, const Tensor& ids);

// ---------------- sorting (tensor/ops/sort.cpp) ----------------
struct ValuesIndices {
  Tensor values;   // differentiable
  Tensor indices;  // int64
};
ValuesIndices topk(const Tensor& x, std::int64_t k, std::int64_t axis = -1, bool largest = true);
ValuesIndices sort(const Tensor& x, std::int64_t axis = -1, bool descending = false);
Tensor argsort(const Tensor& x, std::int64_t axis = -1, bool descending = false);

// ---------------- joining and splitting (tensor/ops/join.cpp) ----------------
Tensor concat(const std::vector<Tensor>& tensors, std::int64_t axis = 0);
Tensor stack(const std::vector<Tensor>& tensors, std::int64_t axis = 0);
std::vector<Tensor> split(const Tensor& x, std::int64_t split_size, std::int64_t axis = 0);
std::vector<Tensor> split(const Tensor& x, const std::vector<std::int64_t>& sizes, std::int64_t axis = 0);
std::vector<Tensor> chunk(const Tensor& x, std::int64_t chunks, std::int64_t axis = 0);

// ---------------- losses and training ops (tensor/ops/loss.cpp) ----------------
enum class Reduction { None, Mean, Sum, BatchMean };
class Generator;
// Zeroes each element with probability p and scales the rest by 1/(1-p); identity when !training.
Tensor dropout(const Tensor& x, double p, bool training, Generator& generator);
// logits (N,C), target (N) int64; targets equal to ignore_index add nothing and do not count in
// the mean. Computed through log_softmax, so large logits are safe.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, std::int64_t ignore_index = -100,
                     Reduction reduction = Reduction::Mean);
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
// Like torch.nn.functional.kl_div: input is log-probabilities, target probabilities;
// pointwise target * (log target - input), with 0 where target is 0.
Tensor kl_div(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
// Row-wise: cos(a_i, b_i) along axis. eps guards zero vectors.
Tensor cosine_similarity(const Tensor& a, const Tensor& b, std::int64_t axis = -1, double eps = 1e-8);
// All pairs: a (N,D), b (M,D) -> (N,M) with entry (i,j) = cos(a_i, b_j).
Tensor cosine_similarity_matrix(const Tensor& a, const Tensor& b, double eps = 1e-8);

}  // namespace moegrad

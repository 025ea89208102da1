// Losses and training ops, each composed from public ops, so their gradients come from the
// rules of the ops they are made of and no kernel or backward rule of their own is needed; except
// cross_entropy, whose vocabulary-sized rows make a fused kernel pay (see its comment).
//
// Legend: N rows (samples or tokens), C classes, D features.
#include <optional>

#include "tensor/creation.h"
#include "tensor/ops/common.h"

namespace moegrad {

namespace {

// Pointwise losses (mse, kl_div): None keeps them, Mean averages every element, Sum adds them,
// BatchMean adds them and divides by the size of axis 0 (KL per sample, as Hinton's distillation
// and torch's "batchmean" use it).
Tensor reduce_pointwise(const char* op, const Tensor& losses, Reduction reduction) {
  switch (reduction) {
    case Reduction::None: return losses;
    case Reduction::Mean: return mean(losses);
    case Reduction::Sum: return sum(losses);
    case Reduction::BatchMean:
      if (losses.dim() == 0) throw ShapeError(fmt::format("[{}] BatchMean needs a batch axis, got a 0-d input", op));
      return sum(losses) / static_cast<double>(losses.shape()[0]);
  }
  throw Error(fmt::format("[{}] unknown reduction", op));
}

// Both floating, on one device, with exactly the same shape: a loss never broadcasts silently,
// since (N) against (N,1) would quietly become an (N,N) loss.
void check_same_shape_pair(const char* op, const Tensor& input, const Tensor& target) {
  detail::check_defined(op, input, "input");
  detail::check_defined(op, target, "target");
  detail::check_floating(op, input);
  detail::check_floating(op, target);
  detail::check_same_device(op, input, target);
  if (input.shape() != target.shape()) {
    throw ShapeError(fmt::format("[{}] input {} and target {} must have the same shape (losses do not broadcast)", op,
                                 shape_str(input.shape()), shape_str(target.shape())));
  }
}

void check_eps(const char* op, double eps) {
  if (!(eps >= 0.0)) throw Error(fmt::format("[{}] eps must be >= 0, got {}", op, eps));
}

// x / max(||x||, eps) along axis, computed as x / sqrt(max(Σ x², eps²)): the same value, but a
// zero vector gets a finite gradient (the clamp blocks it before sqrt's infinite slope at 0).
Tensor normalize(const Tensor& x, std::int64_t axis, double eps) {
  Tensor squared_norm = sum(square(x), {axis}, true);
  return x / sqrt(clamp(squared_norm, eps * eps, std::nullopt));
}

}  // namespace

// Inverted dropout: out = x * m / (1-p) with m ~ Bernoulli(1-p) per element, so the expected
// output equals x and evaluation needs no rescaling;  dx = g * m / (1-p) (through mul).
Tensor dropout(const Tensor& x, double p, bool training, Generator& generator) {
  detail::check_defined("dropout", x);
  detail::check_floating("dropout", x);
  if (!(p >= 0.0 && p <= 1.0)) throw Error(fmt::format("[dropout] probability p must lie in [0, 1], got {}", p));
  if (!training || p == 0.0) return x;
  if (p == 1.0) return x * 0.0;  // everything dropped; m / (1-p) would be 0/0
  Tensor keep = bernoulli(x.shape(), 1.0 - p, generator, x.dtype(), x.device());
  return mul(x, keep * (1.0 / (1.0 - p)));
}

// loss_n = -log softmax(logits_n)[target_n], 0 where target_n == ignore_index.
// Mean divides by the number of targets not ignored (PyTorch's rule; all ignored gives 0/0 = NaN,
// as in PyTorch). logits may be (..., C) with target (...): leading axes are flattened into N.
// dlogits_n = (softmax(logits_n) - onehot(target_n)) g_n. Forward and backward are each one fused row
// kernel (Backend::cross_entropy_forward/_backward): nothing (N,C) is kept but the logits, and the
// rule, being a kernel, supports first derivatives only.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, std::int64_t ignore_index, Reduction reduction) {
  detail::check_defined("cross_entropy", logits, "logits");
  detail::check_defined("cross_entropy", target, "target");
  detail::check_floating("cross_entropy", logits);
  detail::check_index_dtype("cross_entropy", target, "target");
  detail::check_same_device("cross_entropy", logits, target);
  if (reduction == Reduction::BatchMean) {
    throw Error("[cross_entropy] reduction BatchMean is for kl_div; use Mean, Sum or None");
  }
  if (logits.dim() == 0 || logits.shape().back() == 0) {
    throw ShapeError(fmt::format("[cross_entropy] logits {} need a last (class) axis of size >= 1",
                                 shape_str(logits.shape())));
  }
  const std::int64_t classes = logits.shape().back();
  const Shape row_shape(logits.shape().begin(), logits.shape().end() - 1);
  if (target.shape() != row_shape) {
    throw ShapeError(fmt::format("[cross_entropy] logits {} (rows, C) need target of shape {}, got {}",
                                 shape_str(logits.shape()), shape_str(row_shape), shape_str(target.shape())));
  }

  // Check the labels on the host (one small int64 copy), naming the first bad one, and count the
  // ones that take part in the mean.
  std::int64_t counted = 0;
  std::vector<std::int64_t> labels = target.to_vector<std::int64_t>();
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] == ignore_index) continue;
    if (labels[i] < 0 || labels[i] >= classes) {
      throw IndexError(fmt::format("[cross_entropy] target value {} (element {}) is outside [0, {}) for logits {}, "
                                   "and is not ignore_index ({})",
                                   labels[i], i, classes, shape_str(logits.shape()), ignore_index));
    }
    ++counted;
  }

  const std::int64_t rows = target.numel();
  Tensor rows_logits = reshape(logits.detach(), {rows, classes}).contiguous();  // (N,C)
  Tensor label_rows = reshape(target.detach(), {rows}).contiguous();            // (N)
  Tensor losses = Tensor::empty({rows}, logits.dtype(), logits.device());
  Tensor log_sum_exp = Tensor::empty({rows}, logits.dtype(), logits.device());
  backend_for(logits.device()).cross_entropy_forward(rows_logits, label_rows, ignore_index, losses, log_sum_exp);
  losses = record("cross_entropy", reshape(losses, row_shape), {logits},
                  [rows_logits, label_rows, log_sum_exp, ignore_index, logits_shape = logits.shape()](const Tensor& g) {
                    Tensor row_grad = reshape(g, {rows_logits.shape()[0]}).contiguous();
                    Tensor grad = Tensor::empty(rows_logits.shape(), rows_logits.dtype(), rows_logits.device());
                    backend_for(grad.device())
                        .cross_entropy_backward(rows_logits, label_rows, ignore_index, log_sum_exp, row_grad, grad);
                    return std::vector<Tensor>{reshape(grad, logits_shape)};
                  });

  if (reduction == Reduction::None) return losses;
  if (reduction == Reduction::Sum) return sum(losses);
  return sum(losses) / static_cast<double>(counted);
}

// (input - target)², reduced;  dinput = 2 (input - target) g, dtarget = -dinput
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  check_same_shape_pair("mse_loss", input, target);
  return reduce_pointwise("mse_loss", square(input - target), reduction);
}

// input = log q, target = p:  p (log p - log q) pointwise, 0 where p == 0 (the limit of p log p).
// Where p == 0, log p is taken of 1 and log q is replaced by 0, so neither the value nor the
// gradient ever meets 0 * log 0 or 0 * (-inf) (a student may well assign log q = -inf to a class
// the teacher rules out). Mean averages every element (PyTorch's default, not the KL per sample);
// BatchMean is sum / input.size(0), the KL of each distribution averaged over the batch.
// dinput = -p g, dtarget = (log p + 1 - log q) g where p != 0, else 0.
Tensor kl_div(const Tensor& input, const Tensor& target, Reduction reduction) {
  check_same_shape_pair("kl_div", input, target);
  Tensor present = ne(target, scalar_like(target, 0.0));
  Tensor safe_target = where(present, target, scalar_like(target, 1.0));
  Tensor safe_input = where(present, input, scalar_like(input, 0.0));
  return reduce_pointwise("kl_div", target * (log(safe_target) - safe_input), reduction);
}

// cos = Σ a b / (max(||a||, eps) max(||b||, eps)) along axis, after broadcasting a against b.
// Each norm is clamped on its own (PyTorch's docs clamp their product instead; the two differ only
// when a norm is below eps), so this equals cosine_similarity_matrix entry for entry.
Tensor cosine_similarity(const Tensor& a, const Tensor& b, std::int64_t axis, double eps) {
  check_eps("cosine_similarity", eps);
  auto [x, y] = detail::promote_and_broadcast("cosine_similarity", a, b);
  detail::check_floating("cosine_similarity", x);
  if (x.dim() == 0) throw ShapeError("[cosine_similarity] inputs are 0-d; there is no axis to take vectors along");
  std::int64_t along = normalize_axis("cosine_similarity", axis, x.dim());
  return sum(normalize(x, along, eps) * normalize(y, along, eps), {along});
}

// a (N,D), b (M,D) -> (N,M): rows normalized to unit length (norms clamped to eps as above), then
// one matmul, a_n b_n^T.
Tensor cosine_similarity_matrix(const Tensor& a, const Tensor& b, double eps) {
  const char* op = "cosine_similarity_matrix";
  detail::check_defined(op, a, "a");
  detail::check_defined(op, b, "b");
  detail::check_floating(op, a);
  detail::check_floating(op, b);
  detail::check_same_device(op, a, b);
  check_eps(op, eps);
  if (a.dim() != 2 || b.dim() != 2 || a.shape()[1] != b.shape()[1]) {
    throw ShapeError(fmt::format("[{}] expects a (N,D) and b (M,D) with the same D, got {} and {}", op,
                                 shape_str(a.shape()), shape_str(b.shape())));
  }
  DType dtype = promote_types(a.dtype(), b.dtype());
  Tensor a_unit = normalize(a.to(dtype), 1, eps);  // (N,D)
  Tensor b_unit = normalize(b.to(dtype), 1, eps);  // (M,D)
  return matmul(a_unit, transpose(b_unit, 0, 1));  // (N,M)
}

}  // namespace moegrad

// Joining and splitting along an axis. concat allocates its output once and copies each input into
// its slot through a strided view (the copy kernel writes any strides, so no kernel of its own);
// stack is concat of unsqueezed inputs. split and chunk return narrow() views, whose gradients
// come back through narrow's own backward rule.
#include <algorithm>

#include "tensor/ops/common.h"

namespace moegrad {

namespace {

// Every input defined, one dtype, one device, one rank: what both concat and stack require.
void check_joinable(const char* op, const std::vector<Tensor>& tensors) {
  if (tensors.empty()) throw Error(fmt::format("[{}] needs at least one tensor, got an empty list", op));
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (!tensors[i].defined()) throw Error(fmt::format("[{}] tensor {} is an undefined tensor", op, i));
  }
  const Tensor& first = tensors.front();
  for (std::size_t i = 1; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    if (t.dtype() != first.dtype()) {
      throw DTypeError(fmt::format("[{}] tensor {} is {} but tensor 0 is {}; convert with .to(dtype) first", op, i,
                                   detail::describe(t), detail::describe(first)));
    }
    if (t.device() != first.device()) {
      throw DeviceError(fmt::format("[{}] tensor {} is {} but tensor 0 is {}; move one with .to()", op, i,
                                    detail::describe(t), detail::describe(first)));
    }
    if (t.dim() != first.dim()) {
      throw ShapeError(fmt::format("[{}] tensor {} has shape {} but tensor 0 has shape {}: ranks differ", op, i,
                                   shape_str(t.shape()), shape_str(first.shape())));
    }
  }
}

// out = [x_0, x_1, ...] along axis;  dx_i = g narrowed to x_i's slot
Tensor concat_checked(const char* op, const std::vector<Tensor>& tensors, std::int64_t axis) {
  const Tensor& first = tensors.front();
  if (first.dim() == 0) throw ShapeError(fmt::format("[{}] cannot join 0-d tensors; use stack", op));
  std::int64_t a = normalize_axis(op, axis, first.dim());

  // Slot i starts at starts[i] along the axis and is sizes[i] long.
  std::vector<std::int64_t> starts, sizes;
  Shape shape = first.shape();
  shape[a] = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Shape& s = tensors[i].shape();
    for (std::int64_t d = 0; d < first.dim(); ++d) {
      if (d != a && s[d] != first.shape()[d]) {
        throw ShapeError(fmt::format("[{}] tensor {} has shape {} but tensor 0 has shape {}: all sizes except "
                                     "axis {} must match (axis {} differs)",
                                     op, i, shape_str(s), shape_str(first.shape()), a, d));
      }
    }
    starts.push_back(shape[a]);
    sizes.push_back(s[a]);
    shape[a] += s[a];
  }

  // Copy each input into its slot of the one output buffer.
  Tensor out = Tensor::empty(shape, first.dtype(), first.device());
  Backend& backend = backend_for(first.device());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (sizes[i] == 0) continue;
    Tensor slot = out.as_strided(tensors[i].shape(), out.strides(), starts[i] * out.strides()[a]);
    backend.copy(tensors[i], slot);
  }

  std::vector<bool> wants_grad;
  for (const Tensor& t : tensors) wants_grad.push_back(t.requires_grad());
  return record(op, out, tensors, [a, starts, sizes, wants_grad](const Tensor& g) {
    std::vector<Tensor> grads;
    for (std::size_t i = 0; i < starts.size(); ++i) grads.push_back(wants_grad[i] ? narrow(g, a, starts[i], sizes[i]) : Tensor());
    return grads;
  });
}

// The axis to split along, normalized; a 0-d tensor has none.
std::int64_t split_axis(const char* op, const Tensor& x, std::int64_t axis) {
  detail::check_defined(op, x);
  if (x.dim() == 0) throw ShapeError(fmt::format("[{}] cannot split a 0-d tensor", op));
  return normalize_axis(op, axis, x.dim());
}

}  // namespace

Tensor concat(const std::vector<Tensor>& tensors, std::int64_t axis) {
  check_joinable("concat", tensors);
  return concat_checked("concat", tensors, axis);
}

// A new axis of size len(tensors) at `axis`, which may be in [-(ndim+1), ndim].
Tensor stack(const std::vector<Tensor>& tensors, std::int64_t axis) {
  check_joinable("stack", tensors);
  const Shape& first_shape = tensors.front().shape();
  for (std::size_t i = 1; i < tensors.size(); ++i) {
    if (tensors[i].shape() != first_shape) {
      throw ShapeError(fmt::format("[stack] tensor {} has shape {} but tensor 0 has shape {}: all shapes must be equal",
                                   i, shape_str(tensors[i].shape()), shape_str(first_shape)));
    }
  }
  std::int64_t a = normalize_axis("stack", axis, tensors.front().dim() + 1);
  std::vector<Tensor> expanded;
  for (const Tensor& t : tensors) expanded.push_back(unsqueeze(t, a));
  return concat_checked("stack", expanded, a);
}

// Pieces of the given sizes (which must add up to the axis) as narrow() views.
std::vector<Tensor> split(const Tensor& x, const std::vector<std::int64_t>& sizes, std::int64_t axis) {
  std::int64_t a = split_axis("split", x, axis);
  std::int64_t total = 0;
  for (std::int64_t size : sizes) {
    if (size < 0) throw Error(fmt::format("[split] sizes {} hold a negative size", shape_str(sizes)));
    total += size;
  }
  if (total != x.shape()[a]) {
    throw ShapeError(fmt::format("[split] sizes {} add up to {} but axis {} of {} has size {}", shape_str(sizes), total,
                                 axis, shape_str(x.shape()), x.shape()[a]));
  }
  std::vector<Tensor> pieces;
  std::int64_t start = 0;
  for (std::int64_t size : sizes) {
    pieces.push_back(narrow(x, a, start, size));
    start += size;
  }
  return pieces;
}

// Pieces of split_size along the axis; the last one is smaller when the size does not divide.
// An empty axis gives one empty piece (as in PyTorch).
std::vector<Tensor> split(const Tensor& x, std::int64_t split_size, std::int64_t axis) {
  std::int64_t length = x.shape()[split_axis("split", x, axis)];
  if (split_size <= 0) throw Error(fmt::format("[split] split_size must be positive, got {}", split_size));
  std::vector<std::int64_t> sizes;
  for (std::int64_t start = 0; start < length; start += split_size) sizes.push_back(std::min(split_size, length - start));
  if (sizes.empty()) sizes.push_back(0);
  return split(x, sizes, axis);
}

// Like torch.chunk: pieces of ceil(size / chunks), so fewer than `chunks` pieces may come back
// (size 5 in 4 chunks gives 2,2,1).
std::vector<Tensor> chunk(const Tensor& x, std::int64_t chunks, std::int64_t axis) {
  std::int64_t length = x.shape()[split_axis("chunk", x, axis)];
  if (chunks <= 0) throw Error(fmt::format("[chunk] number of chunks must be positive, got {}", chunks));
  std::int64_t chunk_size = std::max<std::int64_t>(1, (length + chunks - 1) / chunks);
  return split(x, chunk_size, axis);
}

}  // namespace moegrad

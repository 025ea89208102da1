// Indexing: gather / scatter_add (an index per element), index_select / index_add (an index per
// slice along one axis), and the two ops built from them, one_hot and embedding. Each pair is the
// other's gradient: reading at an index sends the gradient back by adding at that index.
//
// gather and scatter_add take index with the same shape as x on every axis except `axis`. PyTorch
// also accepts an index that is smaller on those axes; moegrad refuses it with a ShapeError, which
// keeps the kernels a plain (outer, length, inner) walk. Narrow x first to get PyTorch's behaviour.
#include "tensor/creation.h"
#include "tensor/ops/common.h"

namespace moegrad {

namespace {

// Checks shared by every op here: x and index defined, on one device, index int64 with entries in
// [0, x.shape[axis]). Returns the normalized axis.
std::int64_t check_indexing(const char* op, const Tensor& x, std::int64_t axis, const Tensor& index) {
  detail::check_defined(op, x);
  detail::check_defined(op, index, "index");
  detail::check_same_device(op, x, index);
  detail::check_index_dtype(op, index);
  if (x.dim() == 0) {
    throw ShapeError(fmt::format("[{}] expects a tensor with at least one axis, got {}", op, detail::describe(x)));
  }
  std::int64_t a = normalize_axis(op, axis, x.dim());
  detail::check_index_range(op, index, x.shape()[a]);
  return a;
}

// gather / scatter_add: index has x's shape on every axis but `axis`.
void check_index_fits(const char* op, const Tensor& x, std::int64_t axis, const Tensor& index) {
  bool fits = index.dim() == x.dim();
  for (std::int64_t d = 0; fits && d < x.dim(); ++d) fits = d == axis || index.shape()[d] == x.shape()[d];
  if (!fits) {
    throw ShapeError(fmt::format("[{}] index {} must have the shape of x {} on every axis except axis {}", op,
                                 shape_str(index.shape()), shape_str(x.shape()), axis));
  }
}

// index_select / index_add: a 1-D list of positions.
void check_index_is_list(const char* op, const Tensor& index) {
  if (index.dim() != 1) {
    throw ShapeError(fmt::format("[{}] index must be 1-D, got {}", op, detail::describe(index)));
  }
}

// x with axis `axis` resized to `length`: the shape of index_select's result.
Shape with_axis_length(Shape shape, std::int64_t axis, std::int64_t length) {
  shape[axis] = length;
  return shape;
}

// A contiguous copy of x that no graph refers to: the buffer the accumulating kernels add into.
Tensor fresh_copy(const Tensor& x) {
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  backend_for(x.device()).copy(x.detach(), out);
  return out;
}

// The backward of gather and index_select: zeros of x's shape with g added at the places read,
// added by the kernel straight into the one zeroed buffer. (The public scatter_add / index_add
// would first copy that buffer, a second full-size pass: for an embedding table, a second
// (V,D) buffer per backward.) The index was checked by the forward.
Tensor gradient_of_gather(const Shape& input_shape, std::int64_t axis, const Tensor& index, const Tensor& g) {
  Tensor grad = zeros(input_shape, g.dtype(), g.device());
  backend_for(g.device()).scatter_add(grad, axis, index, g.contiguous());
  return grad;
}

Tensor gradient_of_index_select(const Shape& input_shape, std::int64_t axis, const Tensor& index, const Tensor& g) {
  Tensor grad = zeros(input_shape, g.dtype(), g.device());
  backend_for(g.device()).index_add(grad, axis, index, g.contiguous());
  return grad;
}

// index_select without the checks, for embedding (which checks its ids under its own name).
Tensor select_slices(const Tensor& x, std::int64_t axis, const Tensor& index) {
  Tensor out = Tensor::empty(with_axis_length(x.shape(), axis, index.numel()), x.dtype(), x.device());
  Tensor saved_index = index.detach().contiguous();
  backend_for(x.device()).index_select(x.detach().contiguous(), axis, saved_index, out);
  Shape input_shape = x.shape();
  return record("index_select", out, {x}, [input_shape, axis, saved_index](const Tensor& g) {
    return std::vector<Tensor>{gradient_of_index_select(input_shape, axis, saved_index, g)};
  });
}

}  // namespace

// out[o, j, i] = x[o, index[o, j, i], i];  dx = zeros(x) with g added at the gathered places
Tensor gather(const Tensor& x, std::int64_t axis, const Tensor& index) {
  std::int64_t a = check_indexing("gather", x, axis, index);
  check_index_fits("gather", x, a, index);
  Tensor out = Tensor::empty(index.shape(), x.dtype(), x.device());
  Tensor saved_index = index.detach().contiguous();
  backend_for(x.device()).gather(x.detach().contiguous(), a, saved_index, out);
  Shape input_shape = x.shape();
  return record("gather", out, {x}, [input_shape, a, saved_index](const Tensor& g) {
    return std::vector<Tensor>{gradient_of_gather(input_shape, a, saved_index, g)};
  });
}

// out = x, then out[o, index[o, j, i], i] += src[o, j, i];  dx = g, dsrc = gather(g, axis, index)
Tensor scatter_add(const Tensor& x, std::int64_t axis, const Tensor& index, const Tensor& src) {
  std::int64_t a = check_indexing("scatter_add", x, axis, index);
  detail::check_defined("scatter_add", src, "src");
  detail::check_same_device("scatter_add", x, src);
  check_index_fits("scatter_add", x, a, index);
  if (src.shape() != index.shape()) {
    throw ShapeError(fmt::format("[scatter_add] src {} must have the shape of index {}", shape_str(src.shape()),
                                 shape_str(index.shape())));
  }
  DType dtype = promote_types(x.dtype(), src.dtype());
  Tensor base = x.to(dtype), added = src.to(dtype);
  Tensor out = fresh_copy(base);
  backend_for(x.device()).scatter_add(out, a, index.detach().contiguous(), added.detach().contiguous());
  Tensor saved_index = index.detach();
  bool src_needs_grad = added.requires_grad();
  return record("scatter_add", out, {base, added}, [a, saved_index, src_needs_grad](const Tensor& g) {
    return std::vector<Tensor>{g, src_needs_grad ? gather(g, a, saved_index) : Tensor()};
  });
}

// out[..., j, ...] = x[..., index[j], ...] along axis;  dx = zeros(x) with g's slices added at rows index[j]
Tensor index_select(const Tensor& x, std::int64_t axis, const Tensor& index) {
  std::int64_t a = check_indexing("index_select", x, axis, index);
  check_index_is_list("index_select", index);
  return select_slices(x, a, index);
}

// out = x, then out[..., index[j], ...] += src[..., j, ...];  dx = g, dsrc = index_select(g, axis, index)
Tensor index_add(const Tensor& x, std::int64_t axis, const Tensor& index, const Tensor& src) {
  std::int64_t a = check_indexing("index_add", x, axis, index);
  detail::check_defined("index_add", src, "src");
  detail::check_same_device("index_add", x, src);
  check_index_is_list("index_add", index);
  Shape expected = with_axis_length(x.shape(), a, index.numel());
  if (src.shape() != expected) {
    throw ShapeError(fmt::format("[index_add] src {} must have shape {} (x {} with axis {} the length of index {})",
                                 shape_str(src.shape()), shape_str(expected), shape_str(x.shape()), a,
                                 shape_str(index.shape())));
  }
  DType dtype = promote_types(x.dtype(), src.dtype());
  Tensor base = x.to(dtype), added = src.to(dtype);
  Tensor out = fresh_copy(base);
  backend_for(x.device()).index_add(out, a, index.detach().contiguous(), added.detach().contiguous());
  Tensor saved_index = index.detach();
  bool src_needs_grad = added.requires_grad();
  return record("index_add", out, {base, added}, [a, saved_index, src_needs_grad](const Tensor& g) {
    return std::vector<Tensor>{g, src_needs_grad ? index_select(g, a, saved_index) : Tensor()};
  });
}

// index (...) -> (..., num_classes) with a 1 at each index; no gradient (the index is an integer).
Tensor one_hot(const Tensor& index, std::int64_t num_classes, DType dtype) {
  detail::check_defined("one_hot", index, "index");
  detail::check_index_dtype("one_hot", index);
  if (num_classes <= 0) {
    throw Error(fmt::format("[one_hot] num_classes must be positive, got {}", num_classes));
  }
  detail::check_index_range("one_hot", index, num_classes);
  Tensor classes = arange(num_classes, kInt64, index.device());
  return eq(unsqueeze(index, -1), classes).to(dtype);
}

// weight (V,D), ids (...) -> (..., D): row ids[...] of weight. The gradient adds g's rows into
// dweight at rows ids, so a token that appears twice gets both contributions.
Tensor embedding(const Tensor& weight, const Tensor& ids) {
  detail::check_defined("embedding", weight, "weight");
  detail::check_defined("embedding", ids, "ids");
  detail::check_same_device("embedding", weight, ids);
  if (weight.dim() != 2) {
    throw ShapeError(fmt::format("[embedding] weight must be 2-D (vocabulary, dim), got {}", detail::describe(weight)));
  }
  detail::check_index_dtype("embedding", ids, "ids");
  detail::check_index_range("embedding", ids, weight.shape()[0], "ids");
  Shape out_shape = ids.shape();
  out_shape.push_back(weight.shape()[1]);
  return reshape(select_slices(weight, 0, reshape(ids, {ids.numel()})), out_shape);
}

}  // namespace moegrad

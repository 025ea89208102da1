// Tensor: a view (shape, strides, offset, dtype) onto shared Storage, plus the autograd fields.
// Copying a Tensor copies a handle: both refer to the same data and the same graph node, like
// a PyTorch tensor. Views (reshape, transpose, narrow, expand) share storage; contiguous() copies
// only when the layout needs it.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "tensor/device.h"
#include "tensor/dtype.h"
#include "tensor/shape.h"
#include "tensor/storage.h"

namespace moegrad {

struct Node;  // tensor/graph.h

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Strides strides;
  std::int64_t offset = 0;  // in elements
  DType dtype = DType::Float32;

  // autograd
  bool requires_grad = false;
  bool retains_grad = false;  // keep .grad on a non-leaf (retain_grad())
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<Node> grad_fn;  // null for leaves and for tensors outside the graph
};

class Tensor {
 public:
  Tensor() = default;  // undefined: defined() is false
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // A new tensor over fresh, uninitialised storage. A shape whose bytes do not fit is a
  // ShapeError naming `op` (creation functions pass their own name).
  static Tensor empty(const Shape& shape, DType dtype = kFloat32, Device device = cpu(), const char* op = "empty");
  // A view of this tensor's storage with another layout (no autograd node: ops use this).
  Tensor as_strided(const Shape& shape, const Strides& strides, std::int64_t offset) const;

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Strides& strides() const { return impl().strides; }
  std::int64_t offset() const { return impl().offset; }
  std::int64_t dim() const { return static_cast<std::int64_t>(impl().shape.size()); }
  std::int64_t size(std::int64_t axis) const;  // negative axes count from the end
  std::int64_t numel() const { return numel_of(impl().shape); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }
  void* data_ptr() const;  // first element of this view
  template <class T>
  T* data() const {
    return static_cast<T*>(data_ptr());
  }

  // ---- values (CPU copies; work on any device) ----
  double item() const;  // the one value of a tensor with numel() == 1
  template <class T>
  std::vector<T> to_vector() const;  // row-major values, converted to T
  double at(std::initializer_list<std::int64_t> index) const;  // one element, for tests and printing
  std::string str() const;  // readable printing (also via fmt::format("{}", t) and operator<<)

  // ---- copies and moves ----
  Tensor contiguous() const;  // itself when already contiguous
  Tensor clone() const;       // always a fresh copy (differentiable)
  Tensor to(Device device) const;
  Tensor to(DType dtype) const;  // differentiable between floating dtypes

  // ---- in-place writes (refused on tensors that take part in a graph) ----
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  Tensor& copy_(const Tensor& src);  // src broadcast to this shape, cast to this dtype
  // Makes this tensor (and every handle sharing it) refer to source's data, shape, dtype and
  // device, keeping its autograd flags: how Module::to() moves parameters without invalidating
  // the handles that layers and optimizers hold. Leaves only.
  void set_data(const Tensor& source);

  // ---- autograd ----
  bool requires_grad() const { return impl().requires_grad; }
  Tensor& requires_grad_(bool flag = true);
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  Tensor grad() const;  // undefined until a backward() reaches this tensor
  void set_grad(const Tensor& grad);
  void zero_grad();     // drops the gradient (the next backward starts from nothing)
  void retain_grad();   // keep the gradient of a non-leaf (e.g. a gate value) after backward
  const std::shared_ptr<Node>& grad_fn() const { return impl().grad_fn; }
  // Seeds d(self)/d(self) = 1 (self must hold one value) and walks the graph back.
  void backward(bool retain_graph = false) const;
  void backward(const Tensor& grad_output, bool retain_graph = false) const;
  Tensor detach() const;  // same data, no graph

  // ---- method forms of common ops (defined in tensor/ops/*.cpp) ----
  Tensor reshape(const Shape& shape) const;
  Tensor view(const Shape& shape) const;
  Tensor transpose(std::int64_t axis0, std::int64_t axis1) const;
  Tensor permute(const std::vector<std::int64_t>& axes) const;
  Tensor t() const { return transpose(0, 1); }
  Tensor narrow(std::int64_t axis, std::int64_t start, std::int64_t length) const;
  Tensor expand(const Shape& shape) const;
  Tensor unsqueeze(std::int64_t axis) const;
  Tensor squeeze(std::int64_t axis) const;
  Tensor sum() const;
  Tensor sum(const std::vector<std::int64_t>& axes, bool keepdim = false) const;
  Tensor mean() const;
  Tensor mean(const std::vector<std::int64_t>& axes, bool keepdim = false) const;
  Tensor matmul(const Tensor& other) const;
  Tensor exp() const;
  Tensor log() const;
  Tensor pow(double exponent) const;

  TensorImpl& impl() const;  // throws on an undefined tensor
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& other) const { return impl_ == other.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

}  // namespace moegrad

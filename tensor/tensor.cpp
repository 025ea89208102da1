#include "tensor/tensor.h"

#include <fmt/format.h>

#include "tensor/graph.h"
#include "tensor/backend.h"
#include "tensor/creation.h"
#include "tensor/errors.h"
#include "tensor/ops.h"

namespace moegrad {

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device, const char* op) {
  const std::size_t nbytes = checked_nbytes(op, shape, dtype_size(dtype));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(nbytes, device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::as_strided(const Shape& shape, const Strides& strides, std::int64_t offset) const {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = storage();
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = dtype();
  return Tensor(std::move(impl));
}

TensorImpl& Tensor::impl() const {
  if (!impl_) throw Error("[tensor] this tensor is undefined (default-constructed, or a gradient not computed yet)");
  return *impl_;
}

std::int64_t Tensor::size(std::int64_t axis) const { return shape()[normalize_axis("size", axis, dim())]; }

bool Tensor::is_contiguous() const {
  std::int64_t expected = 1;
  for (std::size_t i = shape().size(); i-- > 0;) {
    if (shape()[i] == 1) continue;
    if (strides()[i] != expected) return false;
    expected *= shape()[i];
  }
  return true;
}

void* Tensor::data_ptr() const {
  return static_cast<char*>(storage()->data()) + offset() * static_cast<std::int64_t>(dtype_size(dtype()));
}

// ---------------- values ----------------

namespace {
// A contiguous CPU copy of `t` (itself when it already is one).
Tensor host_contiguous(const Tensor& t) {
  NoGradGuard no_grad;
  Tensor c = t.detach().contiguous();
  return c.device().is_cpu() ? c : c.to(cpu());
}
}  // namespace

double Tensor::item() const {
  if (numel() != 1) {
    throw ShapeError(fmt::format("[item] expects a tensor with exactly one element, got shape {}", shape_str(shape())));
  }
  return host_contiguous(*this).to_vector<double>()[0];
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  Tensor host = host_contiguous(*this);
  std::vector<T> values(static_cast<std::size_t>(host.numel()));
  dispatch_storage_dtype(host.dtype(), [&](auto tag) {
    using Source = decltype(tag);
    const Source* source = host.data<Source>();
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<T>(source[i]);
  });
  return values;
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<std::int64_t> Tensor::to_vector<std::int64_t>() const;

double Tensor::at(std::initializer_list<std::int64_t> index) const {
  if (static_cast<std::int64_t>(index.size()) != dim()) {
    throw IndexError(fmt::format("[at] {} indices given for a tensor of shape {}", index.size(), shape_str(shape())));
  }
  std::int64_t element = offset(), axis = 0;
  for (auto i : index) {
    if (i < -shape()[axis] || i >= shape()[axis]) {
      throw IndexError(fmt::format("[at] index {} is out of range for axis {} of shape {}", i, axis, shape_str(shape())));
    }
    element += (i < 0 ? i + shape()[axis] : i) * strides()[axis];
    ++axis;
  }
  return as_strided({}, {}, element).item();
}

// ---------------- copies ----------------

Tensor Tensor::contiguous() const { return moegrad::contiguous(*this); }
Tensor Tensor::clone() const {
  Tensor out = Tensor::empty(shape(), dtype(), device());
  backend_for(device()).copy(*this, out);
  return record("clone", out, {*this}, [](const Tensor& grad) { return std::vector<Tensor>{grad}; });
}

Tensor Tensor::to(DType target) const { return to_dtype(*this, target); }

Tensor Tensor::to(Device target) const {
  if (target == device()) return *this;
  Tensor source = moegrad::contiguous(*this);
  Tensor out = Tensor::empty(shape(), dtype(), target);
  std::size_t nbytes = static_cast<std::size_t>(numel()) * dtype_size(dtype());
  if (source.device().is_cpu()) {
    backend_for(target).copy_from_host(out.data_ptr(), source.data_ptr(), nbytes);
  } else if (target.is_cpu()) {
    backend_for(source.device()).copy_to_host(out.data_ptr(), source.data_ptr(), nbytes);
  } else {
    return source.to(cpu()).to(target);
  }
  Device from = device();
  return record("to_device", out, {*this}, [from](const Tensor& grad) { return std::vector<Tensor>{grad.to(from)}; });
}

// ---------------- in place ----------------

namespace {
void check_writable(const Tensor& t, const char* op) {
  if (grad_enabled() && t.requires_grad()) {
    throw AutogradError(fmt::format(
        "[{}] cannot write in place into a tensor of shape {} that requires grad while gradients are "
        "recorded; wrap the update in NoGradGuard (as optimizers do) or work on a detached copy",
        op, shape_str(t.shape())));
  }
}
}  // namespace

Tensor& Tensor::fill_(double value) {
  check_writable(*this, "fill_");
  backend_for(device()).fill(*this, value);
  storage()->bump_version();
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  check_writable(*this, "copy_");
  if (src.device() != device()) {
    throw DeviceError(fmt::format("[copy_] source is on {} but destination is on {}; move it with .to() first",
                                  src.device().str(), device().str()));
  }
  NoGradGuard no_grad;
  Tensor source = broadcast_to(src.detach(), shape());
  backend_for(device()).copy(source, *this);
  storage()->bump_version();
  return *this;
}

void Tensor::set_data(const Tensor& source) {
  if (!is_leaf()) throw AutogradError("[set_data] only leaf tensors (parameters, buffers) can have their data replaced");
  if (requires_grad() && !is_floating(source.dtype())) {
    throw DTypeError(fmt::format("[set_data] a tensor that requires grad cannot take {} data", dtype_name(source.dtype())));
  }
  TensorImpl& target = impl();
  target.storage = source.storage();
  target.shape = source.shape();
  target.strides = source.strides();
  target.offset = source.offset();
  target.dtype = source.dtype();
  target.grad = nullptr;
}

// ---------------- autograd ----------------

Tensor& Tensor::requires_grad_(bool flag) {
  if (flag && !is_floating(dtype())) {
    throw DTypeError(fmt::format("[requires_grad_] only floating tensors can require grad, got {}", dtype_name(dtype())));
  }
  if (!flag && !is_leaf()) {
    throw AutogradError("[requires_grad_] cannot turn off requires_grad on a non-leaf; use detach()");
  }
  impl().requires_grad = flag;
  return *this;
}

Tensor Tensor::grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }

void Tensor::set_grad(const Tensor& grad) {
  if (grad.defined() && (grad.shape() != shape() || grad.dtype() != dtype())) {
    throw ShapeError(fmt::format("[set_grad] gradient {} {} does not match tensor {} {}", dtype_name(grad.dtype()),
                                 shape_str(grad.shape()), dtype_name(dtype()), shape_str(shape())));
  }
  impl().grad = grad.defined() ? grad.impl_ptr() : nullptr;
}

void Tensor::zero_grad() { impl().grad = nullptr; }

void Tensor::retain_grad() {
  if (!requires_grad()) {
    throw AutogradError(fmt::format("[retain_grad] the tensor of shape {} does not require grad", shape_str(shape())));
  }
  impl().retains_grad = true;
}

void Tensor::backward(bool retain_graph) const {
  if (numel() != 1) {
    throw ShapeError(fmt::format(
        "[backward] without a gradient argument the tensor must hold one value, got shape {}; "
        "pass backward(grad_output) for a non-scalar tensor",
        shape_str(shape())));
  }
  run_backward(*this, ones(shape(), dtype(), device()), retain_graph);
}

void Tensor::backward(const Tensor& grad_output, bool retain_graph) const {
  run_backward(*this, grad_output, retain_graph);
}

Tensor Tensor::detach() const { return as_strided(shape(), strides(), offset()); }

// ---------------- method forms ----------------

Tensor Tensor::reshape(const Shape& s) const { return moegrad::reshape(*this, s); }
Tensor Tensor::view(const Shape& s) const { return moegrad::view(*this, s); }
Tensor Tensor::transpose(std::int64_t a, std::int64_t b) const { return moegrad::transpose(*this, a, b); }
Tensor Tensor::permute(const std::vector<std::int64_t>& axes) const { return moegrad::permute(*this, axes); }
Tensor Tensor::narrow(std::int64_t axis, std::int64_t start, std::int64_t length) const {
  return moegrad::narrow(*this, axis, start, length);
}
Tensor Tensor::expand(const Shape& s) const { return moegrad::expand(*this, s); }
Tensor Tensor::unsqueeze(std::int64_t axis) const { return moegrad::unsqueeze(*this, axis); }
Tensor Tensor::squeeze(std::int64_t axis) const { return moegrad::squeeze(*this, axis); }
Tensor Tensor::sum() const { return moegrad::sum(*this); }
Tensor Tensor::sum(const std::vector<std::int64_t>& axes, bool keepdim) const { return moegrad::sum(*this, axes, keepdim); }
Tensor Tensor::mean() const { return moegrad::mean(*this); }
Tensor Tensor::mean(const std::vector<std::int64_t>& axes, bool keepdim) const {
  return moegrad::mean(*this, axes, keepdim);
}
Tensor Tensor::matmul(const Tensor& other) const { return moegrad::matmul(*this, other); }
Tensor Tensor::exp() const { return moegrad::exp(*this); }
Tensor Tensor::log() const { return moegrad::log(*this); }
Tensor Tensor::pow(double exponent) const { return moegrad::pow(*this, exponent); }

}  // namespace moegrad

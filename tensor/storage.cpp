#include "tensor/storage.h"

#include "tensor/backend.h"
#include "tensor/profiler.h"

namespace moegrad {

Storage::Storage(std::size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  profiler::allocated(nbytes);
  data_ = backend_for(device).allocate(nbytes);
}

Storage::~Storage() {
  if (data_ == nullptr) return;
  profiler::freed(nbytes_);
  backend_for(device_).deallocate(data_, nbytes_);
}

}  // namespace moegrad

// A reference-counted block of memory on one device. Views share it; the last owner frees it.
#pragma once
#include <cstddef>
#include <cstdint>

#include "tensor/device.h"

namespace moegrad {

class Storage {
 public:
  Storage(std::size_t nbytes, Device device);  // allocates through backend_for(device)
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  std::size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

  // Bumped by every in-place write, so backward can tell that a tensor it saved was overwritten.
  std::uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  void* data_ = nullptr;
  std::size_t nbytes_ = 0;
  Device device_;
  std::uint64_t version_ = 0;
};

}  // namespace moegrad

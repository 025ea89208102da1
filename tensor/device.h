// Where a tensor's storage lives. Every kernel call goes through backend_for(device) (tensor/backend.h),
// so the CUDA backend slots in without any op's public code knowing about it.
#pragma once
#include <string>

namespace moegrad {

enum class DeviceType { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device& other) const { return type == other.type && index == other.index; }
  bool operator!=(const Device& other) const { return !(*this == other); }
  std::string str() const;  // "cpu", "cuda:0"
};

inline Device cpu() { return Device{DeviceType::CPU, 0}; }
inline Device cuda(int index = 0) { return Device{DeviceType::CUDA, index}; }

// True when this build has CUDA and a GPU is visible (tests skip their CUDA cases otherwise).
bool cuda_available();
int cuda_device_count();

// Parses "cpu", "cuda", "cuda:1"; throws DeviceError otherwise.
Device parse_device(const std::string& text);

}  // namespace moegrad

#include "nn/taps.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "nn/module.h"
#include "tensor/errors.h"

namespace moegrad::nn {

bool Taps::wants(const std::string& name) const {
  for (const auto& pattern : patterns_) {
    if (matches_pattern(name, pattern)) return true;
  }
  return false;
}

void Taps::put(const std::string& name, const Tensor& value) { values_[name] = value; }

void Taps::report(const std::string& name, std::any value) {
  std::string full = prefix_ + name;
  if (reports_.count(full)) {
    throw Error(fmt::format("[Taps] '{}' already reported in this record: a record holds one forward (use a fresh "
                            "record or clear() it), and a layer applied twice needs two names", full));
  }
  reports_[full] = std::move(value);
}

const Tensor& Taps::get(const std::string& name) const {
  auto found = values_.find(name);
  if (found == values_.end()) {
    throw Error(fmt::format("[Taps] nothing recorded under '{}'; recorded: {}", name, fmt::join(names(), ", ")));
  }
  return found->second;
}

std::vector<std::string> Taps::names() const {
  std::vector<std::string> out;
  for (const auto& [name, value] : values_) out.push_back(name);
  return out;
}

TapScope::TapScope(Taps* taps, const std::string& name) : taps_(taps) {
  if (!taps_) return;
  previous_length_ = taps_->prefix_.size();
  taps_->prefix_ += name + ".";
}

TapScope::~TapScope() {
  if (taps_) taps_->prefix_.resize(previous_length_);
}

void record_tap(Taps* taps, const std::string& name, const Tensor& value) {
  if (!taps) return;
  std::string full = taps->prefix() + name;
  if (taps->wants(full)) taps->put(full, value);
}

void record_tap(Taps* taps, const std::string& name, const std::function<Tensor()>& compute) {
  if (!taps) return;
  std::string full = taps->prefix() + name;
  if (taps->wants(full)) taps->put(full, compute());
}

}  // namespace moegrad::nn

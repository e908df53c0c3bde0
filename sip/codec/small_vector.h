#pragma once
// A vector that keeps its first N elements inline (no allocation for the usual 1-4 parameters of a
// header) and spills to the heap beyond. Used for parameter lists and Vias so that parsing a
// message costs O(1) allocations. Chosen over absl::InlinedVector because GCC 12 reports false
// -Wmaybe-uninitialized on its copies at -O2, which would break -Werror for every includer.

#include <array>
#include <cstddef>
#include <utility>
#include <vector>

namespace causeway::sip {

template <typename T, size_t N>
class SmallVector {
 public:
  using value_type = T;
  using iterator = T*;
  using const_iterator = const T*;

  SmallVector() = default;

  void push_back(const T& value) { emplace_back(value); }
  void push_back(T&& value) { emplace_back(std::move(value)); }
  template <typename... Args>
  T& emplace_back(Args&&... args) {
    if (heap_.empty() && size_ < N) {
      inline_[size_] = T(std::forward<Args>(args)...);
      return inline_[size_++];
    }
    if (heap_.empty()) {
      heap_.reserve(2 * N);
      for (size_t i = 0; i < size_; ++i) heap_.push_back(std::move(inline_[i]));
    }
    heap_.emplace_back(std::forward<Args>(args)...);
    ++size_;
    return heap_.back();
  }
  void clear() {
    for (size_t i = 0; i < size_ && i < N; ++i) inline_[i] = T();
    heap_.clear();
    size_ = 0;
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T* data() { return heap_.empty() ? inline_.data() : heap_.data(); }
  const T* data() const { return heap_.empty() ? inline_.data() : heap_.data(); }
  T* begin() { return data(); }
  T* end() { return data() + size_; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size_; }
  T& operator[](size_t i) { return data()[i]; }
  const T& operator[](size_t i) const { return data()[i]; }
  T& front() { return data()[0]; }
  const T& front() const { return data()[0]; }
  T& back() { return data()[size_ - 1]; }
  const T& back() const { return data()[size_ - 1]; }

 private:
  std::array<T, N> inline_{};
  std::vector<T> heap_;  // non-empty once spilled: then it holds every element
  size_t size_ = 0;
};

}  // namespace causeway::sip

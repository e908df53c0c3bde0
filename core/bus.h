#pragma once
// The in-process publish/subscribe bus that connects protocol adapters through the normalized
// events of core/events.h (any copyable type works as an event).
//
// Single-threaded by design: one Bus per worker thread, used only from that thread, so delivery
// needs no locks. Events that must reach another worker are posted to that worker's loop by the
// runtime (routing by user or conversation key), which then publishes on the worker's own bus.
//
// Delivery is synchronous, in subscription order, to the subscribers of exactly that type.
// Handlers may subscribe, unsubscribe (themselves or others) and publish from inside a handler:
//  - a subscriber added during a Publish() does not receive the event being published;
//  - a subscriber removed during a Publish() is not called afterwards, not even for that event;
//  - nested Publish() calls are limited to kMaxDepth levels so a feedback loop between two
//    adapters fails loudly (ResourceExhausted) instead of overflowing the stack.
// Subscriptions unsubscribe when destroyed and may outlive the Bus (they then do nothing).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"

namespace causeway {

namespace bus_internal {
struct State;
using TypeKey = const void*;
template <typename E>
TypeKey KeyOf() {
  static const char key = 0;  // one distinct address per event type
  return &key;
}
}  // namespace bus_internal

// RAII handle of one subscription. Move-only; destruction or Reset() unsubscribes.
class Subscription {
 public:
  Subscription() = default;
  ~Subscription() { Reset(); }
  Subscription(Subscription&& other) noexcept { *this = std::move(other); }
  Subscription& operator=(Subscription&& other) noexcept;
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  // Unsubscribes now (idempotent).
  void Reset();
  // True while subscribed to a Bus that still exists.
  bool active() const;

 private:
  friend class Bus;
  Subscription(std::weak_ptr<bus_internal::State> state, bus_internal::TypeKey key, uint64_t id)
      : state_(std::move(state)), key_(key), id_(id) {}

  std::weak_ptr<bus_internal::State> state_;
  bus_internal::TypeKey key_ = nullptr;
  uint64_t id_ = 0;
};

class Bus {
 public:
  static constexpr int kMaxDepth = 16;

  Bus();
  ~Bus();
  Bus(const Bus&) = delete;
  Bus& operator=(const Bus&) = delete;

  template <typename E>
  [[nodiscard]] Subscription Subscribe(absl::AnyInvocable<void(const E&)> handler) {
    return Add(bus_internal::KeyOf<E>(), [h = std::move(handler)](const void* event) mutable {
      h(*static_cast<const E*>(event));
    });
  }

  // Delivers `event` to every current subscriber of E. OK even with no subscribers;
  // ResourceExhausted when called more than kMaxDepth levels deep from handlers.
  template <typename E>
  absl::Status Publish(const E& event) {
    return Dispatch(bus_internal::KeyOf<E>(), &event);
  }

  template <typename E>
  size_t SubscriberCount() const {
    return Count(bus_internal::KeyOf<E>());
  }

 private:
  Subscription Add(bus_internal::TypeKey key, absl::AnyInvocable<void(const void*)> handler);
  absl::Status Dispatch(bus_internal::TypeKey key, const void* event);
  size_t Count(bus_internal::TypeKey key) const;

  std::shared_ptr<bus_internal::State> state_;
};

}  // namespace causeway

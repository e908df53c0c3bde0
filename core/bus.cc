#include "core/bus.h"

#include <algorithm>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace causeway {
namespace bus_internal {

struct Entry {
  uint64_t id;
  absl::AnyInvocable<void(const void*)> handler;
  bool active = true;
};

struct Channel {
  // unique_ptr: a handler that subscribes may grow the vector while another entry's handler is
  // running; the running handler must not move.
  std::vector<std::unique_ptr<Entry>> entries;
  int publishing = 0;  // Publish() calls of this type in progress
  bool has_removed = false;
};

struct State {
  // unique_ptr: subscribing to a new type from inside a handler may rehash the map while a
  // Channel is being iterated.
  absl::flat_hash_map<TypeKey, std::unique_ptr<Channel>> channels;
  uint64_t next_id = 1;
  int depth = 0;

  void Compact(Channel& channel) {
    if (channel.publishing > 0 || !channel.has_removed) return;
    std::erase_if(channel.entries, [](const std::unique_ptr<Entry>& e) { return !e->active; });
    channel.has_removed = false;
  }

  void Remove(TypeKey key, uint64_t id) {
    auto it = channels.find(key);
    if (it == channels.end()) return;
    Channel& channel = *it->second;
    for (auto& entry : channel.entries) {
      if (entry->id == id && entry->active) {
        // Never destroy a handler here: it may be the one currently running.
        entry->active = false;
        channel.has_removed = true;
        break;
      }
    }
    Compact(channel);
  }
};

}  // namespace bus_internal

Subscription& Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    Reset();
    state_ = std::move(other.state_);
    key_ = other.key_;
    id_ = other.id_;
    other.state_.reset();
    other.id_ = 0;
  }
  return *this;
}

void Subscription::Reset() {
  if (id_ == 0) return;
  if (auto state = state_.lock()) state->Remove(key_, id_);
  state_.reset();
  id_ = 0;
}

bool Subscription::active() const { return id_ != 0 && !state_.expired(); }

Bus::Bus() : state_(std::make_shared<bus_internal::State>()) {}
Bus::~Bus() = default;

Subscription Bus::Add(bus_internal::TypeKey key, absl::AnyInvocable<void(const void*)> handler) {
  auto& slot = state_->channels[key];
  if (!slot) slot = std::make_unique<bus_internal::Channel>();
  const uint64_t id = state_->next_id++;
  slot->entries.push_back(
      std::make_unique<bus_internal::Entry>(bus_internal::Entry{id, std::move(handler), true}));
  return Subscription(state_, key, id);
}

absl::Status Bus::Dispatch(bus_internal::TypeKey key, const void* event) {
  bus_internal::State& state = *state_;
  auto it = state.channels.find(key);
  if (it == state.channels.end()) return absl::OkStatus();
  if (state.depth >= kMaxDepth) {
    return absl::ResourceExhaustedError("bus: publish nested too deeply (handler feedback loop?)");
  }
  bus_internal::Channel& channel = *it->second;
  ++state.depth;
  ++channel.publishing;
  // Only the subscribers present when Publish() started; re-read the size bound once.
  const size_t n = channel.entries.size();
  for (size_t i = 0; i < n; ++i) {
    bus_internal::Entry& entry = *channel.entries[i];
    if (entry.active) entry.handler(event);
  }
  --channel.publishing;
  --state.depth;
  state.Compact(channel);
  return absl::OkStatus();
}

size_t Bus::Count(bus_internal::TypeKey key) const {
  auto it = state_->channels.find(key);
  if (it == state_->channels.end()) return 0;
  return static_cast<size_t>(
      std::count_if(it->second->entries.begin(), it->second->entries.end(),
                    [](const std::unique_ptr<bus_internal::Entry>& e) { return e->active; }));
}

}  // namespace causeway

#include "core/clock.h"

namespace causeway {

// Out of line so the Clock vtable is emitted in exactly one object file.
Clock::~Clock() = default;

}  // namespace causeway

// causeway: the gateway daemon. Everything but the list of services lives in the gateway library
// (daemon.h); the composition root adds services here as the stacks become available.

#include <memory>
#include <vector>

#include "gateway/daemon.h"
#include "gateway/sip_service.h"

namespace {

// No SIP services are wired yet: the daemon prepares its state and certificate, logs that nothing
// is listening, and waits for a signal.
std::vector<std::unique_ptr<causeway::gateway::Service>> MakeServices() {
  std::vector<std::unique_ptr<causeway::gateway::Service>> services;
  services.push_back(causeway::gateway::MakeSipService());
  return services;
}

}  // namespace

int main(int argc, char** argv) { return causeway::gateway::RunMain(argc, argv, &MakeServices); }

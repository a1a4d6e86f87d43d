// The c10d shim: a process group (TCPStore + Gloo or NCCL) behind a C ABI.
// Every C++ exception stops here and becomes an error string; the Rust side
// adds the operation and the rank.
#include "c10d_shim.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <torch/csrc/autograd/variable.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef TZ_DIST_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

struct tzd_group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;
  std::chrono::milliseconds timeout;
};

namespace {

char* copy_message(const std::string& message) {
  char* out = static_cast<char*>(std::malloc(message.size() + 1));
  if (out != nullptr) {
    std::memcpy(out, message.c_str(), message.size() + 1);
  }
  return out;
}

// Runs `body`, turning any exception into an error string (NULL = success).
template <typename F>
char* guarded(F&& body) {
  try {
    body();
    return nullptr;
  } catch (const c10::Error& e) {
    return copy_message(e.what_without_backtrace());
  } catch (const std::exception& e) {
    return copy_message(e.what());
  } catch (...) {
    return copy_message("unknown C++ exception");
  }
}

std::vector<at::Tensor> tensor_list(tzd_tensor* tensors, int count) {
  std::vector<at::Tensor> out;
  out.reserve(count);
  for (int i = 0; i < count; ++i) {
    out.push_back(*static_cast<at::Tensor*>(tensors[i]));
  }
  return out;
}

at::Tensor& tensor(tzd_tensor t) {
  return *static_cast<at::Tensor*>(t);
}

c10d::ReduceOp reduce_op(int op) {
  switch (op) {
    case TZD_SUM:
      return c10d::ReduceOp::SUM;
    case TZD_MIN:
      return c10d::ReduceOp::MIN;
    case TZD_MAX:
      return c10d::ReduceOp::MAX;
    default:
      throw std::invalid_argument("unknown reduce op " + std::to_string(op));
  }
}

// Waits for a collective; a failure or an expired timeout throws.
void finish(const tzd_group* g, const c10::intrusive_ptr<c10d::Work>& work) {
  if (!work->wait(g->timeout)) {
    throw std::runtime_error("collective did not finish within the timeout");
  }
}

c10::intrusive_ptr<c10d::Backend> gloo_backend(const tzd_config& c,
                                               const c10::intrusive_ptr<c10d::Store>& store) {
  auto options = c10d::ProcessGroupGloo::Options::create(std::chrono::milliseconds(c.timeout_ms));
  if (c.gloo_interface != nullptr) {
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(c.gloo_interface));
  } else if (c.gloo_hostname != nullptr) {
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(c.gloo_hostname));
  } else {
    options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  }
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, c.rank, c.world_size, options);
}

c10::intrusive_ptr<c10d::Backend> nccl_backend(const tzd_config& c,
                                               const c10::intrusive_ptr<c10d::Store>& store) {
#ifdef TZ_DIST_NCCL
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(c.cuda_device));
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = std::chrono::milliseconds(c.timeout_ms);
  auto pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, c.rank, c.world_size, options);
  pg->setBoundDeviceId(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(c.cuda_device)));
  return pg;
#else
  (void)c;
  (void)store;
  throw std::runtime_error(
      "this build has no NCCL backend (libtorch_cuda or the CUDA/NCCL headers were missing at build time)");
#endif
}

}  // namespace

extern "C" {

int tzd_has_nccl(void) {
#ifdef TZ_DIST_NCCL
  return 1;
#else
  return 0;
#endif
}

char* tzd_group_new(const tzd_config* config, tzd_group** out) {
  *out = nullptr;
  return guarded([&] {
    const tzd_config& c = *config;
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<std::uint16_t>(c.store_port);
    store_options.isServer = c.host_store != 0;
    store_options.numWorkers = static_cast<std::size_t>(c.world_size);
    // As torch.distributed does: every rank counts itself in and waits for
    // the others, so the group forms only once all ranks reached the store.
    store_options.waitWorkers = true;
    store_options.timeout = std::chrono::milliseconds(c.timeout_ms);
    // Several tenants (torchrun's agent, our group) may share one endpoint.
    store_options.multiTenant = true;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(std::string(c.store_host), store_options);
    auto store = c10::make_intrusive<c10d::PrefixStore>(std::string(c.store_prefix), tcp);
    auto group = new tzd_group{store, {}, std::chrono::milliseconds(c.timeout_ms)};
    try {
      group->backend = c.backend == TZD_NCCL ? nccl_backend(c, store) : gloo_backend(c, store);
    } catch (...) {
      delete group;
      throw;
    }
    *out = group;
  });
}

void tzd_group_free(tzd_group* group) {
  if (group == nullptr) {
    return;
  }
  // A destructor that throws (a backend torn down after a peer died) must
  // not cross the C boundary.
  try {
    delete group;
  } catch (...) {
  }
}

char* tzd_all_reduce(tzd_group* group, tzd_tensor* tensors, int count, int op) {
  return guarded([&] {
    auto list = tensor_list(tensors, count);
    c10d::AllreduceOptions options;
    options.reduceOp = reduce_op(op);
    options.timeout = group->timeout;
    finish(group, group->backend->allreduce(list, options));
  });
}

char* tzd_broadcast(tzd_group* group, tzd_tensor* tensors, int count, int root) {
  return guarded([&] {
    auto list = tensor_list(tensors, count);
    c10d::BroadcastOptions options;
    options.rootRank = root;
    options.timeout = group->timeout;
    finish(group, group->backend->broadcast(list, options));
  });
}

char* tzd_all_gather_flat(tzd_group* group, tzd_tensor output, tzd_tensor input) {
  return guarded([&] {
    c10d::AllgatherOptions options;
    options.timeout = group->timeout;
    finish(group, group->backend->_allgather_base(tensor(output), tensor(input), options));
  });
}

char* tzd_reduce_scatter_flat(tzd_group* group, tzd_tensor output, tzd_tensor input, int op) {
  return guarded([&] {
    c10d::ReduceScatterOptions options;
    options.reduceOp = reduce_op(op);
    options.timeout = group->timeout;
    finish(group, group->backend->_reduce_scatter_base(tensor(output), tensor(input), options));
  });
}

char* tzd_barrier(tzd_group* group) {
  return guarded([&] {
    c10d::BarrierOptions options;
    options.timeout = group->timeout;
    finish(group, group->backend->barrier(options));
  });
}

char* tzd_set_grad(tzd_tensor param, tzd_tensor grad) {
  return guarded([&] { tensor(param).mutable_grad() = tensor(grad); });
}

void tzd_free_string(char* message) {
  std::free(message);
}

}  // extern "C"

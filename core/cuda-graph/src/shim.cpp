// C API over at::cuda::CUDAGraph for tz-cuda-graph (tch has no binding).
//
// Only c10/ATen entry points are called, never the CUDA runtime directly:
// the runtime library is then found through libtorch_cuda's own
// dependencies, and binaries need no path to it. Every function catches the
// C++ exceptions of libtorch and returns them as a message (the caller
// frees it with tzcg_free_error).
#include <ATen/cuda/CUDAGraph.h>
#include <c10/core/CachingDeviceAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/core/DeviceGuard.h>
#include <c10/core/StreamGuard.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <string>

namespace {

struct Graph {
  c10::DeviceIndex device;
  at::cuda::CUDAGraph graph;
  // Capture (and the warm-up before it) run on a side stream, as CUDA
  // graphs cannot be captured on the legacy default stream.
  c10::cuda::CUDAStream stream;
  // The generic guards (not c10::cuda's inline ones) keep the CUDA runtime
  // out of this object file: they dispatch through libc10_cuda.
  std::optional<c10::StreamGuard> on_stream;

  explicit Graph(c10::DeviceIndex d)
      : device(d), graph(), stream(c10::cuda::getStreamFromPool(false, d)) {}
};

char* copy_message(const char* text) {
  size_t n = std::strlen(text);
  char* out = static_cast<char*>(std::malloc(n + 1));
  if (out != nullptr) std::memcpy(out, text, n + 1);
  return out;
}

template <typename F>
int guarded(char** error, F&& body) {
  try {
    body();
    return 0;
  } catch (const c10::Error& e) {
    *error = copy_message(e.what_without_backtrace());
  } catch (const std::exception& e) {
    *error = copy_message(e.what());
  } catch (...) {
    *error = copy_message("unknown C++ exception");
  }
  return 1;
}

}  // namespace

extern "C" {

void tzcg_free_error(char* error) { std::free(error); }

int tzcg_graph_new(int device, void** out, char** error) {
  return guarded(error, [&] { *out = new Graph(static_cast<c10::DeviceIndex>(device)); });
}

void tzcg_graph_free(void* graph) { delete static_cast<Graph*>(graph); }

// Makes the graph's side stream current (for a warm-up run before capture):
// the device is synchronised first so the side stream sees all earlier work.
int tzcg_enter_stream(void* graph, char** error) {
  return guarded(error, [&] {
    auto* g = static_cast<Graph*>(graph);
    c10::cuda::device_synchronize();
    g->on_stream.emplace(g->stream.unwrap());
  });
}

// Back to the previous stream; synchronises so later work on it sees the
// side stream's results.
int tzcg_leave_stream(void* graph, char** error) {
  return guarded(error, [&] {
    auto* g = static_cast<Graph*>(graph);
    c10::cuda::device_synchronize();
    g->on_stream.reset();
  });
}

// Starts capturing the work issued on the side stream. `share_pool_with`:
// another graph whose private memory pool this one shares (null: a new
// pool), safe when the graphs never run at the same time.
int tzcg_capture_begin(void* graph, void* share_pool_with, char** error) {
  return guarded(error, [&] {
    auto* g = static_cast<Graph*>(graph);
    c10::cuda::device_synchronize();
    g->on_stream.emplace(g->stream.unwrap());
    at::cuda::MempoolId_t pool{0, 0};
    if (share_pool_with != nullptr) pool = static_cast<Graph*>(share_pool_with)->graph.pool();
    g->graph.capture_begin(pool);
  });
}

int tzcg_capture_end(void* graph, char** error) {
  auto* g = static_cast<Graph*>(graph);
  int rc = guarded(error, [&] { g->graph.capture_end(); });
  g->on_stream.reset();
  return rc;
}

// Replays the captured work on the current stream.
int tzcg_replay(void* graph, char** error) {
  return guarded(error, [&] {
    auto* g = static_cast<Graph*>(graph);
    c10::DeviceGuard on_device(c10::Device(c10::kCUDA, g->device));
    g->graph.replay();
  });
}

// Device memory in bytes: free per the driver, total, and the caching
// allocator's allocated / reserved / peak-allocated figures.
int tzcg_memory(int device, uint64_t* out5, char** error) {
  return guarded(error, [&] {
    auto d = static_cast<c10::DeviceIndex>(device);
    // Through the generic interface: the CUDA allocator's inline override
    // would call the runtime from this object file.
    c10::DeviceAllocator* allocator = c10::getDeviceAllocator(c10::kCUDA);
    auto [free, total] = allocator->getMemoryInfo(d);
    auto stats = allocator->getDeviceStats(d);
    const auto all = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
    out5[0] = free;
    out5[1] = total;
    out5[2] = stats.allocated_bytes[all].current;
    out5[3] = stats.reserved_bytes[all].current;
    out5[4] = stats.allocated_bytes[all].peak;
  });
}

// Restarts the peak-allocated figure of tzcg_memory.
int tzcg_reset_peak(int device, char** error) {
  return guarded(error, [&] {
    c10::getDeviceAllocator(c10::kCUDA)->resetPeakStats(static_cast<c10::DeviceIndex>(device));
  });
}

}  // extern "C"

// C ABI of the c10d shim: what the Rust side of tz-dist calls.
//
// Conventions: every function that can fail returns NULL on success or a
// malloc'd, NUL-terminated error message (free it with tzd_free_string).
// Tensors are tch's `C_tensor*`, i.e. `torch::Tensor*`; the shim never takes
// ownership of them. Collectives run synchronously: they return once the
// operation has completed on this rank (or failed, or timed out).
#pragma once
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tzd_group tzd_group;
typedef void* tzd_tensor;

// Backends (match tz_dist::Backend).
enum { TZD_GLOO = 0, TZD_NCCL = 1 };
// Reductions (match tz_dist::ReduceOp).
enum { TZD_SUM = 0, TZD_MIN = 1, TZD_MAX = 2 };

typedef struct {
  int backend;
  // Where the TCPStore lives (MASTER_ADDR, MASTER_PORT).
  const char* store_host;
  int store_port;
  // 1: this process hosts the store (rank 0 of a plain env launch);
  // 0: it connects to a store hosted elsewhere (torchrun's agent or rank 0).
  int host_store;
  int rank;
  int world_size;
  int64_t timeout_ms;
  // Prefix of this group's keys in the store.
  const char* store_prefix;
  // Gloo transport: an interface name (GLOO_SOCKET_IFNAME), else a
  // hostname/address to bind, else (both NULL) the default device.
  const char* gloo_interface;
  const char* gloo_hostname;
  // NCCL: the CUDA device this rank drives (LOCAL_RANK).
  int cuda_device;
} tzd_config;

// 1 when the NCCL backend was compiled in.
int tzd_has_nccl(void);

char* tzd_group_new(const tzd_config* config, tzd_group** out);
void tzd_group_free(tzd_group* group);

char* tzd_all_reduce(tzd_group* group, tzd_tensor* tensors, int count, int op);
char* tzd_broadcast(tzd_group* group, tzd_tensor* tensors, int count, int root);
// output: world_size × input elements, rank r's input at r·numel(input).
char* tzd_all_gather_flat(tzd_group* group, tzd_tensor output, tzd_tensor input);
// input: world_size × output elements; rank r receives the reduced slice r.
char* tzd_reduce_scatter_flat(tzd_group* group, tzd_tensor output, tzd_tensor input, int op);
char* tzd_barrier(tzd_group* group);

// Sets `param.grad` to `grad` (shares its storage); tch has no setter.
char* tzd_set_grad(tzd_tensor param, tzd_tensor grad);

void tzd_free_string(char* message);

#ifdef __cplusplus
}
#endif

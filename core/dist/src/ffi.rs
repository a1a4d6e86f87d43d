//! The C ABI of `csrc/c10d_shim.cpp` and a safe owner of its group handle.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::Mutex;

use tch::Tensor;

#[repr(C)]
pub(crate) struct RawGroup {
    _private: [u8; 0],
}

#[repr(C)]
pub(crate) struct RawConfig {
    pub backend: c_int,
    pub store_host: *const c_char,
    pub store_port: c_int,
    pub host_store: c_int,
    pub rank: c_int,
    pub world_size: c_int,
    pub timeout_ms: i64,
    pub store_prefix: *const c_char,
    pub gloo_interface: *const c_char,
    pub gloo_hostname: *const c_char,
    pub cuda_device: c_int,
}

type RawTensor = *mut c_void;

extern "C" {
    fn tzd_has_nccl() -> c_int;
    fn tzd_group_new(config: *const RawConfig, out: *mut *mut RawGroup) -> *mut c_char;
    fn tzd_group_free(group: *mut RawGroup);
    fn tzd_all_reduce(group: *mut RawGroup, tensors: *mut RawTensor, count: c_int, op: c_int) -> *mut c_char;
    fn tzd_broadcast(group: *mut RawGroup, tensors: *mut RawTensor, count: c_int, root: c_int)
        -> *mut c_char;
    fn tzd_all_gather_flat(group: *mut RawGroup, output: RawTensor, input: RawTensor) -> *mut c_char;
    fn tzd_reduce_scatter_flat(
        group: *mut RawGroup,
        output: RawTensor,
        input: RawTensor,
        op: c_int,
    ) -> *mut c_char;
    fn tzd_barrier(group: *mut RawGroup) -> *mut c_char;
    fn tzd_set_grad(param: RawTensor, grad: RawTensor) -> *mut c_char;
    fn tzd_free_string(message: *mut c_char);
}

/// Turns the shim's error string (NULL = success) into a `Result`.
fn check(message: *mut c_char) -> Result<(), String> {
    if message.is_null() {
        return Ok(());
    }
    // SAFETY: the shim returns a NUL-terminated malloc'd string, freed here once.
    let text = unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned();
    unsafe { tzd_free_string(message) };
    Err(crate::error::one_line(&text))
}

/// tch's `C_tensor*` is a `torch::Tensor*`: a handle the shim copies (the
/// storage is shared, so collectives write into the caller's tensor).
fn raw(t: &Tensor) -> RawTensor {
    t.as_ptr() as RawTensor
}

pub(crate) fn has_nccl() -> bool {
    // SAFETY: no arguments, no state.
    unsafe { tzd_has_nccl() != 0 }
}

/// Sets `param.grad` to `grad` (sharing its storage).
pub(crate) fn set_grad(param: &Tensor, grad: &Tensor) -> Result<(), String> {
    // SAFETY: both are live tch tensors; the shim only copies the handles.
    check(unsafe { tzd_set_grad(raw(param), raw(grad)) })
}

/// The strings a [`RawConfig`] points into, kept alive while it is used.
pub(crate) struct ConfigStrings {
    pub host: CString,
    pub prefix: CString,
    pub interface: Option<CString>,
    pub hostname: Option<CString>,
}

/// An owned process group. c10d requires every rank to issue collectives
/// in the same order; the mutex keeps one call at a time on this process.
pub(crate) struct Group {
    handle: Mutex<*mut RawGroup>,
}

// SAFETY: the handle is only used under the mutex, and c10d process groups
// may be driven from any thread.
unsafe impl Send for Group {}
unsafe impl Sync for Group {}

impl Group {
    pub(crate) fn new(config: &RawConfig) -> Result<Group, String> {
        let mut handle = std::ptr::null_mut();
        // SAFETY: the config's strings outlive the call (the caller owns a ConfigStrings).
        check(unsafe { tzd_group_new(config, &mut handle) })?;
        Ok(Group { handle: Mutex::new(handle) })
    }

    fn with<R>(&self, f: impl FnOnce(*mut RawGroup) -> R) -> R {
        let guard = self.handle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(*guard)
    }

    pub(crate) fn all_reduce(&self, tensors: &[&Tensor], op: c_int) -> Result<(), String> {
        let mut raws: Vec<RawTensor> = tensors.iter().map(|t| raw(t)).collect();
        // SAFETY: live group and tensors.
        self.with(|g| check(unsafe { tzd_all_reduce(g, raws.as_mut_ptr(), raws.len() as c_int, op) }))
    }

    pub(crate) fn broadcast(&self, tensors: &[&Tensor], root: usize) -> Result<(), String> {
        let mut raws: Vec<RawTensor> = tensors.iter().map(|t| raw(t)).collect();
        // SAFETY: live group and tensors.
        self.with(|g| {
            check(unsafe { tzd_broadcast(g, raws.as_mut_ptr(), raws.len() as c_int, root as c_int) })
        })
    }

    pub(crate) fn all_gather_flat(&self, output: &Tensor, input: &Tensor) -> Result<(), String> {
        // SAFETY: live group and tensors.
        self.with(|g| check(unsafe { tzd_all_gather_flat(g, raw(output), raw(input)) }))
    }

    pub(crate) fn reduce_scatter_flat(
        &self,
        output: &Tensor,
        input: &Tensor,
        op: c_int,
    ) -> Result<(), String> {
        // SAFETY: live group and tensors.
        self.with(|g| check(unsafe { tzd_reduce_scatter_flat(g, raw(output), raw(input), op) }))
    }

    pub(crate) fn barrier(&self) -> Result<(), String> {
        // SAFETY: live group.
        self.with(|g| check(unsafe { tzd_barrier(g) }))
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let handle = *self.handle.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner());
        // SAFETY: created by tzd_group_new, freed once.
        unsafe { tzd_group_free(handle) };
    }
}

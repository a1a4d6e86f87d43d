//! # tz-cuda-graph: CUDA graphs for tch, through a small C++ shim
//!
//! tch has no binding for `at::cuda::CUDAGraph`, so this crate compiles a
//! few lines of C++ (src/shim.cpp) against the PyTorch wheel's headers and
//! exposes: capture of the work a closure issues, replay, a private memory
//! pool shared between graphs, and the device's memory figures (free, total,
//! and the caching allocator's allocated / reserved / peak).
//!
//! Built without CUDA (a CPU-only libtorch, or no CUDA headers), [`AVAILABLE`]
//! is false and every call returns [`Error::Unavailable`]; nothing here
//! needs a GPU to compile.
//!
//! Capture rules (CUDA's and PyTorch's): the captured closure must not
//! synchronise with the host (no `.to_device(Cpu)`, no `int64_value`), must
//! not draw from torch's random generators, and must read and write only
//! tensors that outlive the graph (allocated before capture); tensors it
//! allocates come from the graph's private pool and are reused by every
//! replay. A replay re-runs exactly the captured kernels on the same
//! addresses.

use std::ffi::{c_char, c_int, c_void, CStr};

/// Whether this build can capture CUDA graphs (libtorch with CUDA and the
/// CUDA headers were found when it was compiled).
pub const AVAILABLE: bool = cfg!(tz_cuda_graph);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("CUDA graphs are not available in this build (libtorch without CUDA, or no CUDA headers at build time)")]
    Unavailable,
    #[error("CUDA graph: {0}")]
    Torch(String),
}

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(tz_cuda_graph)]
mod ffi {
    use super::*;
    extern "C" {
        pub fn tzcg_free_error(error: *mut c_char);
        pub fn tzcg_graph_new(device: c_int, out: *mut *mut c_void, error: *mut *mut c_char) -> c_int;
        pub fn tzcg_graph_free(graph: *mut c_void);
        pub fn tzcg_enter_stream(graph: *mut c_void, error: *mut *mut c_char) -> c_int;
        pub fn tzcg_leave_stream(graph: *mut c_void, error: *mut *mut c_char) -> c_int;
        pub fn tzcg_capture_begin(graph: *mut c_void, share: *mut c_void, error: *mut *mut c_char) -> c_int;
        pub fn tzcg_capture_end(graph: *mut c_void, error: *mut *mut c_char) -> c_int;
        pub fn tzcg_replay(graph: *mut c_void, error: *mut *mut c_char) -> c_int;
        pub fn tzcg_memory(device: c_int, out5: *mut u64, error: *mut *mut c_char) -> c_int;
        pub fn tzcg_reset_peak(device: c_int, error: *mut *mut c_char) -> c_int;
    }
}

#[cfg(not(tz_cuda_graph))]
mod ffi {
    //! Stand-ins for a build without the shim: never called, as every entry
    //! point checks [`super::AVAILABLE`] first.
    use super::*;
    macro_rules! absent {
        ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {$(
            #[allow(unused_variables)]
            pub unsafe fn $name($($arg: $ty),*) -> $ret { unreachable!("tz-cuda-graph built without its shim") }
        )*};
    }
    absent! {
        tzcg_free_error(error: *mut c_char) -> ();
        tzcg_graph_new(device: c_int, out: *mut *mut c_void, error: *mut *mut c_char) -> c_int;
        tzcg_graph_free(graph: *mut c_void) -> ();
        tzcg_enter_stream(graph: *mut c_void, error: *mut *mut c_char) -> c_int;
        tzcg_leave_stream(graph: *mut c_void, error: *mut *mut c_char) -> c_int;
        tzcg_capture_begin(graph: *mut c_void, share: *mut c_void, error: *mut *mut c_char) -> c_int;
        tzcg_capture_end(graph: *mut c_void, error: *mut *mut c_char) -> c_int;
        tzcg_replay(graph: *mut c_void, error: *mut *mut c_char) -> c_int;
        tzcg_memory(device: c_int, out5: *mut u64, error: *mut *mut c_char) -> c_int;
        tzcg_reset_peak(device: c_int, error: *mut *mut c_char) -> c_int;
    }
}

/// Runs one shim call, turning its error message into [`Error::Torch`].
fn call(f: impl FnOnce(*mut *mut c_char) -> c_int) -> Result<()> {
    if !AVAILABLE {
        return Err(Error::Unavailable);
    }
    let mut error: *mut c_char = std::ptr::null_mut();
    if f(&mut error) == 0 {
        return Ok(());
    }
    let message = if error.is_null() {
        "unknown error".to_string()
    } else {
        // SAFETY: the shim returns a NUL-terminated malloc'd string, freed here once.
        let text = unsafe { CStr::from_ptr(error) }.to_string_lossy().into_owned();
        unsafe { ffi::tzcg_free_error(error) };
        text
    };
    Err(Error::Torch(message))
}

/// One CUDA graph on one device: capture once, replay many times.
#[derive(Debug)]
pub struct CudaGraph {
    raw: *mut c_void,
    captured: bool,
}

impl CudaGraph {
    /// An empty graph for CUDA device `device`.
    pub fn new(device: usize) -> Result<Self> {
        let mut raw = std::ptr::null_mut();
        // SAFETY: `raw` is written by the shim on success only.
        call(|e| unsafe { ffi::tzcg_graph_new(device as c_int, &mut raw, e) })?;
        Ok(Self { raw, captured: false })
    }

    /// Runs `work` eagerly on the graph's capture stream (e.g. a warm-up
    /// that lets libraries allocate their per-stream workspaces before
    /// capture), synchronising the device before and after.
    pub fn run_on_capture_stream<T>(&self, work: impl FnOnce() -> T) -> Result<T> {
        // SAFETY: `self.raw` is a live graph; enter/leave are paired here.
        call(|e| unsafe { ffi::tzcg_enter_stream(self.raw, e) })?;
        let out = work();
        call(|e| unsafe { ffi::tzcg_leave_stream(self.raw, e) })?;
        Ok(out)
    }

    /// Captures the kernels `work` issues (nothing runs now). With
    /// `share_pool_with`, this graph allocates from that graph's private
    /// pool: safe when the two are never replayed at the same time.
    pub fn capture<T>(&mut self, share_pool_with: Option<&CudaGraph>, work: impl FnOnce() -> T) -> Result<T> {
        assert!(!self.captured, "a CudaGraph is captured once");
        let share = share_pool_with.map_or(std::ptr::null_mut(), |g| g.raw);
        // SAFETY: both graphs are live; begin/end are paired here.
        call(|e| unsafe { ffi::tzcg_capture_begin(self.raw, share, e) })?;
        // An op that cannot be captured makes libtorch throw, which tch turns
        // into a panic: end the capture either way and report it as an error.
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
        let ended = call(|e| unsafe { ffi::tzcg_capture_end(self.raw, e) });
        let out = out.map_err(|panic| Error::Torch(format!("capture failed: {}", panic_message(&panic))))?;
        ended?;
        self.captured = true;
        Ok(out)
    }

    /// Re-runs the captured kernels on the current stream.
    pub fn replay(&self) -> Result<()> {
        assert!(self.captured, "replay of a CudaGraph that was never captured");
        // SAFETY: `self.raw` is a live, captured graph.
        call(|e| unsafe { ffi::tzcg_replay(self.raw, e) })
    }
}

impl Drop for CudaGraph {
    fn drop(&mut self) {
        if !self.raw.is_null() {
            // SAFETY: created by tzcg_graph_new, freed once.
            unsafe { ffi::tzcg_graph_free(self.raw) };
        }
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    match (panic.downcast_ref::<String>(), panic.downcast_ref::<&str>()) {
        (Some(s), _) => s.clone(),
        (None, Some(s)) => s.to_string(),
        _ => "a panic".to_string(),
    }
}

/// Memory of a CUDA device in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceMemory {
    /// Free per the driver (excludes what libtorch's caching allocator holds).
    pub free: u64,
    pub total: u64,
    /// In live tensors.
    pub allocated: u64,
    /// Held by the caching allocator (allocated + cached for reuse).
    pub reserved: u64,
    /// The most `allocated` has been since the start or [`reset_peak_memory`].
    pub peak_allocated: u64,
}

impl DeviceMemory {
    /// What new tensors can still take: driver-free plus the allocator's cache.
    pub fn available(&self) -> u64 {
        self.free + self.reserved.saturating_sub(self.allocated)
    }
}

/// The memory figures of CUDA device `device`.
pub fn device_memory(device: usize) -> Result<DeviceMemory> {
    let mut v = [0u64; 5];
    // SAFETY: the shim writes exactly 5 values.
    call(|e| unsafe { ffi::tzcg_memory(device as c_int, v.as_mut_ptr(), e) })?;
    Ok(DeviceMemory { free: v[0], total: v[1], allocated: v[2], reserved: v[3], peak_allocated: v[4] })
}

/// Restarts [`DeviceMemory::peak_allocated`] of `device`.
pub fn reset_peak_memory(device: usize) -> Result<()> {
    // SAFETY: a plain call on a device index.
    call(|e| unsafe { ffi::tzcg_reset_peak(device as c_int, e) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_gpu_every_call_is_an_error_not_a_crash() {
        if tch_sys_has_cuda() {
            return; // exercised by scripts/device_check.sh on a GPU
        }
        assert!(matches!(device_memory(0), Err(Error::Unavailable | Error::Torch(_))));
        match CudaGraph::new(0) {
            Ok(mut g) => assert!(g.capture(None, || ()).is_err()),
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }

    /// Whether a CUDA device is usable here, asked of the driver through /proc.
    fn tch_sys_has_cuda() -> bool {
        std::fs::read_dir("/proc/driver/nvidia/gpus").map(|d| d.count() > 0).unwrap_or(false)
    }
}

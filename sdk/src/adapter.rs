//! Wraps the author-facing traits into the FFI trait objects.
//!
//! Every call runs under `catch_unwind`: a panic inside a plugin becomes an
//! error at the boundary ("plugin 'x' panicked in score: ... at file:line")
//! instead of abi_stable's `exit(1)`. Errors are prefixed with the plugin
//! name so the host can print them as they are.

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

use abi_stable::std_types::{RErr, ROk, ROption, RResult, RSlice, RStr, RString, RVec};

use crate::ffi::{FfiAlgorithm, FfiCurriculum, FfiTask};
use crate::plugin::{Algorithm, Curriculum, PluginResult, Task};
use crate::types::*;

thread_local! {
    /// Set while plugin code runs under [`guard`], so our panic hook knows
    /// the panic will be caught and reported as an error.
    static IN_GUARD: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs (once) a panic hook that stays silent for panics caught by
/// [`guard`] and records their location; other panics go to the previous hook.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_GUARD.with(Cell::get) {
                let loc = info.location().map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
                LAST_PANIC_LOCATION.with(|p| *p.borrow_mut() = loc);
            } else {
                previous(info);
            }
        }));
    });
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

/// Runs plugin code, turning errors and panics into a one-line `RErr`.
pub(crate) fn guard<R>(
    plugin: &str,
    method: &str,
    f: impl FnOnce() -> PluginResult<R>,
) -> RResult<R, RString> {
    install_panic_hook();
    let was = IN_GUARD.with(|g| g.replace(true));
    let outcome = catch_unwind(AssertUnwindSafe(f));
    IN_GUARD.with(|g| g.set(was));
    match outcome {
        Ok(Ok(value)) => ROk(value),
        Ok(Err(e)) => RErr(format!("plugin '{plugin}': {e}").into()),
        Err(payload) => {
            let at = LAST_PANIC_LOCATION
                .with(|p| p.borrow_mut().take())
                .map(|l| format!(" (at {l})"))
                .unwrap_or_default();
            RErr(format!("plugin '{plugin}' panicked in {method}: {}{at}", panic_message(&*payload)).into())
        }
    }
}

fn strings(v: Vec<String>) -> RVec<RString> {
    v.into_iter().map(RString::from).collect()
}

/// A [`Task`] behind [`FfiTask`].
pub(crate) struct TaskAdapter<T>(pub T);

impl<T: Task> FfiTask for TaskAdapter<T> {
    fn groups(&self) -> RResult<RVec<RString>, RString> {
        guard(T::NAME, "groups", || Ok(strings(self.0.groups())))
    }
    fn templates(&self) -> RResult<RVec<RString>, RString> {
        guard(T::NAME, "templates", || Ok(strings(self.0.templates())))
    }
    fn generate(&self, group: RStr<'_>, count: u64, seed: u64) -> RResult<RVec<Sample>, RString> {
        guard(T::NAME, "generate", || self.0.generate(group.as_str(), count, seed).map(RVec::from))
    }
    fn sample_from_row(&self, row_json: RStr<'_>) -> RResult<Sample, RString> {
        guard(T::NAME, "sample_from_row", || {
            let row: serde_json::Value =
                serde_json::from_str(row_json.as_str()).map_err(|e| format!("row is not valid JSON: {e}"))?;
            self.0.sample_from_row(&row)
        })
    }
    fn sample_to_row(&self, sample: &Sample, template: RStr<'_>) -> RResult<RString, RString> {
        guard(T::NAME, "sample_to_row", || {
            let row = self.0.sample_to_row(sample, template.as_str())?;
            Ok(RString::from(row.to_string()))
        })
    }
    fn prompt(&self, sample: &Sample, template: RStr<'_>) -> RResult<PromptSpec, RString> {
        guard(T::NAME, "prompt", || self.0.prompt(sample, template.as_str()))
    }
    fn score(&self, batch: RSlice<'_, ScoreInput>) -> RResult<RVec<Score>, RString> {
        guard(T::NAME, "score", || {
            let scores = self.0.score(batch.as_slice())?;
            if scores.len() != batch.len() {
                return Err(format!("score returned {} results for {} inputs", scores.len(), batch.len()));
            }
            Ok(RVec::from(scores))
        })
    }
    fn reference_solution(&self, sample: &Sample, template: RStr<'_>) -> RResult<ROption<RString>, RString> {
        guard(T::NAME, "reference_solution", || {
            Ok(self.0.reference_solution(sample, template.as_str())?.map(RString::from).into())
        })
    }
    fn warm_up_size(&self) -> RResult<u64, RString> {
        guard(T::NAME, "warm_up_size", || Ok(self.0.warm_up_size()))
    }
    fn warm_up(&self, batch: RSlice<'_, ScoreInput>) -> RResult<RVec<Metric>, RString> {
        guard(T::NAME, "warm_up", || self.0.warm_up(batch.as_slice()).map(RVec::from))
    }
    fn state(&self) -> RResult<RString, RString> {
        guard(T::NAME, "state", || Ok(RString::from(self.0.state()?.to_string())))
    }
    fn restore(&self, state_json: RStr<'_>) -> RResult<(), RString> {
        guard(T::NAME, "restore", || {
            let state: serde_json::Value = serde_json::from_str(state_json.as_str())
                .map_err(|e| format!("saved state is not valid JSON: {e}"))?;
            self.0.restore(&state)
        })
    }
    fn end_batch(&self) -> RResult<RVec<Metric>, RString> {
        guard(T::NAME, "end_batch", || Ok(RVec::from(self.0.end_batch())))
    }
}

/// An [`Algorithm`] behind [`FfiAlgorithm`].
pub(crate) struct AlgorithmAdapter<T>(pub T);

impl<T: Algorithm> FfiAlgorithm for AlgorithmAdapter<T> {
    fn role(&self) -> RResult<AlgorithmRole, RString> {
        guard(T::NAME, "role", || Ok(self.0.role()))
    }
    fn loss_settings(&self) -> RResult<LossSettings, RString> {
        guard(T::NAME, "loss_settings", || Ok(self.0.loss_settings()))
    }
    fn shape(&self, input: &ShapeInput) -> RResult<RVec<f32>, RString> {
        guard(T::NAME, "shape", || {
            let out = self.0.shape(input)?;
            if out.len() != input.rewards.len() {
                return Err(format!(
                    "shape returned {} rewards for {} inputs",
                    out.len(),
                    input.rewards.len()
                ));
            }
            Ok(RVec::from(out))
        })
    }
    fn estimate(&self, input: &AdvantageInput) -> RResult<AdvantageOutput, RString> {
        guard(T::NAME, "estimate", || {
            let out = self.0.estimate(input)?;
            if out.advantages.len() != input.token_rewards.len() {
                return Err(format!(
                    "estimate returned {} advantages for {} tokens",
                    out.advantages.len(),
                    input.token_rewards.len()
                ));
            }
            Ok(out)
        })
    }
}

/// A [`Curriculum`] behind [`FfiCurriculum`].
pub(crate) struct CurriculumAdapter<T>(pub T);

impl<T: Curriculum> FfiCurriculum for CurriculumAdapter<T> {
    fn plan(&self, groups: RSlice<'_, RString>) -> RResult<ROption<Plan>, RString> {
        guard(T::NAME, "plan", || {
            let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
            Ok(self.0.plan(&groups)?.into())
        })
    }
    fn window(&self) -> RResult<ROption<u32>, RString> {
        guard(T::NAME, "window", || Ok(self.0.window().into()))
    }
    fn observe(&mut self, stats: &BatchStats) -> RResult<RVec<Metric>, RString> {
        guard(T::NAME, "observe", || self.0.observe(stats).map(RVec::from))
    }
    fn state(&self) -> RResult<RString, RString> {
        guard(T::NAME, "state", || Ok(RString::from(self.0.state()?.to_string())))
    }
    fn restore(&mut self, state_json: RStr<'_>) -> RResult<(), RString> {
        guard(T::NAME, "restore", || {
            let state: serde_json::Value = serde_json::from_str(state_json.as_str())
                .map_err(|e| format!("saved state is not valid JSON: {e}"))?;
            self.0.restore(&state)
        })
    }
}

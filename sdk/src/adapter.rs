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

use crate::ffi::*;
use crate::plugin::{Curriculum, Estimator, PluginResult, Shaper, Task};
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

fn metrics(v: Vec<Metric>) -> RVec<FfiMetric> {
    v.into_iter().map(FfiMetric::from).collect()
}

fn score_inputs(batch: RSlice<'_, FfiScoreInput>) -> Vec<ScoreInput> {
    batch.iter().cloned().map(ScoreInput::from).collect()
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
    fn generate(&self, group: RStr<'_>, count: u64, seed: u64) -> RResult<RVec<FfiSample>, RString> {
        guard(T::NAME, "generate", || {
            Ok(self.0.generate(group.as_str(), count, seed)?.into_iter().map(FfiSample::from).collect())
        })
    }
    fn sample_from_row(&self, row_json: RStr<'_>) -> RResult<FfiSample, RString> {
        guard(T::NAME, "sample_from_row", || {
            let row: serde_json::Value =
                serde_json::from_str(row_json.as_str()).map_err(|e| format!("row is not valid JSON: {e}"))?;
            self.0.sample_from_row(&row).map(FfiSample::from)
        })
    }
    fn sample_to_row(&self, sample: &FfiSample, template: RStr<'_>) -> RResult<RString, RString> {
        guard(T::NAME, "sample_to_row", || {
            let row = self.0.sample_to_row(&sample.clone().into(), template.as_str())?;
            Ok(RString::from(row.to_string()))
        })
    }
    fn prompt(&self, sample: &FfiSample, template: RStr<'_>) -> RResult<FfiPromptSpec, RString> {
        guard(T::NAME, "prompt", || self.0.prompt(&sample.clone().into(), template.as_str()).map(Into::into))
    }
    fn score(&self, batch: RSlice<'_, FfiScoreInput>) -> RResult<RVec<FfiScore>, RString> {
        guard(T::NAME, "score", || {
            let scores = self.0.score(&score_inputs(batch))?;
            if scores.len() != batch.len() {
                return Err(format!("score returned {} results for {} inputs", scores.len(), batch.len()));
            }
            Ok(scores.into_iter().map(FfiScore::from).collect())
        })
    }
    fn reference_solution(
        &self,
        sample: &FfiSample,
        template: RStr<'_>,
    ) -> RResult<ROption<RString>, RString> {
        guard(T::NAME, "reference_solution", || {
            Ok(self
                .0
                .reference_solution(&sample.clone().into(), template.as_str())?
                .map(RString::from)
                .into())
        })
    }
    fn warm_up_size(&self) -> RResult<u64, RString> {
        guard(T::NAME, "warm_up_size", || Ok(self.0.warm_up_size()))
    }
    fn warm_up(&self, batch: RSlice<'_, FfiScoreInput>) -> RResult<RVec<FfiMetric>, RString> {
        guard(T::NAME, "warm_up", || self.0.warm_up(&score_inputs(batch)).map(metrics))
    }
    fn state(&self) -> RResult<RString, RString> {
        guard(T::NAME, "state", || Ok(RString::from(self.0.state()?.to_string())))
    }
    fn restore(&self, state_json: RStr<'_>) -> RResult<(), RString> {
        guard(T::NAME, "restore", || self.0.restore(&parse_state(state_json)?))
    }
    fn end_batch(&self) -> RResult<RVec<FfiMetric>, RString> {
        guard(T::NAME, "end_batch", || Ok(metrics(self.0.end_batch())))
    }
}

fn parse_state(state_json: RStr<'_>) -> PluginResult<serde_json::Value> {
    serde_json::from_str(state_json.as_str()).map_err(|e| format!("saved state is not valid JSON: {e}"))
}

/// The error an algorithm gives when asked for the other role's work.
fn wrong_role<R>(name: &str, what: &str) -> RResult<R, RString> {
    RErr(format!("plugin '{name}': is not {what}").into())
}

/// A [`Shaper`] behind [`FfiAlgorithm`].
pub(crate) struct ShaperAdapter<T>(pub T);

impl<T: Shaper> FfiAlgorithm for ShaperAdapter<T> {
    fn role(&self) -> RResult<AlgorithmRole, RString> {
        ROk(AlgorithmRole::Shaper)
    }
    fn loss_settings(&self) -> RResult<FfiLossSettings, RString> {
        wrong_role(T::NAME, "an advantage estimator (it has no loss settings)")
    }
    fn shape(&self, input: &FfiShapeInput) -> RResult<RVec<f32>, RString> {
        guard(T::NAME, "shape", || {
            let out = self.0.shape(&input.clone().into())?;
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
    fn estimate(&self, _input: &FfiAdvantageInput) -> RResult<FfiAdvantageOutput, RString> {
        wrong_role(T::NAME, "an advantage estimator")
    }
}

/// An [`Estimator`] behind [`FfiAlgorithm`].
pub(crate) struct EstimatorAdapter<T>(pub T);

impl<T: Estimator> FfiAlgorithm for EstimatorAdapter<T> {
    fn role(&self) -> RResult<AlgorithmRole, RString> {
        ROk(AlgorithmRole::Estimator)
    }
    fn loss_settings(&self) -> RResult<FfiLossSettings, RString> {
        guard(T::NAME, "loss_settings", || Ok(self.0.loss_settings().into()))
    }
    fn shape(&self, _input: &FfiShapeInput) -> RResult<RVec<f32>, RString> {
        wrong_role(T::NAME, "a reward shaper")
    }
    fn estimate(&self, input: &FfiAdvantageInput) -> RResult<FfiAdvantageOutput, RString> {
        guard(T::NAME, "estimate", || {
            let out = self.0.estimate(&input.clone().into())?;
            if out.advantages.len() != input.token_rewards.len() {
                return Err(format!(
                    "estimate returned {} advantages for {} tokens",
                    out.advantages.len(),
                    input.token_rewards.len()
                ));
            }
            Ok(out.into())
        })
    }
}

/// A [`Curriculum`] behind [`FfiCurriculum`].
pub(crate) struct CurriculumAdapter<T>(pub T);

impl<T: Curriculum> FfiCurriculum for CurriculumAdapter<T> {
    fn plan(&self, groups: RSlice<'_, RString>) -> RResult<ROption<FfiPlan>, RString> {
        guard(T::NAME, "plan", || {
            let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
            Ok(self.0.plan(&groups)?.map(FfiPlan::from).into())
        })
    }
    fn window(&self) -> RResult<ROption<u32>, RString> {
        guard(T::NAME, "window", || Ok(self.0.window().into()))
    }
    fn observe(&mut self, stats: &FfiBatchStats) -> RResult<RVec<FfiMetric>, RString> {
        guard(T::NAME, "observe", || self.0.observe(&stats.clone().into()).map(metrics))
    }
    fn state(&self) -> RResult<RString, RString> {
        guard(T::NAME, "state", || Ok(RString::from(self.0.state()?.to_string())))
    }
    fn restore(&mut self, state_json: RStr<'_>) -> RResult<(), RString> {
        guard(T::NAME, "restore", || self.0.restore(&parse_state(state_json)?))
    }
}

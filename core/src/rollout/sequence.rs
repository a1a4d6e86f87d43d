//! One sequence being generated, and the rules that end it: an EOS id, a
//! stop string in the decoded response, or the new-token limit.

use std::collections::HashSet;

use super::{Completion, FinishReason, StopCriteria, TokenDecoder};

/// The host-side record of one (prompt, sample) row.
#[derive(Debug)]
pub(super) struct Sequence {
    pub prompt_index: usize,
    pub sample_index: usize,
    pub tokens: Vec<u32>,
    pub logprobs: Vec<f32>,
    pub finish: Option<FinishReason>,
    /// Set when a stop string ended it (already truncated).
    text: Option<String>,
}

impl Sequence {
    pub fn new(prompt_index: usize, sample_index: usize) -> Self {
        Self {
            prompt_index,
            sample_index,
            tokens: Vec::new(),
            logprobs: Vec::new(),
            finish: None,
            text: None,
        }
    }

    pub fn into_completion(self, decoder: &dyn TokenDecoder) -> crate::Result<Completion> {
        let text = match self.text {
            Some(t) => t,
            None => decoder.decode(&self.tokens)?,
        };
        Ok(Completion {
            prompt_index: self.prompt_index,
            sample_index: self.sample_index,
            token_ids: self.tokens,
            text,
            logprobs: self.logprobs,
            finish: self.finish.unwrap_or(FinishReason::Length),
        })
    }
}

/// Applies a request's [`StopCriteria`] and new-token limit to sampled tokens.
pub(super) struct Stopper<'s> {
    stop: &'s StopCriteria<'s>,
    eos: HashSet<u32>,
    /// How many trailing tokens to decode when looking for a stop string.
    stop_window: usize,
    max_new_tokens: usize,
}

impl<'s> Stopper<'s> {
    pub fn new(stop: &'s StopCriteria<'s>, max_new_tokens: usize) -> Self {
        let longest_stop = stop.stop_strings.iter().map(|s| s.len()).max().unwrap_or(0);
        Self {
            stop,
            eos: stop.eos_token_ids.iter().copied().collect(),
            stop_window: longest_stop + 8,
            max_new_tokens,
        }
    }

    /// Records a sampled token and decides whether the sequence has ended.
    pub fn push(&self, s: &mut Sequence, token: u32, logprob: f32) -> crate::Result<()> {
        s.tokens.push(token);
        s.logprobs.push(logprob);
        if self.eos.contains(&token) {
            s.finish = Some(FinishReason::Stop);
            return Ok(());
        }
        if !self.stop.stop_strings.is_empty() {
            // Cheap test on the last few tokens first; decode everything only on a hit.
            let window = s.tokens.len().saturating_sub(self.stop_window);
            let tail = self.stop.decoder.decode(&s.tokens[window..])?;
            if self.stop.stop_strings.iter().any(|stop| tail.contains(stop.as_str())) {
                let full = self.stop.decoder.decode(&s.tokens)?;
                if let Some(end) = first_stop_end(&full, &self.stop.stop_strings) {
                    s.text = Some(full[..end].to_string());
                    s.finish = Some(FinishReason::Stop);
                    return Ok(());
                }
            }
        }
        if s.tokens.len() >= self.max_new_tokens {
            s.finish = Some(FinishReason::Length);
        }
        Ok(())
    }
}

/// Byte offset just past the earliest stop string in `text`.
fn first_stop_end(text: &str, stops: &[String]) -> Option<usize> {
    stops
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()).map(|at| (at, at + s.len())))
        .min()
        .map(|(_, end)| end)
}

#[cfg(test)]
mod tests {
    use super::first_stop_end;

    #[test]
    fn earliest_stop_string_wins() {
        let stops = vec!["</answer>".to_string(), "b".to_string()];
        assert_eq!(first_stop_end("a</answer>b", &stops), Some(10));
        assert_eq!(first_stop_end("ab</answer>", &stops), Some(2));
        assert_eq!(first_stop_end("none", &stops), None);
    }
}

//! The flattened per-token layout of [`AdvantageInput`]: checks that offsets,
//! group ids and values agree before an estimator indexes into them.

use std::ops::Range;

use tz_sdk::{AdvantageInput, PluginResult};

/// Each response's token range `[offsets[i], offsets[i + 1])`, after checking
/// that the offsets start at 0, never decrease, end at the token count, and
/// that there is one group id per response.
pub fn response_ranges(input: &AdvantageInput) -> PluginResult<Vec<Range<usize>>> {
    let offsets = &input.offsets;
    let tokens = input.token_rewards.len();
    if offsets.is_empty() {
        if tokens == 0 && input.group_ids.is_empty() {
            return Ok(Vec::new());
        }
        return Err(format!("offsets are empty but there are {tokens} token rewards"));
    }
    if offsets[0] != 0 {
        return Err(format!("offsets must start at 0, got {}", offsets[0]));
    }
    let responses = offsets.len() - 1;
    if input.group_ids.len() != responses {
        return Err(format!(
            "{} group ids for {responses} responses (offsets has {} entries)",
            input.group_ids.len(),
            offsets.len()
        ));
    }
    let last = *offsets.last().unwrap() as usize;
    if last != tokens {
        return Err(format!("offsets end at {last} but there are {tokens} token rewards"));
    }
    let mut ranges = Vec::with_capacity(responses);
    for (i, w) in offsets.windows(2).enumerate() {
        if w[1] < w[0] {
            return Err(format!("offsets decrease at response {i}: {} then {}", w[0], w[1]));
        }
        ranges.push(w[0] as usize..w[1] as usize);
    }
    Ok(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(offsets: &[u32], groups: &[u32], tokens: usize) -> AdvantageInput {
        AdvantageInput {
            token_rewards: vec![0.0; tokens],
            offsets: offsets.to_vec(),
            group_ids: groups.to_vec(),
            values: Default::default(),
        }
    }

    #[test]
    fn ranges_follow_the_offsets() {
        let r = response_ranges(&input(&[0, 2, 2, 5], &[0, 0, 1], 5)).unwrap();
        assert_eq!(r, vec![0..2, 2..2, 2..5]);
    }

    #[test]
    fn an_empty_batch_has_no_ranges() {
        assert!(response_ranges(&input(&[], &[], 0)).unwrap().is_empty());
        assert!(response_ranges(&input(&[0], &[], 0)).unwrap().is_empty());
    }

    #[test]
    fn inconsistent_layouts_are_rejected() {
        assert!(response_ranges(&input(&[1, 2], &[0], 2)).unwrap_err().contains("start at 0"));
        assert!(response_ranges(&input(&[0, 2], &[0], 3)).unwrap_err().contains("end at 2"));
        assert!(response_ranges(&input(&[0, 2], &[0, 1], 2)).unwrap_err().contains("2 group ids for 1"));
        assert!(response_ranges(&input(&[0, 3, 2], &[0, 0], 2)).unwrap_err().contains("decrease"));
    }
}

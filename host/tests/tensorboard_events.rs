//! TensorBoard event files: byte-exact against TensorBoard's own writer, and
//! readable back (every CRC checked) by an independent reader.

#[path = "common/events.rs"]
mod events;

use std::collections::BTreeMap;

use tz_host::train::tensorboard::{encode_event, frame_record, EventBody, EventWriter};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn records_match_tensorboards_own_writer_byte_for_byte() {
    // Made by tensorboard 2.21's RecordWriter over `Event.SerializeToString()`:
    // Event(wall_time=1700000000.25, step=7, summary=Summary(value=[
    //   Value(tag="critic/score/mean", simple_value=0.625), Value(tag="actor/lr", simple_value=2e-4)]))
    let scalars =
        hex("3800000000000000a3797d570900001040fc54d94110072a2b0a180a116372697469632f73636f72652f6d65616e\
         150000203f0a0f0a086163746f722f6c721517b7513906b7508f");
    let values = [("critic/score/mean", 0.625f32), ("actor/lr", 2e-4f64 as f32)];
    assert_eq!(frame_record(&encode_event(1_700_000_000.25, 7, EventBody::Scalars(&values))), scalars);
    // Event(wall_time=1700000000.25, file_version="brain.Event:2")
    let version = hex("1800000000000000a37f4b220900001040fc54d9411a0d627261696e2e4576656e743a32338d2fe9");
    assert_eq!(
        frame_record(&encode_event(1_700_000_000.25, 0, EventBody::FileVersion("brain.Event:2"))),
        version
    );
    // Event(wall_time=1700000000.25, step=3, session_log=SessionLog(status=START))
    let restart = hex("0f000000000000006d532b090900001040fc54d94110033a0208019481124c");
    assert_eq!(frame_record(&encode_event(1_700_000_000.25, 3, EventBody::SessionStart)), restart);
}

#[test]
fn written_scalars_read_back_with_valid_crcs() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = EventWriter::create(&dir.path().join("tensorboard")).unwrap();
    let path = w.path().to_path_buf();
    for step in 0..3u64 {
        let mut m = BTreeMap::new();
        m.insert("critic/score/mean".to_string(), 0.1 * step as f64);
        m.insert("actor/pg_loss".to_string(), -1.5 + step as f64);
        m.insert("actor/kl_loss".to_string(), f64::NAN); // left out, as metrics.jsonl writes null
        w.write_scalars(step, &m).unwrap();
    }
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    assert!(name.starts_with("events.out.tfevents.") && name.split('.').count() >= 6, "{name}");

    // Read while the writer is still open: every step is flushed.
    let events = events::read_events(&path);
    assert_eq!(events.len(), 4);
    assert_eq!(events[0].file_version.as_deref(), Some("brain.Event:2"));
    assert!(events[0].wall_time > 1.6e9);
    for (step, e) in events[1..].iter().enumerate() {
        assert_eq!(e.step, step as i64);
        assert_eq!(
            e.scalars,
            [
                ("actor/pg_loss".to_string(), (-1.5 + step as f64) as f32),
                ("critic/score/mean".to_string(), (0.1 * step as f64) as f32)
            ]
        );
    }
}

//! TensorBoard event files: scalar metrics written as TFRecords, with the
//! two protobuf messages they need encoded by hand (no protoc, no prost).
//!
//! A file is a sequence of records, each
//! `u64 length | u32 masked_crc32c(length) | data | u32 masked_crc32c(data)`
//! (little endian), where `data` is an `Event` message. The first event of a
//! file carries `file_version = "brain.Event:2"`; each later one a `Summary`
//! of `simple_value` scalars, one per metric, for one step. TensorBoard reads
//! every file whose name contains `tfevents`. A resumed run starts a new
//! file with a `SessionLog START` event at its first step, on which
//! TensorBoard drops what the killed run logged from that step on (as
//! PyTorch's `SummaryWriter(purge_step=...)` does).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::OutputSink;
use crate::error::{Context, Result};
use crate::step::metrics::Metrics;

/// Appends scalar events to one event file.
pub struct EventWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl EventWriter {
    /// Creates `dir/events.out.tfevents.<secs>.<host>.<pid>` (the name
    /// TensorBoard's own writer uses) and writes the version event.
    pub fn create(dir: &Path) -> Result<EventWriter> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let now = wall_time();
        let name = format!("events.out.tfevents.{:010}.{}.{}", now as u64, hostname(), std::process::id());
        let path = dir.join(name);
        let file = File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut w = EventWriter { path, out: BufWriter::new(file) };
        w.write_event(&encode_event(now, 0, EventBody::FileVersion("brain.Event:2")))?;
        Ok(w)
    }

    /// Marks a restart: readers drop the events of steps `>= step` written
    /// before this one (the killed run's steps past its last checkpoint).
    pub fn write_restart(&mut self, step: u64) -> Result<()> {
        self.write_event(&encode_event(wall_time(), step as i64, EventBody::SessionStart))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the finite `metrics` of `step` as one event and flushes it, so
    /// a killed run keeps every finished step. Non-finite values are left
    /// out, as metrics.jsonl writes them as null.
    pub fn write_scalars(&mut self, step: u64, metrics: &BTreeMap<String, f64>) -> Result<()> {
        let values: Vec<(&str, f32)> =
            metrics.iter().filter(|(_, v)| v.is_finite()).map(|(k, v)| (k.as_str(), *v as f32)).collect();
        if values.is_empty() {
            return Ok(());
        }
        self.write_event(&encode_event(wall_time(), step as i64, EventBody::Scalars(&values)))
    }

    fn write_event(&mut self, event: &[u8]) -> Result<()> {
        self.out.write_all(&frame_record(event))?;
        self.out.flush().with_context(|| format!("cannot write {}", self.path.display()))
    }
}

/// The TensorBoard output of a run: its event file in `<run>/tensorboard/`.
pub struct TensorBoard {
    writer: EventWriter,
}

impl TensorBoard {
    /// A new event file in `dir`; `restart_step` (a resumed run's first step)
    /// makes TensorBoard drop what the killed session logged from there on.
    pub fn create(dir: &Path, restart_step: Option<u64>) -> Result<TensorBoard> {
        let mut writer = EventWriter::create(dir)?;
        if let Some(step) = restart_step {
            writer.write_restart(step)?;
        }
        Ok(TensorBoard { writer })
    }
}

impl OutputSink for TensorBoard {
    fn record(&mut self, step: u64, metrics: &Metrics) -> Result<()> {
        self.writer.write_scalars(step, metrics)
    }
}

/// What an event holds besides its time and step.
pub enum EventBody<'a> {
    FileVersion(&'a str),
    /// `session_log { status: START }`.
    SessionStart,
    /// `(tag, value)` pairs, one `Summary.Value` each.
    Scalars(&'a [(&'a str, f32)]),
}

/// A TFRecord: length, its masked CRC, the data, the data's masked CRC.
pub fn frame_record(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc32c(data).to_le_bytes());
    out
}

/// TFRecord's CRC masking: rotate right by 15 bits and add a constant, so
/// CRCs of data that itself holds CRCs stay well distributed.
pub fn masked_crc32c(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// `tensorflow.Event`: wall_time = 1 (double), step = 2 (int64),
/// file_version = 3 (string), summary = 5 (Summary), session_log = 7.
pub fn encode_event(wall_time: f64, step: i64, body: EventBody) -> Vec<u8> {
    let mut out = Vec::new();
    key(&mut out, 1, WIRE_FIXED64);
    out.extend_from_slice(&wall_time.to_le_bytes());
    if step != 0 {
        key(&mut out, 2, WIRE_VARINT);
        varint(&mut out, step as u64);
    }
    match body {
        EventBody::FileVersion(v) => bytes_field(&mut out, 3, v.as_bytes()),
        // SessionLog: status = 1 (enum; START = 1).
        EventBody::SessionStart => bytes_field(&mut out, 7, &[0x08, 0x01]),
        EventBody::Scalars(values) => {
            // Summary: repeated Value value = 1; Value: tag = 1 (string), simple_value = 2 (float).
            let mut summary = Vec::new();
            for (tag, v) in values {
                let mut value = Vec::new();
                bytes_field(&mut value, 1, tag.as_bytes());
                key(&mut value, 2, WIRE_FIXED32);
                value.extend_from_slice(&v.to_le_bytes());
                bytes_field(&mut summary, 1, &value);
            }
            bytes_field(&mut out, 5, &summary);
        }
    }
    out
}

const WIRE_VARINT: u8 = 0;
const WIRE_FIXED64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_FIXED32: u8 = 5;

fn key(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, ((field as u64) << 3) | wire as u64);
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn bytes_field(out: &mut Vec<u8>, field: u32, data: &[u8]) {
    key(out, field, WIRE_LEN);
    varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

fn wall_time() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// The machine's name for the file name (characters outside `[A-Za-z0-9._-]` dropped).
fn hostname() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_default();
    let clean: String =
        raw.trim().chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')).collect();
    if clean.is_empty() {
        "localhost".into()
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        // The CRC-32C check value of "123456789" (RFC 3720, appendix B.4).
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn varints_use_seven_bits_per_byte() {
        let mut out = Vec::new();
        varint(&mut out, 300);
        assert_eq!(out, [0xAC, 0x02]);
        out.clear();
        varint(&mut out, u64::MAX);
        assert_eq!(out.len(), 10);
    }
}

#![allow(dead_code)]
//! A reader of TensorBoard event files, written from the format's
//! description (TFRecord framing + the `Event` protobuf) independently of the
//! writer, that checks every CRC.

use std::path::Path;

/// One decoded event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub wall_time: f64,
    pub step: i64,
    pub file_version: Option<String>,
    /// `session_log.status` (1 = START).
    pub session_status: Option<u64>,
    /// `(tag, simple_value)` of the summary.
    pub scalars: Vec<(String, f32)>,
}

fn masked_crc(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// Every event of a file; panics on a bad CRC or a truncated record.
pub fn read_events(path: &Path) -> Vec<Event> {
    let bytes = std::fs::read(path).unwrap();
    let mut at = 0;
    let mut out = Vec::new();
    while at < bytes.len() {
        assert!(bytes.len() >= at + 12, "truncated record header at byte {at}");
        let len_bytes = &bytes[at..at + 8];
        let len = u64::from_le_bytes(len_bytes.try_into().unwrap()) as usize;
        let len_crc = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap());
        assert_eq!(len_crc, masked_crc(len_bytes), "bad length CRC at byte {at}");
        let data = &bytes[at + 12..at + 12 + len];
        let data_crc = u32::from_le_bytes(bytes[at + 12 + len..at + 16 + len].try_into().unwrap());
        assert_eq!(data_crc, masked_crc(data), "bad data CRC at byte {at}");
        out.push(decode_event(data));
        at += 16 + len;
    }
    out
}

/// `(field number, wire type, payload)` of each field of a message.
fn fields(mut data: &[u8]) -> Vec<(u64, u8, Vec<u8>)> {
    fn varint(data: &mut &[u8]) -> u64 {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = data[0];
            *data = &data[1..];
            v |= ((b & 0x7f) as u64) << shift;
            if b < 0x80 {
                break;
            }
        }
        v
    }
    let mut out = Vec::new();
    while !data.is_empty() {
        let key = varint(&mut data);
        let wire = (key & 7) as u8;
        let payload = match wire {
            0 => varint(&mut data).to_le_bytes().to_vec(),
            1 => {
                let (p, rest) = data.split_at(8);
                data = rest;
                p.to_vec()
            }
            2 => {
                let n = varint(&mut data) as usize;
                let (p, rest) = data.split_at(n);
                data = rest;
                p.to_vec()
            }
            5 => {
                let (p, rest) = data.split_at(4);
                data = rest;
                p.to_vec()
            }
            w => panic!("unexpected wire type {w}"),
        };
        out.push((key >> 3, wire, payload));
    }
    out
}

fn decode_event(data: &[u8]) -> Event {
    let mut e =
        Event { wall_time: 0.0, step: 0, file_version: None, session_status: None, scalars: Vec::new() };
    for (field, _, p) in fields(data) {
        match field {
            1 => e.wall_time = f64::from_le_bytes(p.try_into().unwrap()),
            2 => e.step = i64::from_le_bytes(p.try_into().unwrap()),
            3 => e.file_version = Some(String::from_utf8(p).unwrap()),
            5 => {
                for (f, _, value) in fields(&p) {
                    assert_eq!(f, 1, "Summary has only `value` fields");
                    let mut tag = String::new();
                    let mut v = f32::NAN;
                    for (vf, _, vp) in fields(&value) {
                        match vf {
                            1 => tag = String::from_utf8(vp).unwrap(),
                            2 => v = f32::from_le_bytes(vp.try_into().unwrap()),
                            other => panic!("unexpected Summary.Value field {other}"),
                        }
                    }
                    e.scalars.push((tag, v));
                }
            }
            7 => {
                for (f, _, v) in fields(&p) {
                    if f == 1 {
                        e.session_status = Some(u64::from_le_bytes(v.try_into().unwrap()));
                    }
                }
            }
            other => panic!("unexpected Event field {other}"),
        }
    }
    e
}

/// The event files of a run's `tensorboard/` directory, sorted by name.
pub fn event_files(run: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(run.join("tensorboard"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("events.out.tfevents."))
        .collect();
    files.sort();
    files
}

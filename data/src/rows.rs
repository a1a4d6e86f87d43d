//! Reading and writing data rows: parquet (the veRL/TinyZero layout) and JSONL.
//!
//! A row is a `serde_json::Value` object, the form in which rows cross the
//! plugin boundary (`Task::sample_from_row` / `sample_to_row`). Parquet files
//! of any writer are read through Arrow and turned into JSON objects; files
//! are written with pyarrow's types ([`crate::schema`]) and snappy
//! compression, atomically (a temporary name, then a rename).

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_json::writer::JsonArray;
use arrow_json::{ReaderBuilder, WriterBuilder};
use arrow_schema::SchemaRef;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde_json::Value;

use crate::error::{at, file, DataError, Result};
use crate::schema::infer_schema;

/// Rows per Arrow batch when writing (bounds the memory of one conversion).
const WRITE_BATCH: usize = 8192;

/// The rows of a `.parquet` or `.jsonl`/`.json` file (by extension; parquet otherwise).
pub fn read_rows(path: &Path) -> Result<Vec<Value>> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("jsonl") | Some("json") | Some("ndjson") => read_jsonl(path),
        _ => read_parquet(path),
    }
}

/// Every row of a parquet file as a JSON object (null fields left out).
pub fn read_parquet(path: &Path) -> Result<Vec<Value>> {
    let (_, batches) = read_batches(path, None)?;
    let mut rows = Vec::new();
    for batch in &batches {
        rows.extend(
            batch_to_json(batch).map_err(at(format!("{}: converting rows to JSON", path.display())))?,
        );
    }
    Ok(rows)
}

/// The Arrow schema and record batches of a parquet file, the first `limit` rows at most.
pub fn read_batches(path: &Path, limit: Option<usize>) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let mut builder = open_parquet(path)?.with_batch_size(WRITE_BATCH);
    if let Some(limit) = limit {
        builder = builder.with_limit(limit);
    }
    let schema = builder.schema().clone();
    let reader = builder.build().map_err(at(format!("{}: cannot read", path.display())))?;
    let batches =
        reader.collect::<Result<Vec<_>, _>>().map_err(at(format!("{}: cannot decode", path.display())))?;
    Ok((schema, batches))
}

/// The number of rows of a parquet file, from its footer.
pub fn parquet_row_count(path: &Path) -> Result<u64> {
    let builder = open_parquet(path)?;
    Ok(builder.metadata().file_metadata().num_rows().max(0) as u64)
}

fn open_parquet(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>> {
    let file = File::open(path).map_err(file("open", path))?;
    ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|source| DataError::NotParquet { path: path.into(), source })
}

/// A record batch as JSON objects.
pub fn batch_to_json(batch: &RecordBatch) -> Result<Vec<Value>> {
    let mut writer = WriterBuilder::new().build::<_, JsonArray>(Vec::new());
    writer.write(batch)?;
    writer.finish()?;
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    Ok(serde_json::from_slice(&bytes)?)
}

/// The objects of a JSONL file; blank lines are skipped, and a bad line is
/// an error naming the file and line.
pub fn read_jsonl(path: &Path) -> Result<Vec<Value>> {
    let input = File::open(path).map_err(file("open", path))?;
    let mut rows = Vec::new();
    for (n, line) in BufReader::new(input).split(b'\n').enumerate() {
        let line = line.map_err(file("read", path))?;
        let text = std::str::from_utf8(&line).map_err(at(format!(
            "{}:{}: not valid UTF-8",
            path.display(),
            n + 1
        )))?;
        if text.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(text).map_err(at(format!(
            "{}:{}: not valid JSON",
            path.display(),
            n + 1
        )))?;
        if !value.is_object() {
            return Err(DataError::NotObject { path: path.into(), line: n + 1, got: value.to_string() });
        }
        rows.push(value);
    }
    Ok(rows)
}

/// Writes rows (JSON objects) to a parquet file, atomically; parent
/// directories are created.
pub fn write_parquet(path: &Path, rows: &[Value]) -> Result<()> {
    let schema = Arc::new(
        infer_schema(rows).map_err(DataError::Schema).map_err(at(format!("writing {}", path.display())))?,
    );
    atomic_write(path, |file| {
        let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
        let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props))?;
        for chunk in rows.chunks(WRITE_BATCH) {
            let mut decoder =
                ReaderBuilder::new(schema.clone()).with_batch_size(chunk.len()).build_decoder()?;
            decoder.serialize(chunk)?;
            if let Some(batch) = decoder.flush()? {
                writer.write(&batch)?;
            }
        }
        writer.close()?;
        Ok(())
    })
}

/// Writes rows as JSONL, atomically.
pub fn write_jsonl(path: &Path, rows: &[Value]) -> Result<()> {
    atomic_write(path, |mut file| {
        for row in rows {
            serde_json::to_writer(&mut file, row)?;
            file.write_all(b"\n")?;
        }
        file.flush()?;
        Ok(())
    })
}

/// Runs `write` on a temporary file next to `path`, then renames it into place.
pub fn atomic_write(path: &Path, write: impl FnOnce(File) -> Result<()>) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(file("create", dir))?;
    let name = path.file_name().ok_or_else(|| DataError::NotAFilePath(path.into()))?;
    // Checked first: the rename below could not replace a directory, and the
    // temporary file would be left beside it.
    if path.is_dir() {
        return Err(DataError::IsADirectory(path.into()));
    }
    let tmp: PathBuf = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let out = File::create(&tmp).map_err(file("create", &tmp))?;
    let result = write(out.try_clone()?)
        .and_then(|()| Ok(out.sync_all()?))
        .map_err(at(format!("writing {}", path.display())))
        .and_then(|()| {
            std::fs::rename(&tmp, path).map_err(at(format!(
                "cannot move {} to {}",
                tmp.display(),
                path.display()
            )))
        });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return result;
    }
    // Durable like tz-run-dir's write_atomic: the rename itself survives a crash.
    #[cfg(unix)]
    File::open(dir).and_then(|d| d.sync_all()).map_err(file("sync", dir))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parquet_round_trip_keeps_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/rows.parquet");
        let rows = vec![
            json!({"target": 3, "nums": [1, 2], "prompt": [{"role": "user", "content": "hé"}], "extra_info": {"split": "train", "index": 0}}),
            json!({"target": 4, "nums": [], "prompt": [], "extra_info": {"split": "test", "index": 1}}),
        ];
        write_parquet(&path, &rows).unwrap();
        assert_eq!(read_rows(&path).unwrap(), rows);
        assert_eq!(parquet_row_count(&path).unwrap(), 2);
        assert!(std::fs::read_dir(path.parent().unwrap()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("tmp")));
    }

    #[test]
    fn jsonl_errors_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.jsonl");
        std::fs::write(&path, b"{\"a\": 1}\n\n{\"a\": \xff}\n").unwrap();
        let err = format!("{:#}", read_rows(&path).unwrap_err());
        assert!(err.contains("rows.jsonl:3: not valid UTF-8"), "{err}");
        std::fs::write(&path, "{\"a\": 1}\n[1]\n").unwrap();
        let err = format!("{:#}", read_rows(&path).unwrap_err());
        assert!(err.contains("rows.jsonl:2: expected a JSON object"), "{err}");
    }

    #[test]
    fn missing_or_bad_parquet_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = format!("{:#}", read_rows(&dir.path().join("none.parquet")).unwrap_err());
        assert!(err.contains("cannot open"), "{err}");
        let bad = dir.path().join("bad.parquet");
        std::fs::write(&bad, "not parquet").unwrap();
        let err = format!("{:#}", read_rows(&bad).unwrap_err());
        assert!(err.contains("not a readable parquet file"), "{err}");
    }
}

//! The three names of an element type: tch's [`Kind`], safetensors'
//! [`Dtype`], and the `torch_dtype` string of `config.json`.

use safetensors::Dtype;
use tch::Kind;

use crate::error::bail;

/// tch kind of a safetensors dtype (the ones PyTorch checkpoints use).
pub(crate) fn kind_of(dtype: Dtype) -> Option<Kind> {
    Some(match dtype {
        Dtype::F32 => Kind::Float,
        Dtype::BF16 => Kind::BFloat16,
        Dtype::F16 => Kind::Half,
        Dtype::F64 => Kind::Double,
        Dtype::I64 => Kind::Int64,
        Dtype::I32 => Kind::Int,
        Dtype::I16 => Kind::Int16,
        Dtype::I8 => Kind::Int8,
        Dtype::U8 => Kind::Uint8,
        Dtype::BOOL => Kind::Bool,
        _ => return None,
    })
}

/// safetensors dtype of a tch kind.
pub(crate) fn dtype_of(kind: Kind) -> Option<Dtype> {
    Some(match kind {
        Kind::Float => Dtype::F32,
        Kind::BFloat16 => Dtype::BF16,
        Kind::Half => Dtype::F16,
        Kind::Double => Dtype::F64,
        Kind::Int64 => Dtype::I64,
        Kind::Int => Dtype::I32,
        Kind::Int16 => Dtype::I16,
        Kind::Int8 => Dtype::I8,
        Kind::Uint8 => Dtype::U8,
        Kind::Bool => Dtype::BOOL,
        _ => return None,
    })
}

/// `config.json`'s `torch_dtype` for a floating kind.
pub fn torch_dtype_name(kind: Kind) -> Option<&'static str> {
    Some(match kind {
        Kind::Float => "float32",
        Kind::BFloat16 => "bfloat16",
        Kind::Half => "float16",
        Kind::Double => "float64",
        _ => return None,
    })
}

/// Parses a dtype as users and configs write it (`bf16`, `bfloat16`,
/// `float32`, `fp16`, ...).
pub fn parse_float_kind(name: &str) -> crate::Result<Kind> {
    Ok(match name.trim().to_ascii_lowercase().as_str() {
        "float32" | "fp32" | "f32" | "float" => Kind::Float,
        "bfloat16" | "bf16" => Kind::BFloat16,
        "float16" | "fp16" | "f16" | "half" => Kind::Half,
        "float64" | "fp64" | "f64" | "double" => Kind::Double,
        other => bail!(Checkpoint: "unknown dtype '{other}' (expected float32, bfloat16 or float16)"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_kinds_round_trip_through_every_name() {
        for kind in [Kind::Float, Kind::BFloat16, Kind::Half, Kind::Double] {
            assert_eq!(kind_of(dtype_of(kind).unwrap()), Some(kind));
            assert_eq!(parse_float_kind(torch_dtype_name(kind).unwrap()).unwrap(), kind);
        }
        assert_eq!(parse_float_kind("BF16").unwrap(), Kind::BFloat16);
        assert!(parse_float_kind("int4").unwrap_err().to_string().contains("unknown dtype 'int4'"));
    }
}

//! Helpers for reading JSON inputs with errors that say which file and which field.

use crate::error::LoadError;
use alloy_primitives::{Address, B256, Bytes, U256};
use serde_json::Value;
use std::{path::Path, str::FromStr};

/// Reads and parses a JSON file; syntax errors carry line and column.
pub fn read_json(path: &Path) -> Result<Value, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text)
        .map_err(|e| LoadError::invalid(path, format!("malformed JSON: {e}")))
}

/// Parses a JSON value into `T`, naming `what` in the error.
pub fn from_value<T: serde::de::DeserializeOwned>(v: &Value, what: &str) -> Result<T, String> {
    T::deserialize(v).map_err(|e| format!("{what}: {e}"))
}

fn as_str<'a>(v: &'a Value, what: &str) -> Result<&'a str, String> {
    v.as_str()
        .ok_or_else(|| format!("{what}: expected a hex string, found {v}"))
}

/// A 256-bit quantity: `0x`-hex string, decimal string, or JSON integer.
pub fn u256(v: &Value, what: &str) -> Result<U256, String> {
    if let Some(n) = v.as_u64() {
        return Ok(U256::from(n));
    }
    let s = as_str(v, what)?;
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some("") => Ok(U256::ZERO),
        Some(hex) => U256::from_str_radix(hex, 16).map_err(|e| e.to_string()),
        None => U256::from_str_radix(s, 10).map_err(|e| e.to_string()),
    };
    parsed.map_err(|e| format!("{what}: invalid quantity {s:?}: {e}"))
}

/// A 64-bit quantity (same encodings as [`u256`]).
pub fn u64(v: &Value, what: &str) -> Result<u64, String> {
    let x = u256(v, what)?;
    u64::try_from(x).map_err(|_| format!("{what}: {x} does not fit in 64 bits"))
}

/// Hex bytes (`0x` optional, empty allowed).
pub fn bytes(v: &Value, what: &str) -> Result<Bytes, String> {
    let s = as_str(v, what)?;
    let hex = s.strip_prefix("0x").unwrap_or(s);
    alloy_primitives::hex::decode(hex)
        .map(Bytes::from)
        .map_err(|e| format!("{what}: invalid hex {}: {e}", abbreviate(s)))
}

/// A 20-byte address.
pub fn address(v: &Value, what: &str) -> Result<Address, String> {
    let s = as_str(v, what)?;
    Address::from_str(s).map_err(|e| format!("{what}: invalid address {s:?}: {e}"))
}

/// A 32-byte hash, or a 32-byte big-endian word given as a quantity.
pub fn b256(v: &Value, what: &str) -> Result<B256, String> {
    Ok(B256::from(u256(v, what)?.to_be_bytes::<32>()))
}

/// A member of a JSON object, or an error naming it.
pub fn field<'a>(obj: &'a Value, name: &str, what: &str) -> Result<&'a Value, String> {
    obj.get(name)
        .ok_or_else(|| format!("{what}: missing field `{name}`"))
}

fn abbreviate(s: &str) -> String {
    if s.len() > 24 {
        format!("{}…", &s[..24])
    } else {
        s.to_string()
    }
}

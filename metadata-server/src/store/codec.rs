//! Encoding of every record this crate persists (log entries, vote, state-machine
//! metadata, dedup records): one format-version byte, then postcard. A record of an
//! unknown version is refused instead of being misread.

use serde::{de::DeserializeOwned, Serialize};
use std::io;

/// The version byte that starts every persisted record.
const FORMAT_V1: u8 = 1;

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, io::Error> {
    let body = postcard::to_stdvec(value)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("encoding record: {e}")))?;
    let mut out = Vec::with_capacity(body.len() + 1);
    out.push(FORMAT_V1);
    out.extend_from_slice(&body);
    Ok(out)
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, io::Error> {
    match bytes.split_first() {
        Some((&FORMAT_V1, body)) => postcard::from_bytes(body).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidData, format!("decoding {what}: {e}"))
        }),
        Some((v, _)) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{what} has unknown format version {v}"),
        )),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{what} is empty"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_version_check() {
        let bytes = encode(&(7u64, "x".to_string())).expect("encode");
        assert_eq!(bytes[0], FORMAT_V1);
        let back: (u64, String) = decode(&bytes, "test").expect("decode");
        assert_eq!(back, (7, "x".to_string()));
        let mut bad = bytes.clone();
        bad[0] = 9;
        assert!(decode::<(u64, String)>(&bad, "test").is_err());
        assert!(decode::<(u64, String)>(&[], "test").is_err());
    }
}

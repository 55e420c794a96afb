//! The snapshot file format, streamed so a snapshot never has to fit in memory:
//!
//! ```text
//! magic "FFSNAPSH" | version u32 | meta_len u32 | meta (codec-encoded SnapshotMeta)
//! then records:   0x01 name_len u8 name          -- start of a column family
//!                 0x02 key_len u32 key val_len u32 val
//!                 0xff count u64                 -- end, with the number of 0x02 records
//! then blake3(all bytes before) (32 bytes)
//! ```
//! Integers are big-endian. Lengths are checked against limits before allocating.

use super::codec;
use crate::types::SnapshotMeta;
use std::io::{self, BufReader, BufWriter, Read, Write};

pub const MAGIC: &[u8; 8] = b"FFSNAPSH";
/// Snapshot records are the namespace tables' own encodings: a snapshot file carries
/// the data format of the folder it came from (`format.rs`).
pub const VERSION: u32 = super::format::FORMAT_VERSION;

const TAG_SECTION: u8 = 0x01;
const TAG_RECORD: u8 = 0x02;
const TAG_END: u8 = 0xff;

const MAX_META_BYTES: u32 = 16 * 1024 * 1024;
const MAX_KEY_BYTES: u32 = 64 * 1024;
const MAX_VALUE_BYTES: u32 = 256 * 1024 * 1024;

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Writes a snapshot file, hashing as it goes.
pub struct SnapshotWriter<W: Write> {
    out: BufWriter<W>,
    hasher: blake3::Hasher,
    records: u64,
}

impl<W: Write> SnapshotWriter<W> {
    pub fn new(out: W, meta: &SnapshotMeta) -> Result<SnapshotWriter<W>, io::Error> {
        let mut w = SnapshotWriter {
            out: BufWriter::with_capacity(1 << 20, out),
            hasher: blake3::Hasher::new(),
            records: 0,
        };
        let meta = codec::encode(meta)?;
        let meta_len = u32::try_from(meta.len()).map_err(|_| invalid("snapshot meta too large"))?;
        w.put(MAGIC)?;
        w.put(&VERSION.to_be_bytes())?;
        w.put(&meta_len.to_be_bytes())?;
        w.put(&meta)?;
        Ok(w)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), io::Error> {
        self.hasher.update(bytes);
        self.out.write_all(bytes)
    }

    /// Start the records of column family `name`.
    pub fn section(&mut self, name: &str) -> Result<(), io::Error> {
        let len = u8::try_from(name.len()).map_err(|_| invalid("column family name too long"))?;
        self.put(&[TAG_SECTION, len])?;
        self.put(name.as_bytes())
    }

    pub fn record(&mut self, key: &[u8], value: &[u8]) -> Result<(), io::Error> {
        let key_len = u32::try_from(key.len()).map_err(|_| invalid("key too long"))?;
        let val_len = u32::try_from(value.len()).map_err(|_| invalid("value too long"))?;
        if key_len > MAX_KEY_BYTES || val_len > MAX_VALUE_BYTES {
            return Err(invalid(format!(
                "record of {key_len}+{val_len} bytes exceeds the limits"
            )));
        }
        self.put(&[TAG_RECORD])?;
        self.put(&key_len.to_be_bytes())?;
        self.put(key)?;
        self.put(&val_len.to_be_bytes())?;
        self.put(value)?;
        self.records += 1;
        Ok(())
    }

    /// Write the end marker and the checksum; returns the underlying writer, flushed.
    pub fn finish(mut self) -> Result<W, io::Error> {
        let records = self.records;
        self.put(&[TAG_END])?;
        self.put(&records.to_be_bytes())?;
        let hash = self.hasher.finalize();
        self.out.write_all(hash.as_bytes())?;
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

/// One item of a snapshot's body.
#[derive(Debug, PartialEq, Eq)]
pub enum Item {
    Section(String),
    Record(Vec<u8>, Vec<u8>),
}

/// Reads a snapshot file, verifying the checksum at the end.
pub struct SnapshotReader<R: Read> {
    input: BufReader<R>,
    hasher: blake3::Hasher,
    records: u64,
    done: bool,
}

impl<R: Read> SnapshotReader<R> {
    /// Read and check the header; returns the reader positioned at the first item.
    pub fn open(input: R) -> Result<(SnapshotReader<R>, SnapshotMeta), io::Error> {
        let mut r = SnapshotReader {
            input: BufReader::with_capacity(1 << 20, input),
            hasher: blake3::Hasher::new(),
            records: 0,
            done: false,
        };
        let magic: [u8; 8] = r.array()?;
        if &magic != MAGIC {
            return Err(invalid("not a ferrofs snapshot (bad magic)"));
        }
        let version = u32::from_be_bytes(r.array()?);
        if version != VERSION {
            return Err(invalid(format!(
                "snapshot format version {version} is not supported"
            )));
        }
        let meta_len = u32::from_be_bytes(r.array()?);
        if meta_len > MAX_META_BYTES {
            return Err(invalid(format!(
                "snapshot meta of {meta_len} bytes exceeds the limit"
            )));
        }
        let meta = r.bytes(meta_len)?;
        let meta: SnapshotMeta = codec::decode(&meta, "snapshot meta")?;
        Ok((r, meta))
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], io::Error> {
        let mut buf = [0u8; N];
        self.input.read_exact(&mut buf).map_err(truncated)?;
        self.hasher.update(&buf);
        Ok(buf)
    }

    fn bytes(&mut self, len: u32) -> Result<Vec<u8>, io::Error> {
        let mut buf = vec![0u8; len as usize];
        self.input.read_exact(&mut buf).map_err(truncated)?;
        self.hasher.update(&buf);
        Ok(buf)
    }

    /// The next item, or `None` after the end marker once the checksum verified.
    pub fn next_item(&mut self) -> Result<Option<Item>, io::Error> {
        if self.done {
            return Ok(None);
        }
        let [tag] = self.array::<1>()?;
        match tag {
            TAG_SECTION => {
                let [len] = self.array::<1>()?;
                let name = self.bytes(len as u32)?;
                let name = String::from_utf8(name)
                    .map_err(|_| invalid("column family name is not UTF-8"))?;
                Ok(Some(Item::Section(name)))
            }
            TAG_RECORD => {
                let key_len = u32::from_be_bytes(self.array()?);
                if key_len > MAX_KEY_BYTES {
                    return Err(invalid(format!(
                        "snapshot key of {key_len} bytes exceeds the limit"
                    )));
                }
                let key = self.bytes(key_len)?;
                let val_len = u32::from_be_bytes(self.array()?);
                if val_len > MAX_VALUE_BYTES {
                    return Err(invalid(format!(
                        "snapshot value of {val_len} bytes exceeds the limit"
                    )));
                }
                let value = self.bytes(val_len)?;
                self.records += 1;
                Ok(Some(Item::Record(key, value)))
            }
            TAG_END => {
                let count = u64::from_be_bytes(self.array()?);
                if count != self.records {
                    return Err(invalid(format!(
                        "snapshot holds {} records but its trailer says {count}",
                        self.records
                    )));
                }
                let expected = self.hasher.finalize();
                let mut actual = [0u8; 32];
                self.input.read_exact(&mut actual).map_err(truncated)?;
                if expected.as_bytes() != &actual {
                    return Err(invalid("snapshot checksum mismatch"));
                }
                self.done = true;
                Ok(None)
            }
            other => Err(invalid(format!("unknown snapshot record tag {other:#x}"))),
        }
    }
}

fn truncated(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        invalid("snapshot file is truncated")
    } else {
        e
    }
}

/// Read only the header of a snapshot file.
pub fn read_meta<R: Read>(input: R) -> Result<SnapshotMeta, io::Error> {
    SnapshotReader::open(input).map(|(_, meta)| meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let meta = SnapshotMeta::default();
        let mut w = SnapshotWriter::new(Vec::new(), &meta).expect("writer");
        w.section("inodes").expect("section");
        w.record(b"k1", b"v1").expect("record");
        w.record(b"k2", b"").expect("record");
        w.section("dedup").expect("section");
        w.finish().expect("finish")
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<Item>, io::Error> {
        let (mut r, _) = SnapshotReader::open(bytes)?;
        let mut items = Vec::new();
        while let Some(item) = r.next_item()? {
            items.push(item);
        }
        Ok(items)
    }

    #[test]
    fn round_trip() {
        let items = read_all(&sample()).expect("read");
        assert_eq!(
            items,
            vec![
                Item::Section("inodes".into()),
                Item::Record(b"k1".to_vec(), b"v1".to_vec()),
                Item::Record(b"k2".to_vec(), Vec::new()),
                Item::Section("dedup".into()),
            ]
        );
    }

    #[test]
    fn corruption_truncation_and_bad_magic_are_refused() {
        let good = sample();
        let mut flipped = good.clone();
        let at = good.len() - 40;
        flipped[at] ^= 0x55;
        assert!(read_all(&flipped).is_err());
        assert!(read_all(&good[..good.len() - 5]).is_err());
        let mut bad_magic = good.clone();
        bad_magic[0] = b'X';
        assert!(read_all(&bad_magic).is_err());
    }

    #[test]
    fn huge_lengths_are_refused_before_allocating() {
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&VERSION.to_be_bytes());
        bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        let err = SnapshotReader::open(bytes.as_slice())
            .err()
            .expect("must fail");
        assert!(err.to_string().contains("exceeds"), "{err}");
    }
}

//! The model: one directory of files (with a content value) and sub-directories.
//! Operations are named as the client library's metadata operations.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Op {
    /// Exclusive create of an empty file.
    Create(String),
    Mkdir(String),
    /// Rename a file over another name (replacing a file there).
    Rename(String, String),
    /// Remove a file.
    Unlink(String),
    /// Open an existing file, write the whole content `value`, close.
    Write(String, u64),
    /// Read a file's whole content.
    Read(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Outcome {
    Ok,
    Exists,
    NotFound,
    /// A read's content (0: empty).
    Value(u64),
    /// The client does not know whether the operation happened.
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Node {
    Dir,
    File(u64),
}

/// The namespace state: name -> node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Model {
    pub entries: BTreeMap<String, Node>,
}

impl Model {
    /// Apply `op`, returning its outcome under this model.
    pub fn apply(&mut self, op: &Op) -> Outcome {
        match op {
            Op::Create(n) | Op::Mkdir(n) => {
                if self.entries.contains_key(n) {
                    return Outcome::Exists;
                }
                let node = if matches!(op, Op::Mkdir(_)) {
                    Node::Dir
                } else {
                    Node::File(0)
                };
                self.entries.insert(n.clone(), node);
                Outcome::Ok
            }
            Op::Rename(a, b) => match self.entries.get(a) {
                Some(Node::File(v)) => {
                    let v = *v;
                    if a != b {
                        self.entries.remove(a);
                        self.entries.insert(b.clone(), Node::File(v));
                    }
                    Outcome::Ok
                }
                _ => Outcome::NotFound,
            },
            Op::Unlink(n) => match self.entries.get(n) {
                Some(Node::File(_)) => {
                    self.entries.remove(n);
                    Outcome::Ok
                }
                _ => Outcome::NotFound,
            },
            Op::Write(n, v) => match self.entries.get_mut(n) {
                Some(Node::File(cur)) => {
                    *cur = *v;
                    Outcome::Ok
                }
                _ => Outcome::NotFound,
            },
            Op::Read(n) => match self.entries.get(n) {
                Some(Node::File(v)) => Outcome::Value(*v),
                _ => Outcome::NotFound,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_semantics() {
        let mut m = Model::default();
        assert_eq!(m.apply(&Op::Create("a".into())), Outcome::Ok);
        assert_eq!(m.apply(&Op::Create("a".into())), Outcome::Exists);
        assert_eq!(m.apply(&Op::Mkdir("a".into())), Outcome::Exists);
        assert_eq!(m.apply(&Op::Write("a".into(), 7)), Outcome::Ok);
        assert_eq!(m.apply(&Op::Rename("a".into(), "b".into())), Outcome::Ok);
        assert_eq!(m.apply(&Op::Read("a".into())), Outcome::NotFound);
        assert_eq!(m.apply(&Op::Read("b".into())), Outcome::Value(7));
        assert_eq!(m.apply(&Op::Unlink("b".into())), Outcome::Ok);
        assert_eq!(m.apply(&Op::Unlink("b".into())), Outcome::NotFound);
        assert_eq!(m.apply(&Op::Write("b".into(), 1)), Outcome::NotFound);
    }
}

//! Formatting for people: aligned tables, `ls -l` mode strings, sizes, times, and the
//! parsers for the matching inputs (sizes, octal modes).

use bytesize::ByteSize;
use ferrofs_proto::attr::{FileKind, Timestamp};
use std::fmt::Write as _;

/// A byte count given on the command line ("4096", "4KiB", "1.5GiB", "10MB").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size(pub u64);

/// Parse a size with an optional unit (binary `KiB`/`MiB`/`GiB`, decimal `KB`/`MB`/`GB`).
pub fn parse_size(text: &str) -> Result<Size, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty size".to_string());
    }
    if t.starts_with('-') {
        return Err(format!("size {t:?} is negative"));
    }
    t.parse::<ByteSize>()
        .map(|b| Size(b.as_u64()))
        .map_err(|e| format!("invalid size {t:?}: {e}"))
}

/// Human-readable bytes, binary units: `0 B`, `4.0 KiB`, `1.5 GiB`.
pub fn format_bytes(n: u64) -> String {
    ByteSize::b(n).display().iec().to_string()
}

/// Parse octal permission bits (`644`, `0755`, `1777`); at most 07777.
pub fn parse_mode(text: &str) -> Result<u32, String> {
    let t = text.trim();
    if t.is_empty() || t.len() > 5 || !t.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(format!(
            "invalid mode {text:?}: expected octal digits such as 644 or 0755"
        ));
    }
    let mode = u32::from_str_radix(t, 8).map_err(|e| format!("invalid mode {text:?}: {e}"))?;
    if mode > 0o7777 {
        return Err(format!("invalid mode {text:?}: larger than 7777"));
    }
    Ok(mode)
}

/// The 10-character mode string of `ls -l`, e.g. `drwxr-xr-x`, `-rwsr-x--T`.
pub fn mode_string(kind: FileKind, mode: u32) -> String {
    let mut s = String::with_capacity(10);
    s.push(match kind {
        FileKind::File => '-',
        FileKind::Dir => 'd',
        FileKind::Symlink => 'l',
        FileKind::Fifo => 'p',
    });
    // (read bit, write bit, exec bit, special bit, char if special+exec, char if special only)
    let triples = [
        (0o400, 0o200, 0o100, 0o4000, 's', 'S'),
        (0o040, 0o020, 0o010, 0o2000, 's', 'S'),
        (0o004, 0o002, 0o001, 0o1000, 't', 'T'),
    ];
    for (r, w, x, special, with_x, without_x) in triples {
        s.push(if mode & r != 0 { 'r' } else { '-' });
        s.push(if mode & w != 0 { 'w' } else { '-' });
        s.push(match (mode & x != 0, mode & special != 0) {
            (true, true) => with_x,
            (false, true) => without_x,
            (true, false) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// A timestamp as UTC with second precision: `2024-05-01 12:34:56`.
pub fn format_time(t: Timestamp) -> String {
    let secs = t.secs();
    if secs < 0 {
        return "1970-01-01 00:00:00".to_string();
    }
    let st = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64);
    // "2024-05-01T12:34:56Z" -> "2024-05-01 12:34:56"
    humantime::format_rfc3339_seconds(st)
        .to_string()
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_string()
}

/// A name from the cluster (bytes), shown lossily as UTF-8.
pub fn show_name(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

/// The one line printed for a failed command (without the `ferrofs: ` prefix): the
/// error and its causes joined by ": ", skipping a cause whose text is already shown
/// (errors that include their source in their own message).
pub fn error_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Whether the failure is a closed stdout (`ferrofs cat f | head`): not worth a message.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A table with a header row; columns are padded to their widest cell.
#[derive(Debug)]
pub struct Table {
    header: Vec<(String, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(columns: &[(&str, Align)]) -> Table {
        Table {
            header: columns.iter().map(|(h, a)| (h.to_string(), *a)).collect(),
            rows: Vec::new(),
        }
    }

    /// Add a row; missing cells are blank, extra cells are dropped.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let n = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|(h, _)| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().take(n).enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let header: Vec<String> = self.header.iter().map(|(h, _)| h.clone()).collect();
        for row in std::iter::once(&header).chain(self.rows.iter()) {
            let mut line = String::new();
            for (i, (_, align)) in self.header.iter().enumerate() {
                let cell = row.get(i).map(String::as_str).unwrap_or("");
                let pad = widths[i].saturating_sub(cell.chars().count());
                if i > 0 {
                    line.push_str("  ");
                }
                match align {
                    Align::Left => {
                        line.push_str(cell);
                        line.extend(std::iter::repeat_n(' ', pad));
                    }
                    Align::Right => {
                        line.extend(std::iter::repeat_n(' ', pad));
                        line.push_str(cell);
                    }
                }
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_strings() {
        assert_eq!(mode_string(FileKind::Dir, 0o755), "drwxr-xr-x");
        assert_eq!(mode_string(FileKind::File, 0o644), "-rw-r--r--");
        assert_eq!(mode_string(FileKind::Symlink, 0o777), "lrwxrwxrwx");
        assert_eq!(mode_string(FileKind::Fifo, 0), "p---------");
        assert_eq!(mode_string(FileKind::File, 0o4755), "-rwsr-xr-x");
        assert_eq!(mode_string(FileKind::File, 0o2644), "-rw-r-Sr--");
        assert_eq!(mode_string(FileKind::Dir, 0o1777), "drwxrwxrwt");
        assert_eq!(mode_string(FileKind::Dir, 0o1776), "drwxrwxrwT");
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("4096"), Ok(Size(4096)));
        assert_eq!(parse_size("4KiB"), Ok(Size(4096)));
        assert_eq!(parse_size("1GiB"), Ok(Size(1 << 30)));
        assert_eq!(parse_size("1 MiB"), Ok(Size(1 << 20)));
        assert_eq!(parse_size("10MB"), Ok(Size(10_000_000)));
        assert_eq!(parse_size("0"), Ok(Size(0)));
        assert!(parse_size("").is_err());
        assert!(parse_size("-5").is_err());
        assert!(parse_size("12 parsecs").is_err());
    }

    #[test]
    fn bytes_format_in_binary_units() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(4 << 30), "4.0 GiB");
    }

    #[test]
    fn modes_parse_as_octal() {
        assert_eq!(parse_mode("644"), Ok(0o644));
        assert_eq!(parse_mode("0755"), Ok(0o755));
        assert_eq!(parse_mode("1777"), Ok(0o1777));
        assert!(parse_mode("888").is_err());
        assert!(parse_mode("u+x").is_err());
        assert!(parse_mode("17777").is_err());
        assert!(parse_mode("").is_err());
    }

    #[test]
    fn times_are_utc_seconds() {
        assert_eq!(format_time(Timestamp(0)), "1970-01-01 00:00:00");
        assert_eq!(
            format_time(Timestamp(1_700_000_000_999_999_999)),
            "2023-11-14 22:13:20"
        );
    }

    #[test]
    fn error_line_joins_causes_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let e = anyhow::Error::new(io)
            .context("reading x")
            .context("get /y");
        assert_eq!(error_line(&e), "get /y: reading x: gone");
        #[derive(Debug)]
        struct Wraps(std::io::Error);
        impl std::fmt::Display for Wraps {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "local io: {}", self.0)
            }
        }
        impl std::error::Error for Wraps {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = anyhow::Error::new(Wraps(std::io::Error::other("disk on fire"))).context("put /z");
        assert_eq!(error_line(&e), "put /z: local io: disk on fire");
        assert!(!is_broken_pipe(&e));
        let pipe = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
            .context("cat /f");
        assert!(is_broken_pipe(&pipe));
    }

    #[test]
    fn table_aligns_columns() {
        let mut t = Table::new(&[
            ("ID", Align::Right),
            ("NAME", Align::Left),
            ("SIZE", Align::Right),
        ]);
        t.row(vec!["1".into(), "alpha".into(), "10".into()]);
        t.row(vec!["102".into(), "b".into(), "2000".into()]);
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            vec![" ID  NAME   SIZE", "  1  alpha    10", "102  b      2000"]
        );
    }
}

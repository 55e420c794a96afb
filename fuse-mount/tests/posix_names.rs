//! POSIX behaviour of names through the mount: create, mkdir, rmdir, unlink, rename
//! (replace, RENAME_NOREPLACE, RENAME_EXCHANGE), link, symlink, readlink, mknod for
//! FIFOs, their errors, and listing a big directory page by page.

mod common;

use common::{errno, Mounted};
use ferrofs_fuse::MountOptions;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

fn renameat2(from: &Path, to: &Path, flags: libc::c_uint) -> std::io::Result<()> {
    let (a, b) = (
        CString::new(from.as_os_str().as_bytes())?,
        CString::new(to.as_os_str().as_bytes())?,
    );
    // SAFETY: both paths are valid NUL-terminated strings for the duration of the call.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            flags,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[test]
fn names_and_their_errors() -> anyhow::Result<()> {
    let m = Mounted::start(MountOptions::default())?;
    let p = |s: &str| m.path(s);

    // Phase 1: mkdir, create, and the errors of existing and missing names.
    std::fs::create_dir(p("d"))?;
    std::fs::write(p("d/f"), b"x")?;
    assert_eq!(errno(std::fs::create_dir(p("d"))), libc::EEXIST);
    assert_eq!(errno(std::fs::create_dir(p("missing/d"))), libc::ENOENT);
    assert_eq!(errno(std::fs::metadata(p("nope"))), libc::ENOENT);
    let excl = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(p("d/f"));
    assert_eq!(errno(excl), libc::EEXIST);
    assert_eq!(errno(std::fs::create_dir(p("d/f/x"))), libc::ENOTDIR);
    assert_eq!(
        errno(std::fs::write(p(&"n".repeat(256)), b"")),
        libc::ENAMETOOLONG
    );
    std::fs::write(p(&"n".repeat(255)), b"")?;
    eprintln!("phase 1: create/mkdir and EEXIST, ENOENT, ENOTDIR, ENAMETOOLONG");

    // Phase 2: rmdir and unlink.
    assert_eq!(errno(std::fs::remove_dir(p("d"))), libc::ENOTEMPTY);
    assert_eq!(errno(std::fs::remove_dir(p("d/f"))), libc::ENOTDIR);
    assert_eq!(errno(std::fs::remove_file(p("d"))), libc::EISDIR);
    std::fs::remove_file(p("d/f"))?;
    assert_eq!(errno(std::fs::remove_file(p("d/f"))), libc::ENOENT);
    std::fs::remove_dir(p("d"))?;
    assert!(!p("d").exists());
    eprintln!("phase 2: rmdir/unlink and ENOTEMPTY, ENOTDIR, EISDIR");

    // Phase 3: rename replaces, NOREPLACE refuses, EXCHANGE swaps; a directory cannot
    // move into itself.
    std::fs::write(p("a"), b"A")?;
    std::fs::write(p("b"), b"B")?;
    std::fs::rename(p("a"), p("b"))?;
    assert_eq!(std::fs::read(p("b"))?, b"A");
    assert!(!p("a").exists());
    std::fs::write(p("a"), b"A2")?;
    assert_eq!(
        errno(renameat2(&p("a"), &p("b"), libc::RENAME_NOREPLACE)),
        libc::EEXIST
    );
    renameat2(&p("a"), &p("b"), libc::RENAME_EXCHANGE)?;
    assert_eq!(std::fs::read(p("a"))?, b"A");
    assert_eq!(std::fs::read(p("b"))?, b"A2");
    renameat2(&p("b"), &p("c"), libc::RENAME_NOREPLACE)?;
    assert_eq!(std::fs::read(p("c"))?, b"A2");
    std::fs::create_dir_all(p("top/sub"))?;
    assert_eq!(
        errno(std::fs::rename(p("top"), p("top/sub/inner"))),
        libc::EINVAL
    );
    std::fs::create_dir(p("empty"))?;
    std::fs::rename(p("empty"), p("top/sub"))?; // an empty directory may be replaced
    assert!(!p("empty").exists());
    std::fs::write(p("top/sub/x"), b"")?;
    std::fs::create_dir(p("empty2"))?;
    assert_eq!(
        errno(std::fs::rename(p("empty2"), p("top/sub"))),
        libc::ENOTEMPTY
    );
    eprintln!("phase 3: rename, RENAME_NOREPLACE, RENAME_EXCHANGE, EINVAL, ENOTEMPTY");

    // Phase 4: hard links, symlinks, readlink, ELOOP.
    std::fs::write(p("orig"), b"data")?;
    std::fs::hard_link(p("orig"), p("hard"))?;
    assert_eq!(std::fs::metadata(p("orig"))?.nlink(), 2);
    assert_eq!(
        std::fs::metadata(p("orig"))?.ino(),
        std::fs::metadata(p("hard"))?.ino()
    );
    std::fs::remove_file(p("orig"))?;
    assert_eq!(std::fs::read(p("hard"))?, b"data");
    assert_eq!(std::fs::metadata(p("hard"))?.nlink(), 1);
    std::os::unix::fs::symlink("hard", p("sym"))?;
    assert_eq!(std::fs::read_link(p("sym"))?, Path::new("hard"));
    assert_eq!(std::fs::read(p("sym"))?, b"data");
    assert!(std::fs::symlink_metadata(p("sym"))?
        .file_type()
        .is_symlink());
    std::os::unix::fs::symlink("loop2", p("loop1"))?;
    std::os::unix::fs::symlink("loop1", p("loop2"))?;
    assert_eq!(errno(std::fs::read(p("loop1"))), libc::ELOOP);
    eprintln!("phase 4: link, symlink, readlink, ELOOP");

    // Phase 5: a FIFO carries bytes between two processes.
    m.ok("mkfifo pipe")?;
    assert!(std::fs::metadata(p("pipe"))?.file_type().is_fifo());
    let out = m.ok("(echo through-the-fifo > pipe &) ; cat pipe")?;
    assert_eq!(out.trim(), "through-the-fifo");
    eprintln!("phase 5: mknod FIFO");

    // Phase 6: the hidden folder never shows.
    let f = std::fs::File::create(p("held"))?;
    std::fs::remove_file(p("held"))?;
    let names: Vec<String> = std::fs::read_dir(m.root())?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    assert!(
        !names.iter().any(|n| n.starts_with(".ferrofs")),
        "{names:?}"
    );
    assert_eq!(
        errno(std::fs::metadata(p(".ferrofs-unlinked"))),
        libc::ENOENT
    );
    drop(f);
    eprintln!("phase 6: the unlinked-file folder is hidden");
    Ok(())
}

#[test]
fn a_big_directory_lists_completely_page_by_page() -> anyhow::Result<()> {
    let m = Mounted::start(MountOptions::default())?;
    // 3000 entries: many server pages (128) and many kernel replies.
    m.ok("mkdir big && cd big && i=0; while [ $i -lt 3000 ]; do : > f$i; i=$((i+1)); done")?;
    let count = std::fs::read_dir(m.path("big"))?.count();
    assert_eq!(count, 3000);
    let out = m.ok("ls -f big | wc -l")?; // ls -f includes . and ..
    assert_eq!(out.trim(), "3002");
    let mut names: Vec<String> = std::fs::read_dir(m.path("big"))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 3000, "no entry listed twice");
    // Removing while listing (rm -r) empties it.
    m.ok("rm -r big")?;
    assert!(!m.path("big").exists());
    Ok(())
}

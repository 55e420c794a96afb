//! Permissions, ownership, extended attributes, statfs and read-only mounts. Commands
//! run as `nobody` (uid/gid 65534) through `setpriv`, which the `allow_other` mount
//! lets in; the kernel checks mode bits and owners (`default_permissions`).

mod common;

use common::{errno, Mounted};
use ferrofs_fuse::MountOptions;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("no NUL in test paths")
}

fn last_err<T>() -> std::io::Result<T> {
    Err(std::io::Error::last_os_error())
}

#[allow(unsafe_code)]
fn setxattr(path: &Path, name: &str, value: &[u8], flags: i32) -> std::io::Result<()> {
    let (p, n) = (cstr(path), CString::new(name)?);
    // SAFETY: valid C strings and a value slice that outlive the call.
    let rc = unsafe {
        libc::setxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            flags,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        last_err()
    }
}

#[allow(unsafe_code)]
fn getxattr(path: &Path, name: &str) -> std::io::Result<Vec<u8>> {
    let (p, n) = (cstr(path), CString::new(name)?);
    let mut buf = vec![0u8; 65536];
    // SAFETY: the buffer is writable for its whole length.
    let rc = unsafe { libc::getxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if rc < 0 {
        return last_err();
    }
    buf.truncate(rc as usize);
    Ok(buf)
}

#[allow(unsafe_code)]
fn xattr_size(path: &Path, name: &str) -> std::io::Result<usize> {
    let (p, n) = (cstr(path), CString::new(name)?);
    // SAFETY: a NULL buffer of size 0 asks for the size only.
    let rc = unsafe { libc::getxattr(p.as_ptr(), n.as_ptr(), std::ptr::null_mut(), 0) };
    if rc < 0 {
        last_err()
    } else {
        Ok(rc as usize)
    }
}

#[allow(unsafe_code)]
fn listxattr(path: &Path) -> std::io::Result<Vec<String>> {
    let p = cstr(path);
    let mut buf = vec![0u8; 65536];
    // SAFETY: the buffer is writable for its whole length.
    let rc = unsafe { libc::listxattr(p.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if rc < 0 {
        return last_err();
    }
    buf.truncate(rc as usize);
    Ok(buf
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect())
}

#[allow(unsafe_code)]
fn removexattr(path: &Path, name: &str) -> std::io::Result<()> {
    let (p, n) = (cstr(path), CString::new(name)?);
    // SAFETY: valid C strings.
    let rc = unsafe { libc::removexattr(p.as_ptr(), n.as_ptr()) };
    if rc == 0 {
        Ok(())
    } else {
        last_err()
    }
}

/// The exit status and stderr of a command run as nobody.
fn nobody_fails(m: &Mounted, script: &str, expect: &str) -> anyhow::Result<()> {
    let out = m.sh_nobody(script)?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "`{script}` should fail as nobody");
    assert!(
        err.contains(expect),
        "`{script}`: expected {expect:?} in {err:?}"
    );
    Ok(())
}

#[test]
fn permissions_and_ownership() -> anyhow::Result<()> {
    let m = Mounted::start(MountOptions::default())?;
    let p = |s: &str| m.path(s);
    std::fs::set_permissions(m.root(), std::fs::Permissions::from_mode(0o755))?;

    // Phase 1: root's chmod and chown show up.
    std::fs::write(p("secret"), b"root only")?;
    std::fs::set_permissions(p("secret"), std::fs::Permissions::from_mode(0o600))?;
    assert_eq!(std::fs::metadata(p("secret"))?.mode() & 0o7777, 0o600);
    std::os::unix::fs::chown(p("secret"), Some(1234), Some(5678))?;
    let md = std::fs::metadata(p("secret"))?;
    assert_eq!((md.uid(), md.gid()), (1234, 5678));
    std::os::unix::fs::chown(p("secret"), Some(0), Some(0))?;
    eprintln!("phase 1: chmod, chown as root");

    // Phase 2: nobody is refused by mode bits: EACCES.
    std::fs::write(p("public"), b"everyone reads")?;
    std::fs::set_permissions(p("public"), std::fs::Permissions::from_mode(0o644))?;
    assert_eq!(m.ok_nobody("cat public")?, "everyone reads");
    nobody_fails(&m, "cat secret", "Permission denied")?;
    nobody_fails(&m, "echo x >> public", "Permission denied")?;
    nobody_fails(&m, ": > newfile", "Permission denied")?;
    nobody_fails(&m, "mkdir newdir", "Permission denied")?;
    nobody_fails(&m, "rm public", "Permission denied")?;
    eprintln!("phase 2: EACCES for nobody on root's files and folders");

    // Phase 3: in a world-writable folder nobody creates files it owns, may chmod
    // them, may not chown them, and may not chmod root's files: EPERM.
    std::fs::create_dir(p("shared"))?;
    std::fs::set_permissions(p("shared"), std::fs::Permissions::from_mode(0o777))?;
    m.ok_nobody(
        "echo mine > shared/mine && mkdir shared/sub && chmod 600 shared/mine && cat shared/mine",
    )?;
    let md = std::fs::metadata(p("shared/mine"))?;
    assert_eq!(
        (md.uid(), md.gid(), md.mode() & 0o777),
        (65534, 65534, 0o600)
    );
    assert_eq!(std::fs::metadata(p("shared/sub"))?.uid(), 65534);
    nobody_fails(&m, "chown 0 shared/mine", "Operation not permitted")?;
    nobody_fails(&m, "chmod 777 public", "Operation not permitted")?;
    nobody_fails(
        &m,
        "touch -c -d '2000-01-01' public",
        "Operation not permitted",
    )?;
    assert_eq!(
        std::fs::read(p("shared/mine"))?,
        b"mine\n",
        "root reads anything"
    );
    eprintln!("phase 3: nobody owns what it creates; EPERM for chown and others' chmod");

    // Phase 4: a set-group-id folder hands its group down.
    std::fs::create_dir(p("team"))?;
    std::os::unix::fs::chown(p("team"), Some(0), Some(4242))?;
    std::fs::set_permissions(p("team"), std::fs::Permissions::from_mode(0o2777))?;
    m.ok_nobody(": > team/f && mkdir team/d")?;
    assert_eq!(std::fs::metadata(p("team/f"))?.gid(), 4242);
    let d = std::fs::metadata(p("team/d"))?;
    assert_eq!(d.gid(), 4242);
    assert!(
        d.mode() & 0o2000 != 0,
        "a new folder in a setgid folder is setgid"
    );
    eprintln!("phase 4: setgid folders");

    // Phase 5: access(2) as seen by nobody.
    assert_eq!(
        m.sh_nobody("test -r public && test ! -w public && test ! -r secret")?
            .status
            .code(),
        Some(0)
    );
    eprintln!("phase 5: access");
    Ok(())
}

#[test]
fn xattrs_statfs_and_read_only() -> anyhow::Result<()> {
    let mut m = Mounted::start(MountOptions::default())?;
    let f = m.path("x");
    std::fs::write(&f, b"")?;

    // Phase 1: the four xattr calls and their errors.
    setxattr(&f, "user.color", b"blue", 0)?;
    assert_eq!(getxattr(&f, "user.color")?, b"blue");
    assert_eq!(xattr_size(&f, "user.color")?, 4);
    assert_eq!(
        errno(setxattr(&f, "user.color", b"red", libc::XATTR_CREATE)),
        libc::EEXIST
    );
    assert_eq!(
        errno(setxattr(&f, "user.size", b"big", libc::XATTR_REPLACE)),
        libc::ENODATA
    );
    setxattr(&f, "user.color", b"green", libc::XATTR_REPLACE)?;
    setxattr(&f, "user.size", b"", 0)?;
    let mut names = listxattr(&f)?;
    names.sort();
    assert_eq!(
        names,
        vec!["user.color".to_string(), "user.size".to_string()]
    );
    assert_eq!(getxattr(&f, "user.color")?, b"green");
    assert_eq!(getxattr(&f, "user.size")?, b"");
    removexattr(&f, "user.color")?;
    assert_eq!(errno(getxattr(&f, "user.color")), libc::ENODATA);
    assert_eq!(errno(removexattr(&f, "user.color")), libc::ENODATA);
    eprintln!("phase 1: setxattr, getxattr, listxattr, removexattr");

    // Phase 2: statfs reports the cluster's capacity.
    let out = m.ok("stat -f -c '%b %S %l' .")?;
    let fields: Vec<u64> = out
        .split_whitespace()
        .map(|s| s.parse().unwrap_or(0))
        .collect();
    assert!(fields[0] > 0, "capacity in blocks: {out}");
    assert_eq!(fields[1], 4096);
    assert_eq!(fields[2], 255);
    eprintln!("phase 2: statfs");

    // Phase 3: a read-only mount of the same cluster refuses changes with EROFS.
    m.unmount()?;
    drop(m);
    let ro = Mounted::start(MountOptions {
        read_only: true,
        ..MountOptions::default()
    })?;
    assert_eq!(errno(std::fs::write(ro.path("nope"), b"")), libc::EROFS);
    assert_eq!(errno(std::fs::create_dir(ro.path("nope"))), libc::EROFS);
    eprintln!("phase 3: read-only mount");
    Ok(())
}

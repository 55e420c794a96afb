//! Namespace commands: mkdir, ls, stat, cat, rm, mv, ln, truncate, chmod, chown.

use super::{absolute, basename, caller_ids, join, OpContext};
use crate::args::{
    ChmodArgs, ChownArgs, LnArgs, LsArgs, MkdirArgs, MvArgs, PathArg, PathsArg, RmArgs,
    TruncateArgs,
};
use crate::client_config::connect;
use crate::output::{format_time, mode_string, parse_mode, show_name};
use anyhow::{anyhow, bail, Result};
use ferrofs_client::{
    Client, ClientError, DirEntryPlus, FileAttr, FileKind, FsError, InodeId, RenameFlags, SetAttr,
};
use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::pin::Pin;

/// Directory entries fetched per request when listing or removing.
const PAGE: u32 = 1000;
const DIR_MODE: u32 = 0o755;
const FILE_MODE: u32 = 0o644;

pub async fn mkdir(config: Option<PathBuf>, args: MkdirArgs) -> Result<()> {
    let client = connect(config).await?;
    let (uid, gid) = caller_ids();
    for p in &args.paths {
        let path = absolute(p);
        let what = || format!("mkdir {path}");
        if args.parents {
            mkdir_parents(&client, &path, uid, gid).await.op(what)?;
        } else {
            let (parent, name) = client.resolve_parent(&path).await.op(what)?;
            client
                .mkdir(parent.ino, name, DIR_MODE, uid, gid)
                .await
                .op(what)?;
        }
    }
    Ok(())
}

/// `mkdir -p`: create every missing component; existing directories are fine, and a
/// concurrent creator winning the race is too.
async fn mkdir_parents(
    client: &Client,
    path: &str,
    uid: u32,
    gid: u32,
) -> Result<FileAttr, ClientError> {
    let mut cur = client.getattr(InodeId::ROOT).await?;
    let mut prefix = String::new();
    for name in ferrofs_client::split_path(path)? {
        prefix.push('/');
        prefix.push_str(&String::from_utf8_lossy(name));
        if name == b"." || name == b".." {
            cur = client.resolve_follow(&prefix).await?;
            continue;
        }
        let next = match client.lookup(cur.ino, name).await {
            Ok(a) => a,
            Err(e) if e.fs() == Some(&FsError::NotFound) => match client
                .mkdir(cur.ino, name, DIR_MODE, uid, gid)
                .await
            {
                Ok(a) => a,
                Err(e) if e.fs() == Some(&FsError::Exists) => client.lookup(cur.ino, name).await?,
                Err(e) => return Err(e),
            },
            Err(e) => return Err(e),
        };
        cur = if next.kind == FileKind::Symlink {
            client.resolve_follow(&prefix).await?
        } else {
            next
        };
        if cur.kind != FileKind::Dir {
            return Err(ClientError::Fs {
                op: "mkdir",
                err: FsError::NotDir,
            });
        }
    }
    Ok(cur)
}

pub async fn ls(config: Option<PathBuf>, args: LsArgs) -> Result<()> {
    let client = connect(config).await?;
    let path = absolute(&args.path);
    let what = || format!("ls {path}");
    let attr = client.resolve_follow(&path).await.op(what)?;
    let mut out = std::io::stdout().lock();
    if attr.kind != FileKind::Dir {
        let entry = DirEntryPlus {
            name: path.as_bytes().to_vec(),
            attr,
        };
        let line = ls_line(&client, &entry, args.long).await.op(what)?;
        writeln!(out, "{line}")?;
        return Ok(());
    }
    let mut after: Option<Vec<u8>> = None;
    loop {
        let (entries, done) = client
            .readdir(attr.ino, after.clone(), PAGE)
            .await
            .op(what)?;
        for e in &entries {
            let line = ls_line(&client, e, args.long).await.op(what)?;
            writeln!(out, "{line}")?;
        }
        out.flush()?;
        match entries.last() {
            Some(last) if !done => after = Some(last.name.clone()),
            _ => return Ok(()),
        }
    }
}

async fn ls_line(client: &Client, e: &DirEntryPlus, long: bool) -> Result<String, ClientError> {
    let name = show_name(&e.name);
    if !long {
        return Ok(name);
    }
    let a = &e.attr;
    let mut line = format!(
        "{} {:>3} {:>5} {:>5} {:>12} {} {name}",
        mode_string(a.kind, a.mode),
        a.nlink,
        a.uid,
        a.gid,
        a.size,
        format_time(a.mtime)
    );
    if a.kind == FileKind::Symlink {
        let target = client.readlink(a.ino).await?;
        line.push_str(" -> ");
        line.push_str(&show_name(&target));
    }
    Ok(line)
}

pub async fn stat(config: Option<PathBuf>, args: PathArg) -> Result<()> {
    let client = connect(config).await?;
    let path = absolute(&args.path);
    let what = || format!("stat {path}");
    let a = client.resolve(&path).await.op(what)?;
    let target = if a.kind == FileKind::Symlink {
        Some(client.readlink(a.ino).await.op(what)?)
    } else {
        None
    };
    print!("{}", stat_text(&path, &a, target.as_deref()));
    Ok(())
}

fn kind_name(k: FileKind) -> &'static str {
    match k {
        FileKind::File => "regular file",
        FileKind::Dir => "directory",
        FileKind::Symlink => "symbolic link",
        FileKind::Fifo => "fifo",
    }
}

/// `stat`-like text for one entry.
pub fn stat_text(path: &str, a: &FileAttr, target: Option<&[u8]>) -> String {
    let file = match target {
        Some(t) => format!("{path} -> {}", show_name(t)),
        None => path.to_string(),
    };
    format!(
        "  File: {file}\n  Type: {}\n  Size: {}\n Inode: {}  Links: {}  Generation: {}\nAccess: ({:04o}/{})  Uid: {}  Gid: {}\nAccess: {}\nModify: {}\nChange: {}\n",
        kind_name(a.kind),
        a.size,
        a.ino,
        a.nlink,
        a.generation,
        a.mode & 0o7777,
        mode_string(a.kind, a.mode),
        a.uid,
        a.gid,
        format_time(a.atime),
        format_time(a.mtime),
        format_time(a.ctime),
    )
}

pub async fn cat(config: Option<PathBuf>, args: PathsArg) -> Result<()> {
    let client = connect(config).await?;
    for p in &args.paths {
        let path = absolute(p);
        let what = || format!("cat {path}");
        let a = client.resolve_follow(&path).await.op(what)?;
        if a.kind == FileKind::Dir {
            bail!("cat {path}: is a directory");
        }
        let mut stdout = tokio::io::stdout();
        client
            .read_file_to(a.ino, &mut stdout, &|_| {})
            .await
            .op(what)?;
        tokio::io::AsyncWriteExt::flush(&mut stdout).await?;
    }
    Ok(())
}

pub async fn rm(config: Option<PathBuf>, args: RmArgs) -> Result<()> {
    let client = connect(config).await?;
    for p in &args.paths {
        let path = absolute(p);
        let what = || format!("rm {path}");
        let (parent, name) = client.resolve_parent(&path).await.op(what)?;
        let attr = client.lookup(parent.ino, name).await.op(what)?;
        if attr.kind == FileKind::Dir {
            if !args.recursive {
                bail!("rm {path}: is a directory (use -r)");
            }
            remove_tree(&client, attr.ino).await.op(what)?;
            client.rmdir(parent.ino, name).await.op(what)?;
        } else {
            client.unlink(parent.ino, name).await.op(what)?;
        }
    }
    Ok(())
}

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Remove everything inside directory `dir`, a page at a time (memory stays bounded
/// however big the directory is).
fn remove_tree(client: &Client, dir: InodeId) -> BoxFut<'_, Result<(), ClientError>> {
    Box::pin(async move {
        loop {
            let (entries, _done) = client.readdir(dir, None, PAGE).await?;
            if entries.is_empty() {
                return Ok(());
            }
            for e in entries {
                if e.attr.kind == FileKind::Dir {
                    remove_tree(client, e.attr.ino).await?;
                    client.rmdir(dir, &e.name).await?;
                } else {
                    client.unlink(dir, &e.name).await?;
                }
            }
        }
    })
}

/// Where a new entry goes: inside `dst` under `src_name` if `dst` is an existing
/// directory (as mv, ln and put do), else at `dst` itself.
async fn target_path(client: &Client, dst: &str, src_name: &str) -> Result<String, ClientError> {
    match client.resolve_follow(dst).await {
        Ok(a) if a.kind == FileKind::Dir => Ok(join(dst, src_name)),
        Ok(_) => Ok(dst.to_string()),
        Err(e) if e.fs() == Some(&FsError::NotFound) => Ok(dst.to_string()),
        Err(e) => Err(e),
    }
}

pub async fn mv(config: Option<PathBuf>, args: MvArgs) -> Result<()> {
    let client = connect(config).await?;
    let (src, dst) = (absolute(&args.src), absolute(&args.dst));
    let what = || format!("mv {src} {dst}");
    let dst = target_path(&client, &dst, basename(&src)).await.op(what)?;
    let (sp, sname) = client.resolve_parent(&src).await.op(what)?;
    let (dp, dname) = client.resolve_parent(&dst).await.op(what)?;
    client
        .rename(sp.ino, sname, dp.ino, dname, RenameFlags::default())
        .await
        .op(what)
}

pub async fn ln(config: Option<PathBuf>, args: LnArgs) -> Result<()> {
    let client = connect(config).await?;
    let link = absolute(&args.link);
    let what = || format!("ln {} {link}", args.target);
    let link = target_path(&client, &link, basename(&args.target))
        .await
        .op(what)?;
    let (parent, name) = client.resolve_parent(&link).await.op(what)?;
    if args.symbolic {
        let (uid, gid) = caller_ids();
        client
            .symlink(parent.ino, name, args.target.as_bytes(), uid, gid)
            .await
            .op(what)?;
    } else {
        let target = client.resolve(&absolute(&args.target)).await.op(what)?;
        if target.kind == FileKind::Dir {
            return Err(anyhow!(
                "ln {} {link}: hard links to directories are not allowed",
                args.target
            ));
        }
        client.link(target.ino, parent.ino, name).await.op(what)?;
    }
    Ok(())
}

pub async fn truncate(config: Option<PathBuf>, args: TruncateArgs) -> Result<()> {
    let client = connect(config).await?;
    let path = absolute(&args.path);
    let what = || format!("truncate {path}");
    let attr = match client.resolve_follow(&path).await {
        Ok(a) => a,
        Err(e) if e.fs() == Some(&FsError::NotFound) => {
            let (parent, name) = client.resolve_parent(&path).await.op(what)?;
            let (uid, gid) = caller_ids();
            client
                .create(parent.ino, name, FileKind::File, FILE_MODE, uid, gid, false)
                .await
                .op(what)?
        }
        Err(e) => return Err(e).op(what),
    };
    if attr.kind == FileKind::Dir {
        bail!("truncate {path}: is a directory");
    }
    client.truncate(attr.ino, args.size.0).await.op(what)?;
    Ok(())
}

pub async fn chmod(config: Option<PathBuf>, args: ChmodArgs) -> Result<()> {
    let mode = parse_mode(&args.mode).map_err(|e| anyhow!("chmod: {e}"))?;
    let client = connect(config).await?;
    let path = absolute(&args.path);
    let what = || format!("chmod {path}");
    let attr = client.resolve_follow(&path).await.op(what)?;
    let change = SetAttr {
        mode: Some(mode),
        ..SetAttr::default()
    };
    client.setattr(attr.ino, change).await.op(what)?;
    Ok(())
}

pub async fn chown(config: Option<PathBuf>, args: ChownArgs) -> Result<()> {
    let (uid, gid) = parse_owner(&args.owner)?;
    let client = connect(config).await?;
    let path = absolute(&args.path);
    let what = || format!("chown {path}");
    let attr = client.resolve_follow(&path).await.op(what)?;
    let change = SetAttr {
        uid,
        gid,
        ..SetAttr::default()
    };
    client.setattr(attr.ino, change).await.op(what)?;
    Ok(())
}

/// `UID[:GID]`, `:GID` or `UID:`; each part a number or a local user/group name.
pub fn parse_owner(text: &str) -> Result<(Option<u32>, Option<u32>)> {
    let (user, group) = match text.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (text, None),
    };
    let uid = if user.is_empty() {
        None
    } else {
        Some(lookup_user(user)?)
    };
    let gid = match group {
        Some(g) if !g.is_empty() => Some(lookup_group(g)?),
        _ => None,
    };
    if uid.is_none() && gid.is_none() {
        bail!("chown: {text:?} names neither a user nor a group");
    }
    Ok((uid, gid))
}

fn lookup_user(name: &str) -> Result<u32> {
    if let Ok(n) = name.parse::<u32>() {
        return Ok(n);
    }
    match nix::unistd::User::from_name(name) {
        Ok(Some(u)) => Ok(u.uid.as_raw()),
        Ok(None) => bail!("chown: no user named {name:?}"),
        Err(e) => bail!("chown: looking up user {name:?}: {e}"),
    }
}

fn lookup_group(name: &str) -> Result<u32> {
    if let Ok(n) = name.parse::<u32>() {
        return Ok(n);
    }
    match nix::unistd::Group::from_name(name) {
        Ok(Some(g)) => Ok(g.gid.as_raw()),
        Ok(None) => bail!("chown: no group named {name:?}"),
        Err(e) => bail!("chown: looking up group {name:?}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrofs_client::Timestamp;

    #[test]
    fn owners_parse_numbers_names_and_halves() {
        assert_eq!(parse_owner("1000").expect("uid"), (Some(1000), None));
        assert_eq!(
            parse_owner("1000:50").expect("both"),
            (Some(1000), Some(50))
        );
        assert_eq!(parse_owner(":50").expect("gid"), (None, Some(50)));
        assert_eq!(parse_owner("7:").expect("uid only"), (Some(7), None));
        assert_eq!(parse_owner("root:root").expect("names"), (Some(0), Some(0)));
        assert!(parse_owner(":").is_err());
        assert!(parse_owner("no-such-user-xyz").is_err());
    }

    #[test]
    fn stat_shows_mode_and_target() {
        let a = FileAttr {
            ino: InodeId(9),
            kind: FileKind::Symlink,
            mode: 0o777,
            uid: 1,
            gid: 2,
            size: 3,
            nlink: 1,
            atime: Timestamp(0),
            mtime: Timestamp(0),
            ctime: Timestamp(0),
            generation: 0,
            has_xattrs: false,
        };
        let text = stat_text("/l", &a, Some(b"/t"));
        assert!(text.contains("File: /l -> /t"), "{text}");
        assert!(text.contains("(0777/lrwxrwxrwx)"), "{text}");
        assert!(text.contains("Inode: 9"), "{text}");
    }
}

//! The mount comes up, files written through it are read back, and it goes away.

mod common;

use common::Mounted;
use ferrofs_fuse::MountOptions;

#[test]
fn mount_write_read_unmount() -> anyhow::Result<()> {
    let mut m = Mounted::start(MountOptions::default())?;
    std::fs::write(m.path("hello.txt"), b"hello ferrofs")?;
    assert_eq!(std::fs::read(m.path("hello.txt"))?, b"hello ferrofs");
    let listed: Vec<String> = std::fs::read_dir(m.root())?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    assert_eq!(listed, vec!["hello.txt".to_string()]);
    let mp = m.root().to_path_buf();
    m.unmount()?;
    assert!(!common::is_mount_point(&mp));
    Ok(())
}

//! Fuzzes path resolution: any request target, against a small root that has a file, a
//! subdirectory, a symlink inside and symlinks pointing out, next to a secret outside it.
//!
//! Property: whatever the target, `resolve` either refuses it or opens a file beneath the
//! root, named by a plain relative path; the secret is never what it opens.
#![no_main]

use std::os::unix::fs::MetadataExt;
use std::path::Component;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mio_selectors::http::{resolve, Resolved, Root};

struct Tree {
    root: Root,
    /// The secret's device and inode.
    secret: (u64, u64),
}

fn tree() -> &'static Tree {
    static TREE: OnceLock<Tree> = OnceLock::new();
    TREE.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("fuzz-resolve-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(base.join("secret"), b"SECRET").unwrap();
        std::fs::write(root.join("a.txt"), b"a").unwrap();
        std::fs::write(root.join("sub/index.html"), b"index").unwrap();
        std::os::unix::fs::symlink("a.txt", root.join("in")).unwrap();
        std::os::unix::fs::symlink(base.join("secret"), root.join("out")).unwrap();
        std::os::unix::fs::symlink(&base, root.join("up")).unwrap();
        let secret = std::fs::metadata(base.join("secret")).unwrap();
        Tree {
            root: Root::open(&root).unwrap(),
            secret: (secret.dev(), secret.ino()),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(target) = std::str::from_utf8(data) else {
        return; // httparse hands the server only UTF-8 targets
    };
    let tree = tree();
    if let Ok(Resolved::File { relative, stat, .. }) = resolve(&tree.root, target) {
        assert!(
            relative.components().all(|c| matches!(c, Component::Normal(_))),
            "{target:?} -> {relative:?}"
        );
        assert_ne!((stat.dev, stat.ino), tree.secret, "{target:?} reached the secret");
    }
});

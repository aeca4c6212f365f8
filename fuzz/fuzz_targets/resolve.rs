//! Fuzzes path resolution: any request target, against a small root that has a file, a
//! subdirectory, a symlink inside and symlinks pointing out, next to a secret outside it.
//!
//! Property: whatever the target, `resolve` either refuses it or names a file under the
//! root; the secret is never what it opens.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mio_selectors::http::{resolve, Resolved};

struct Tree {
    root: PathBuf,
    secret: PathBuf,
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
        std::os::unix::fs::symlink(root.join("a.txt"), root.join("in")).unwrap();
        std::os::unix::fs::symlink(base.join("secret"), root.join("out")).unwrap();
        std::os::unix::fs::symlink(&base, root.join("up")).unwrap();
        Tree {
            root: std::fs::canonicalize(&root).unwrap(),
            secret: std::fs::canonicalize(base.join("secret")).unwrap(),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(target) = std::str::from_utf8(data) else {
        return; // httparse hands the server only UTF-8 targets
    };
    let tree = tree();
    if let Ok(Resolved::File { path, .. }) = resolve(&tree.root, target) {
        assert!(path.starts_with(&tree.root), "{target:?} -> {path:?}");
        assert_ne!(path, tree.secret, "{target:?} reached the secret");
    }
});

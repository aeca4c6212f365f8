#!/usr/bin/env python3
"""Checks that the declared minimum Rust version is true of the lockfile: every crate
Cargo.lock pins, for any target, declares a `rust-version` no newer than ours.

    python3 scripts/check-msrv.py          # exit 1, naming each crate that needs more

Why: Cargo.toml once declared 1.74 while the lockfile pinned clap 4.6 (Rust 1.85), so the
examples and tests could not build on 1.74. The lockfile is what a fresh clone builds.
.cargo/config.toml makes `cargo update` pick compatible versions; this catches the rest
(a dependency added with `--ignore-rust-version`, a hand-edited lockfile).

What it does not check: our own code's use of newer language features. Clippy's
`incompatible_msrv` lint (on in CI) catches standard-library APIs newer than
`rust-version`; building with that toolchain (`cargo +1.74 test`) would catch the rest,
where it can be installed.
"""
import json
import subprocess
import sys


def version(text):
    return tuple(int(part) for part in text.split("."))


def main():
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked"],
        check=True, capture_output=True, text=True).stdout)
    ours = next(p for p in meta["packages"] if p["id"] in meta["workspace_members"])
    declared = ours.get("rust_version")
    if not declared:
        sys.exit(f"{ours['name']}: no rust-version declared in Cargo.toml")
    locked = {node["id"] for node in meta["resolve"]["nodes"]}
    newer = sorted(
        (p["name"], p["version"], p["rust_version"])
        for p in meta["packages"]
        if p["id"] in locked and p.get("rust_version")
        and version(p["rust_version"]) > version(declared))
    for name, ver, needs in newer:
        print(f"{name} {ver} needs Rust {needs}; {ours['name']} declares {declared}")
    if newer:
        print("fix: `cargo update -p NAME` (the MSRV-aware resolver picks an older one), "
              "or raise rust-version in Cargo.toml")
        return 1
    print(f"every locked crate builds on Rust {declared} (rust-version of {len(locked)} "
          "crates checked)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

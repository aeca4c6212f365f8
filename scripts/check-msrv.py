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
`rust-version`; building with that toolchain (`cargo +1.85 test`) would catch the rest,
where it can be installed.
"""
import json
import subprocess
import sys


def version(text):
    """`1.85` and `1.85.0` alike, as a tuple of three numbers."""
    parts = [int(part) for part in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def main():
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked"],
        check=True, capture_output=True, text=True).stdout)
    ours = next(p for p in meta["packages"] if p["id"] in meta["workspace_members"])
    declared = ours.get("rust_version")
    if not declared:
        sys.exit(f"{ours['name']}: no rust-version declared in Cargo.toml")
    locked = {node["id"] for node in meta["resolve"]["nodes"]}
    # A crate that declares no rust-version still needs the Rust its edition needs
    # (bcrypt 0.19 declares none, and is edition 2024: Rust 1.85).
    edition_needs = {"2015": "1.0", "2018": "1.31", "2021": "1.56", "2024": "1.85"}
    newer = sorted(
        (p["name"], p["version"], needs)
        for p in meta["packages"]
        if p["id"] in locked
        for needs in [p.get("rust_version") or edition_needs.get(p.get("edition"), "1.0")]
        if version(needs) > version(declared))
    for name, ver, needs in newer:
        print(f"{name} {ver} needs Rust {needs}; {ours['name']} declares {declared}")
    if newer:
        print("fix: `cargo update -p NAME` (the MSRV-aware resolver picks an older one), "
              "or raise rust-version in Cargo.toml")
        return 1
    print(f"every locked crate builds on Rust {declared} (rust-version or edition of "
          f"{len(locked)} crates checked)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

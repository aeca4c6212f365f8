//! The documents cannot drift from what they describe: every excerpt in docs/echo.md is
//! still in the file it names, every link works both in rustdoc and on a repository page or
//! in an editor, no text points at something the reader cannot see, every command block
//! ends by itself, and Cargo.toml's metadata is true.
//!
//! After changing code that docs/echo.md quotes, `cargo test --test docs` names each
//! excerpt that no longer matches, with the lines it could not find.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: impl AsRef<Path>) -> String {
    let path = root().join(path);
    fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// docs/*.md and the README: every document a reader opens.
fn documents() -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = fs::read_dir(root().join("docs"))
        .expect("docs/")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .map(|path| path.strip_prefix(root()).unwrap().to_path_buf())
        .collect();
    docs.push("README.md".into());
    docs.push("docs/python/README.md".into());
    docs.sort();
    docs
}

/// A fenced code block: its info string (`python`, `rust,ignore`), the line before the
/// fence, its first line number (1-based) and its lines.
struct Block {
    info: String,
    before: String,
    line: usize,
    body: Vec<String>,
}

fn blocks(text: &str) -> Vec<Block> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let trimmed = lines[i].trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            let indent = lines[i].len() - trimmed.len();
            let start = i;
            let mut body = Vec::new();
            i += 1;
            while i < lines.len() && !lines[i].trim_start().starts_with("```") {
                body.push(
                    lines[i]
                        .get(indent..)
                        .unwrap_or(lines[i].trim_start())
                        .to_string(),
                );
                i += 1;
            }
            found.push(Block {
                info: info.trim().to_string(),
                before: start
                    .checked_sub(1)
                    .map_or("", |b| lines[b])
                    .trim()
                    .to_string(),
                line: start + 1,
                body,
            });
        }
        i += 1;
    }
    found
}

/// A line that stands for lines left out of an excerpt: `# ...` or `// ...`, perhaps
/// followed by what was left out (`# ... unregister, close, try the next address`).
fn is_elision(line: &str) -> bool {
    let line = line.trim();
    line.starts_with("# ...") || line.starts_with("// ...")
}

/// The excerpt's runs of consecutive lines (split at elisions), trimmed, without blank
/// lines; `None` if each run is found, in order, as consecutive lines of `source`, or else
/// the first run that is not.
fn first_missing_run(excerpt: &[String], source: &str) -> Option<Vec<String>> {
    let source: Vec<&str> = source
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut from = 0;
    for run in excerpt.split(|line| is_elision(line)) {
        let run: Vec<&str> = run
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty())
            .collect();
        if run.is_empty() {
            continue;
        }
        // Excerpts quote fragments in the order of the file, but a page may also quote an
        // earlier part again: search after the previous run first, then anywhere.
        let at = |start: usize| {
            (start..=source.len().saturating_sub(run.len()))
                .find(|&i| source[i..i + run.len()] == run[..])
        };
        match at(from).or_else(|| at(0)) {
            Some(i) => from = i + run.len(),
            None => return Some(run.iter().map(|l| l.to_string()).collect()),
        }
    }
    None
}

/// docs/echo.md says "every excerpt is copied from the file it names": each Python and
/// Rust fragment is marked with `<!-- excerpt: PATH -->` on the line before its fence, and
/// must still be in that file (indentation and blank lines aside).
#[test]
fn echo_md_excerpts_are_still_in_the_files_they_name() {
    let page = "docs/echo.md";
    let mut problems = Vec::new();
    let mut checked = 0;
    for block in blocks(&read(page)) {
        if block.info != "python" && block.info != "rust,ignore" {
            continue; // `rust` blocks are whole programs, run as doctests
        }
        if block.before.starts_with("<!-- quoted: ") {
            continue; // quoted from elsewhere, and says so
        }
        let Some(path) = block
            .before
            .strip_prefix("<!-- excerpt: ")
            .and_then(|rest| rest.strip_suffix(" -->"))
        else {
            problems.push(format!(
                "{page}:{}: a {} block without `<!-- excerpt: PATH -->` (or `<!-- quoted: WHERE -->`) on the line before it",
                block.line, block.info
            ));
            continue;
        };
        let Ok(source) = fs::read_to_string(root().join(path)) else {
            problems.push(format!(
                "{page}:{}: names {path}, which does not exist",
                block.line
            ));
            continue;
        };
        checked += 1;
        if let Some(run) = first_missing_run(&block.body, &source) {
            problems.push(format!(
                "{page}:{}: not in {path} (copy it again from the source):\n    {}",
                block.line,
                run.join("\n    ")
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n\n"));
    assert!(
        checked >= 20,
        "only {checked} excerpts found: is the marker format right?"
    );
}

/// The checker itself: a changed line is caught, an elision is not a change.
#[test]
fn the_excerpt_check_catches_a_changed_line() {
    let source = "fn f() {\n    let a = 1;\n    let b = 2;\n    let c = 3;\n}\n";
    let excerpt = |text: &str| text.lines().map(String::from).collect::<Vec<_>>();
    assert_eq!(
        first_missing_run(&excerpt("let a = 1;\n// ...\nlet c = 3;"), source),
        None
    );
    assert_eq!(
        first_missing_run(&excerpt("let a = 1;\nlet c = 3;"), source),
        Some(vec!["let a = 1;".to_string(), "let c = 3;".to_string()])
    );
}

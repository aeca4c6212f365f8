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

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every link target in a document that is not a URL: `](target)` and `[label]: target`.
fn relative_links(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        if in_code {
            continue;
        }
        // Code spans are text, not links: drop them (every other piece is outside one).
        let prose: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = prose.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            targets.push(
                after[..end]
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_string(),
            );
            rest = &after[end..];
        }
        // A definition, `[label]: target`, not a reference link followed by a colon.
        if let Some((label, target)) = line.strip_prefix('[').and_then(|l| l.split_once("]: ")) {
            if !label.contains(['[', ']']) {
                targets.push(target.split_whitespace().next().unwrap_or("").to_string());
            }
        }
    }
    targets.retain(|t| !t.is_empty() && !t.contains("://") && !t.starts_with("mailto:"));
    targets
}

/// One link style for every document, that works both in rustdoc and as files: links to
/// the crate are reference links whose definitions name a file (scripts/doc-links.py keeps
/// them and their rustdoc twins in docs/rustdoc-links/ in step; `cargo doc -D warnings`
/// checks the items), and every file link, with its `#anchor`, leads somewhere.
#[test]
fn every_link_works_in_rustdoc_and_on_a_repository_page() {
    let out = Command::new("python3")
        .arg(root().join("scripts/doc-links.py"))
        .arg("--check")
        .output()
        .expect("run python3 scripts/doc-links.py --check");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut problems = Vec::new();
    for doc in documents() {
        let text = read(&doc);
        let dir = doc.parent().unwrap_or(Path::new(""));
        for target in relative_links(&text) {
            if target.starts_with("crate::") || target.starts_with("mio_selectors::") {
                problems.push(format!(
                    "{}: ({target}) is a dead link outside rustdoc: write it as [text][{}] and run scripts/doc-links.py",
                    doc.display(),
                    target.trim_start_matches("crate::")
                ));
                continue;
            }
            let (file, fragment) = target.split_once('#').unwrap_or((&target, ""));
            let path = if file.is_empty() {
                doc.clone()
            } else {
                dir.join(file)
            };
            let Ok(linked) = fs::read_to_string(root().join(&path)) else {
                problems.push(format!("{}: ({target}): no such file", doc.display()));
                continue;
            };
            let headings: Vec<String> = linked
                .lines()
                .filter_map(|l| l.strip_prefix('#'))
                .map(|l| anchor(l.trim_start_matches('#')))
                .collect();
            if !fragment.is_empty() && !headings.iter().any(|h| h == fragment) {
                problems.push(format!("{}: ({target}): no such heading", doc.display()));
            }
        }
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

/// Text a reader cannot follow: the issue tracker and the research notes are not part of
/// the repository, so the documents (and the programs' output) say what they mean instead.
#[test]
fn no_text_points_at_what_a_reader_cannot_see() {
    let phrases = [
        "from the issue",
        "the issue says",
        "in the issue",
        "goals of the issue",
        "research notes",
        "reference §",
        "(reference",
    ];
    let mut files = documents();
    for dir in ["examples", "src", "src/echo", "scripts"] {
        for entry in fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                files.push(path.strip_prefix(root()).unwrap().to_path_buf());
            }
        }
    }
    let mut problems = Vec::new();
    for file in files {
        let text = fs::read_to_string(root().join(&file)).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            let lower = line.to_lowercase();
            for phrase in phrases {
                if lower.contains(phrase) {
                    problems.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

/// A reader pastes a command block and expects it to finish: a block that starts a
/// process in the background (`cmd &`) must also end it (`kill`) before it ends.
#[test]
fn every_command_block_ends_by_itself() {
    let mut problems = Vec::new();
    for doc in documents() {
        for block in blocks(&read(&doc)) {
            if !matches!(block.info.as_str(), "sh" | "bash" | "console" | "shell") {
                continue;
            }
            let backgrounds = block.body.iter().any(|line| {
                let code = line.split(" #").next().unwrap_or("").trim_end();
                code.ends_with(" &") || code.contains(" & ")
            });
            let kills = block.body.iter().any(|line| line.contains("kill "));
            if backgrounds && !kills {
                problems.push(format!(
                    "{}:{}: starts a process in the background and leaves it running",
                    doc.display(),
                    block.line
                ));
            }
        }
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

/// Cargo.toml says only what is true now: no placeholder URLs, and no HTTP server promised
/// before there is one (src/http.rs or src/http/).
#[test]
fn cargo_toml_metadata_is_true() {
    let manifest = read("Cargo.toml");
    let field = |name: &str| {
        manifest
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name} = ")))
            .map(|value| value.trim_matches('"').to_string())
    };
    for url in ["repository", "homepage", "documentation"] {
        if let Some(value) = field(url) {
            for placeholder in ["example.invalid", "example.com", "example.org", "TODO"] {
                assert!(
                    !value.contains(placeholder),
                    "{url} = {value:?} is not a real URL"
                );
            }
        }
    }
    let description = field("description").expect("a description");
    let has_http = root().join("src/http.rs").exists() || root().join("src/http").exists();
    if description.to_lowercase().contains("http") {
        assert!(
            has_http,
            "the description promises HTTP, but src/ has no http module: {description:?}"
        );
    }
}

/// The paths the Python twins and the examples name in their headers (`Rust version:
/// examples/chat_server.rs (... src/chat/)`, `read it next to src/echo/multiplexed.rs`)
/// exist: `src/chat.rs` became a folder once, and two docstrings went on naming the file.
#[test]
fn every_path_the_programs_name_exists() {
    let mut files = Vec::new();
    for dir in ["docs/python", "examples"] {
        for entry in fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path
                .extension()
                .is_some_and(|ext| ext == "py" || ext == "rs")
            {
                files.push(path);
            }
        }
    }
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for word in line.split(|c: char| c.is_whitespace() || "()`'\",;:".contains(c)) {
                let word = word.trim_end_matches('.');
                let named = ["src/", "examples/", "docs/", "tests/", "scripts/", "site/"]
                    .iter()
                    .any(|dir| word.starts_with(dir));
                // A glob or a placeholder (`docs/*.md`, `src/<module>`) names no one file.
                if !named || word.contains(['*', '<', '{']) {
                    continue;
                }
                checked += 1;
                if !root().join(word).exists() {
                    problems.push(format!(
                        "{}:{}: {word} does not exist",
                        file.strip_prefix(root()).unwrap().display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(
        checked > 20,
        "only {checked} paths found: is the scan broken?"
    );
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

#!/usr/bin/env python3
"""One link style for docs/*.md that works in rustdoc, on a repository page and in an editor.

    python3 scripts/doc-links.py           # convert and regenerate (safe to re-run)
    python3 scripts/doc-links.py --check   # exit 1 if anything would change (tests/docs.rs)

The documents in docs/ are read in two places: as files (a repository page, an editor),
where a link must name a file, and in rustdoc (src/guide.rs includes them), where it must
name an item (`crate::echo::EchoServer`). So every link to the crate is a reference link,
`[text][echo::EchoServer]`, and each document ends with its definitions, which name the
file that defines the item and, as the link title, the item itself:

    [echo::EchoServer]: ../src/echo/multiplexed.rs "crate::echo::EchoServer"

GitHub and editors follow the file. For rustdoc, src/guide.rs includes
docs/rustdoc-links/NAME.md *before* docs/NAME.md: it defines the same labels as
`[echo::EchoServer]: crate::echo::EchoServer`, and Markdown uses the first definition of
a label. `RUSTDOCFLAGS="-D warnings" cargo doc` then fails on an item that does not exist.

This script keeps the two in step. Write links however is convenient: an inline
`[text](crate::path)` link (rustdoc's usual style) is converted to a reference link, its
file is found (the module's file, or the file under src/ that defines the item), and both
definition blocks are rewritten.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
SRC = os.path.join(ROOT, "src")
RUSTDOC_LINKS = os.path.join(DOCS, "rustdoc-links")
BLOCK_START = ("<!-- Link targets (scripts/doc-links.py): a file for repository pages and "
               "editors; rustdoc uses the item in quotes. -->")
INLINE = re.compile(r"\]\(crate::([A-Za-z0-9_:]+)\)")
DEFINITION = re.compile(r'^\[([^\]]+)\]: (\S+) "crate::([A-Za-z0-9_:]+)"$')
ITEM_KINDS = r"(?:struct|enum|trait|fn|type|const|static|union|mod)"


def rust_files():
    for folder, _dirs, files in os.walk(SRC):
        for name in sorted(files):
            if name.endswith(".rs"):
                yield os.path.join(folder, name)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def defines(path, name):
    """Whether the file defines a public item, a variant or a field called `name`."""
    text = read(path)
    return re.search(rf"^\s*pub(?:\([^)]*\))?\s+(?:unsafe\s+|const\s+)*{ITEM_KINDS}\s+{name}\b",
                     text, re.M) is not None


def file_of(path):
    """The repository file (relative to ROOT) that holds `crate::path`."""
    segments = path.split("::")
    if segments[0] == "guide" and len(segments) == 2:  # the guide's pages are these files
        return f"docs/{segments[1].replace('_', '-')}.md"
    module_file, module_dir = os.path.join(SRC, "lib.rs"), SRC
    while segments:
        as_file = os.path.join(module_dir, segments[0] + ".rs")
        as_dir = os.path.join(module_dir, segments[0], "mod.rs")
        if os.path.exists(as_file):
            module_file, module_dir = as_file, os.path.join(module_dir, segments[0])
        elif os.path.exists(as_dir):
            module_file, module_dir = as_dir, os.path.join(module_dir, segments[0])
        else:
            break
        segments = segments[1:]
    if segments:
        # An item: the module's own file if it defines it, else the file under the module
        # that does (a re-export: `crate::Selector` is defined in src/selector.rs).
        candidates = [module_file] + [p for p in rust_files()
                                      if p.startswith(module_dir + os.sep) or module_dir == SRC]
        found = next((p for p in candidates if defines(p, segments[0])), None)
        if found is None:
            sys.exit(f"doc-links: no file under src/ defines {segments[0]} (crate::{path})")
        module_file = found
    return os.path.relpath(module_file, ROOT)


def split_block(text):
    """The document without its definitions block, and the definitions in it."""
    head, _, block = text.partition("\n" + BLOCK_START + "\n")
    definitions = {}
    for line in block.splitlines():
        match = DEFINITION.match(line.strip())
        if match:
            definitions[match.group(1)] = match.group(3)
    return head.rstrip("\n") + "\n", definitions


def render(name, text):
    """The document with inline crate links converted, and its rustdoc definitions."""
    body, definitions = split_block(text)
    for path in INLINE.findall(body):
        definitions[path] = path
    body = INLINE.sub(lambda m: f"][{m.group(1)}]", body)
    used = set(re.findall(r"\]\[([A-Za-z0-9_:]+)\]", body))
    definitions = {label: path for label, path in definitions.items() if label in used}
    missing = used - set(definitions) - set(re.findall(r"^\[([^\]]+)\]:", body, re.M))
    if missing:
        sys.exit(f"doc-links: docs/{name}: no target for [{'], ['.join(sorted(missing))}]")
    lower = {}
    for label in definitions:  # Markdown matches labels without regard to case
        if lower.setdefault(label.lower(), label) != label:
            sys.exit(f"doc-links: docs/{name}: [{label}] and [{lower[label.lower()]}] clash")
    if not definitions:
        return body, None
    lines = [f'[{label}]: {os.path.relpath(os.path.join(ROOT, file_of(path)), DOCS)} '
             f'"crate::{path}"' for label, path in sorted(definitions.items())]
    rustdoc = [f"[{label}]: crate::{path}" for label, path in sorted(definitions.items())]
    document = body + "\n" + BLOCK_START + "\n\n" + "\n".join(lines) + "\n"
    # Definitions only: rustdoc takes a module's summary from the first block of its docs,
    # and a comment here would become that block. (Generated: see the top of this script.)
    return document, "\n".join(rustdoc) + "\n"


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    wanted = {}
    for name in sorted(os.listdir(DOCS)):
        if not name.endswith(".md"):
            continue
        path = os.path.join(DOCS, name)
        text = read(path)
        document, rustdoc = render(name, text)
        if document != text:
            stale.append(f"docs/{name}")
            if not check:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(document)
        if rustdoc is not None:
            wanted[name] = rustdoc
    existing = set(os.listdir(RUSTDOC_LINKS)) - {"README.md"} if os.path.isdir(RUSTDOC_LINKS) else set()
    for name in sorted(existing | set(wanted)):
        path = os.path.join(RUSTDOC_LINKS, name)
        have = read(path) if name in existing else None
        if have == wanted.get(name):
            continue
        stale.append(f"docs/rustdoc-links/{name}")
        if check:
            continue
        os.makedirs(RUSTDOC_LINKS, exist_ok=True)
        if name in wanted:
            with open(path, "w", encoding="utf-8") as f:
                f.write(wanted[name])
        else:
            os.remove(path)
    if check and stale:
        print("out of date (run `python3 scripts/doc-links.py`): " + ", ".join(stale))
        return 1
    if not check:
        print("updated: " + ", ".join(stale) if stale else "up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())

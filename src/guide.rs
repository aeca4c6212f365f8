//! The guide: the documents in `docs/`, included here so that rustdoc shows them next to
//! the API and `cargo test` compiles and runs every Rust example in them.
//!
//! Each document's links to the crate are reference links whose definitions, at the end of
//! the file, name a file of the repository (for a repository page or an editor). The
//! `docs/rustdoc-links/` file included first defines the same labels as items, and the
//! first definition of a label wins, so here they lead to the items; scripts/doc-links.py
//! writes both.

#[doc = include_str!("../docs/rustdoc-links/python-mapping.md")]
#[doc = include_str!("../docs/python-mapping.md")]
pub mod python_mapping {}

#[doc = include_str!("../docs/rustdoc-links/design.md")]
#[doc = include_str!("../docs/design.md")]
pub mod design {}

#[doc = include_str!("../docs/rustdoc-links/echo.md")]
#[doc = include_str!("../docs/echo.md")]
pub mod echo {}

#[doc = include_str!("../docs/rustdoc-links/protocols.md")]
#[doc = include_str!("../docs/protocols.md")]
pub mod protocols {}

#[doc = include_str!("../docs/rustdoc-links/protocol-servers.md")]
#[doc = include_str!("../docs/protocol-servers.md")]
pub mod protocol_servers {}

#[doc = include_str!("../docs/rustdoc-links/performance.md")]
#[doc = include_str!("../docs/performance.md")]
pub mod performance {}

#[doc = include_str!("../docs/rustdoc-links/http.md")]
#[doc = include_str!("../docs/http.md")]
pub mod http {}

#[doc = include_str!("../docs/rustdoc-links/proxy.md")]
#[doc = include_str!("../docs/proxy.md")]
pub mod proxy {}

#[doc = include_str!("../docs/deploy.md")]
pub mod deploy {}

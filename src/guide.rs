//! The guide: the documents in `docs/`, included here so that rustdoc shows them next to
//! the API and `cargo test` compiles and runs every Rust example in them.

#[doc = include_str!("../docs/python-mapping.md")]
pub mod python_mapping {}

#[doc = include_str!("../docs/design.md")]
pub mod design {}

#[doc = include_str!("../docs/echo.md")]
pub mod echo {}

#[doc = include_str!("../docs/protocols.md")]
pub mod protocols {}

#[doc = include_str!("../docs/protocol-servers.md")]
pub mod protocol_servers {}

#[doc = include_str!("../docs/performance.md")]
pub mod performance {}

//! Renderers: the diagnosis as text for people and as JSON for machines. Pure: they return
//! strings; the binaries decide where they go.

mod text;

pub use text::text;

use crate::diagnosis::Diagnosis;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// The diagnosis JSON contract (schemaVersion 1), pretty-printed.
pub fn json(d: &Diagnosis) -> String {
    serde_json::to_string_pretty(d).expect("a diagnosis always serialises")
}

pub fn render(d: &Diagnosis, format: Format, color: bool) -> String {
    match format {
        Format::Text => text(d, color),
        Format::Json => json(d),
    }
}

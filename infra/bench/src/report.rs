//! Markdown report sections.

use std::fmt::Write as _;
use std::path::PathBuf;

/// One section of `BENCHMARKS.md`: a heading, a short note on method, a table and notes after it.
pub struct Section {
    pub name: &'static str,
    pub title: String,
    pub method: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub notes: Vec<String>,
}

impl Section {
    pub fn new(name: &'static str, title: impl Into<String>, method: impl Into<String>) -> Self {
        Self {
            name,
            title: title.into(),
            method: method.into(),
            header: Vec::new(),
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn header<I: IntoIterator<Item = S>, S: Into<String>>(mut self, cells: I) -> Self {
        self.header = cells.into_iter().map(Into::into).collect();
        self
    }

    pub fn row<I: IntoIterator<Item = S>, S: Into<String>>(&mut self, cells: I) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    pub fn to_markdown(&self) -> String {
        let mut out = format!("## {}\n\n{}\n\n", self.title, self.method);
        let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        if !self.header.is_empty() {
            out.push_str(&line(&self.header));
            out.push_str(&line(&vec!["---".to_string(); self.header.len()]));
            for row in &self.rows {
                out.push_str(&line(row));
            }
            out.push('\n');
        }
        for note in &self.notes {
            let _ = writeln!(out, "- {note}");
        }
        if !self.notes.is_empty() {
            out.push('\n');
        }
        out
    }

    /// Prints the section and writes it to `$VBM_BENCH_OUT/<name>.md` (default `target/bench`).
    pub fn publish(&self) -> std::io::Result<PathBuf> {
        let text = self.to_markdown();
        println!("{text}");
        let dir = std::env::var_os("VBM_BENCH_OUT")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("target/bench"));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{}.md", self.name));
        std::fs::write(&path, text)?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_table_with_notes() {
        let mut section = Section::new("x", "Title", "How.").header(["a", "b"]);
        section.row(["1", "2"]);
        section.note("n");
        assert_eq!(
            section.to_markdown(),
            "## Title\n\nHow.\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n\n- n\n\n"
        );
    }
}

//! The shell blocks of the README and `docs/`, for the tests that run them (so the documented
//! commands cannot drift from what the code does).
//!
//! Every ```` ```sh ```` block is preceded by a marker saying how it is checked:
//!
//! - `<!-- docs-check: run -->`: run against a fresh local stack (`tests/tests/e2e/docs.rs`);
//!   `<!-- docs-check: run, user_wrote=+447911123456 -->` first has that user write to the
//!   demo business (for examples that assume an open session);
//! - `<!-- docs-check: vbmctl -->`: run against the emulator (`infra/vbmctl/tests/vbmctl/docs.rs`);
//! - `<!-- docs-check: by PATH -->`: each command is exercised by that test or script, which
//!   must name its subcommands;
//! - `<!-- docs-check: aws -->`: needs an AWS account; not run.
//!
//! In a block, a comment line right after a command that shows JSON (`#   {"status":…}`, or
//! with a status first, `## 401 {"error":…}`) is what the command must print; `…` stands for
//! anything. A line `NAME=…` assigning a variable the harness provides (the reader's own
//! value: the API's URL, a key) is skipped, and `http://127.0.0.1:3000` (where `make dev`
//! listens) is replaced by the test stack's address.

use std::path::{Path, PathBuf};

/// How a block is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Run { user_wrote: Vec<String> },
    Vbmctl,
    By(String),
    Aws,
}

/// One command of a block, with what it must print.
#[derive(Debug, Clone)]
pub struct Step {
    pub line: usize,
    pub command: String,
    pub expect: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ShellBlock {
    pub file: String,
    pub line: usize,
    pub check: Check,
    pub steps: Vec<Step>,
}

impl ShellBlock {
    pub fn at(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

/// The repository's root.
pub fn repo_root() -> PathBuf {
    crate::repo_root()
}

/// README.md and every `docs/*.md`, in a stable order.
pub fn documents() -> Vec<PathBuf> {
    let root = repo_root();
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    docs.insert(0, root.join("README.md"));
    docs
}

/// Every sh block of every document. Panics (naming the place) on a block without a marker or
/// with one it does not know.
pub fn blocks() -> Vec<ShellBlock> {
    documents().iter().flat_map(|p| blocks_of(p)).collect()
}

fn blocks_of(path: &Path) -> Vec<ShellBlock> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file = path
        .strip_prefix(repo_root())
        .unwrap_or(path)
        .display()
        .to_string();
    parse(&file, &text)
}

/// The sh blocks of one document's text.
pub fn parse(file: &str, text: &str) -> Vec<ShellBlock> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let fence = lines[i].trim_end();
        if !fence.starts_with("```") {
            i += 1;
            continue;
        }
        let lang = fence.trim_start_matches('`');
        let start = i;
        let end = (i + 1..lines.len())
            .find(|&j| lines[j].trim_end() == "```")
            .unwrap_or_else(|| panic!("{file}:{}: unclosed code block", start + 1));
        if matches!(lang, "sh" | "bash" | "shell") {
            let marker = (0..start)
                .rev()
                .map(|j| lines[j].trim())
                .find(|l| !l.is_empty())
                .unwrap_or_default();
            let check = marker_check(marker).unwrap_or_else(|| {
                panic!(
                    "{file}:{}: a sh block needs a `<!-- docs-check: run|vbmctl|by PATH|aws -->` line before it (found {marker:?})",
                    start + 1
                )
            });
            out.push(ShellBlock {
                file: file.to_owned(),
                line: start + 1,
                check,
                steps: steps(&lines[start + 1..end], start + 2),
            });
        }
        i = end + 1;
    }
    out
}

fn marker_check(marker: &str) -> Option<Check> {
    let inner = marker
        .strip_prefix("<!--")?
        .strip_suffix("-->")?
        .trim()
        .strip_prefix("docs-check:")?
        .trim();
    let mut parts = inner.split(',').map(str::trim);
    let kind = parts.next()?;
    match kind {
        "run" => {
            let mut user_wrote = Vec::new();
            for part in parts {
                user_wrote.push(part.strip_prefix("user_wrote=")?.to_owned());
            }
            Some(Check::Run { user_wrote })
        }
        "vbmctl" => Some(Check::Vbmctl),
        "aws" => Some(Check::Aws),
        by => Some(Check::By(by.strip_prefix("by ")?.trim().to_owned())),
    }
}

fn steps(lines: &[&str], first_line: usize) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let mut pending: Option<Step> = None;
    for (k, raw) in lines.iter().enumerate() {
        let line = raw.trim_end();
        if let Some(step) = pending.as_mut() {
            // A continued command (trailing backslash).
            step.command.push('\n');
            step.command.push_str(line);
            if !line.ends_with('\\') {
                steps.extend(pending.take());
            }
            continue;
        }
        let trimmed = line.trim_start();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            if let (Some(expect), Some(last)) = (expectation(comment), steps.last_mut()) {
                last.expect.push(expect);
            }
            continue;
        }
        let step = Step {
            line: first_line + k,
            command: line.to_owned(),
            expect: Vec::new(),
        };
        if line.ends_with('\\') {
            pending = Some(step);
        } else {
            steps.push(step);
        }
    }
    steps.extend(pending);
    steps
}

/// `#   {"a":1,…}` or `## 200 {"a":1}`: the JSON shown, without the status.
fn expectation(comment: &str) -> Option<String> {
    let body = comment.trim_start_matches('#').trim();
    let body = match body.split_once(' ') {
        Some((status, rest)) if status.len() == 3 && status.bytes().all(|b| b.is_ascii_digit()) => {
            rest.trim()
        }
        _ => body,
    };
    (body.starts_with('{') || body.starts_with('[')).then(|| body.to_owned())
}

/// Whether `output` shows `expected`, `…` matching anything (the parts in order), blanks
/// ignored (so a one-line expectation matches pretty-printed JSON).
pub fn shows(output: &str, expected: &str) -> bool {
    let squeeze = |s: &str| {
        s.chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect::<String>()
    };
    let (output, expected) = (squeeze(output), squeeze(expected));
    let mut rest = output.as_str();
    for part in expected.split('…') {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// The variable a line assigns first, if it is an assignment (`NAME=…`, `export NAME=…`).
pub fn assigned(command: &str) -> Vec<&str> {
    let command = command.trim_start();
    let command = command.strip_prefix("export ").unwrap_or(command);
    let mut names = Vec::new();
    for word in command.split(|c: char| c.is_whitespace() || c == ';') {
        let Some((name, _)) = word.split_once('=') else {
            break;
        };
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            break;
        }
        names.push(name);
    }
    names
}

/// Runs blocks as bash scripts: `provided` variables exported (and their assignment lines
/// skipped), `replace` applied to each command, `path` put first on `PATH`, `env` set.
#[derive(Debug, Clone, Default)]
pub struct Runner {
    pub provided: Vec<(String, String)>,
    pub replace: Vec<(String, String)>,
    pub path: Option<PathBuf>,
    pub env: Vec<(String, String)>,
}

impl Runner {
    /// Runs `block` command by command in one bash process (so variables carry from one command
    /// to the next), each command's output and exit status captured apart, in a temporary
    /// directory; panics naming the command that failed or printed other than the document
    /// shows. A read (a `curl` without `-X` or `-d`) whose output does not show it yet is run
    /// again for up to [`SETTLE`]: what the stack does after an answer (relaying, dispatching,
    /// calling back) takes a moment, as it would for a reader typing the commands.
    pub fn run(&self, block: &ShellBlock) {
        use std::io::{BufRead, Write};
        let dir = std::env::temp_dir().join(format!("vbm-docs-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut bash = std::process::Command::new("bash");
        bash.current_dir(&dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        if let Some(path) = &self.path {
            let old = std::env::var("PATH").unwrap_or_default();
            bash.env("PATH", format!("{}:{old}", path.display()));
        }
        for (name, value) in self.env.iter().chain(&self.provided) {
            bash.env(name, value);
        }
        let mut child = bash.spawn().expect("bash runs");
        let mut stdin = child.stdin.take().expect("stdin");
        let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let mut exec = |n: usize, command: &str| -> (String, String) {
            let out = dir.join(format!("step-{n}"));
            let script = format!(
                "{{ {command}\n}} >'{out}' 2>&1 </dev/null; echo $? >'{out}.rc'; echo step-{n}-done\n",
                out = out.display()
            );
            stdin
                .write_all(script.as_bytes())
                .expect("bash takes the command");
            stdin.flush().expect("bash takes the command");
            let mut line = String::new();
            loop {
                line.clear();
                let read = stdout.read_line(&mut line).expect("bash answers");
                assert!(read > 0, "bash ended during `{command}`");
                if line.trim() == format!("step-{n}-done") {
                    break;
                }
            }
            let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
            (read(&out), read(&out.with_extension("rc")))
        };
        for (n, step) in block.steps.iter().enumerate() {
            let names = assigned(&step.command);
            if !names.is_empty()
                && is_assignment_only(&step.command)
                && names
                    .iter()
                    .all(|n| self.provided.iter().any(|(p, _)| p == n))
            {
                continue; // the reader's own value: the harness gave it
            }
            let mut command = step.command.clone();
            for (from, to) in &self.replace {
                command = command.replace(from.as_str(), to);
            }
            let read_only = !command.contains("-X") && !command.contains(" -d");
            let since = std::time::Instant::now();
            let (out, rc) = loop {
                let (out, rc) = exec(n, &command);
                let shown = step.expect.iter().all(|e| shows(&out, e));
                if shown || !read_only || since.elapsed() > SETTLE {
                    break (out, rc);
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
            };
            assert_eq!(
                rc.trim(),
                "0",
                "{}:{}: `{}` failed:\n{out}",
                block.file,
                step.line,
                step.command
            );
            for expected in &step.expect {
                assert!(
                    shows(&out, expected),
                    "{}:{}: `{}` printed\n{out}\nwhere the document shows\n{expected}",
                    block.file,
                    step.line,
                    step.command
                );
            }
        }
        drop(stdin);
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// How long a read is tried again until it shows what the document says: long enough for an
/// uploaded list's several queue hops on a loaded 2-core machine (15 s was not, once, with a
/// release build beside the tests); a read that shows it sooner stops waiting at once.
pub const SETTLE: std::time::Duration = std::time::Duration::from_secs(40);

fn is_assignment_only(command: &str) -> bool {
    // `A=1; B="x y"` or `export A=1 B=2`, nothing run: every word before a comment assigns.
    let code = command.split(" #").next().unwrap_or(command).trim();
    let code = code.strip_prefix("export ").unwrap_or(code);
    shell_words(code).iter().all(|w| w.contains('='))
}

/// Words split on unquoted blanks and `;` (enough for assignment lines).
fn shell_words(code: &str) -> Vec<String> {
    let (mut words, mut word, mut quote) = (Vec::new(), String::new(), None);
    for c in code.chars() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ' ' | '\t' | ';') => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            _ => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"
Text.

<!-- docs-check: run, user_wrote=+447911123456 -->
```sh
B=http://127.0.0.1:3000
curl -s -X POST $B/v1/messages \
  -d '{"to":"+447911123456"}'
#   {"message_id":"…","status":"accepted",…}
# prose, not an expectation
curl -s $B/x   # a trailing comment
## 401 {"error":{"code":"unauthorized",…}}
```

```json
{"not": "sh"}
```

<!-- docs-check: by infra/vbmctl/tests/vbmctl/cli.rs -->
```sh
vbmctl business list
```
"#;

    #[test]
    fn blocks_steps_and_expectations() {
        let blocks = parse("x.md", DOC);
        assert_eq!(blocks.len(), 2);
        assert_eq!(
            blocks[0].check,
            Check::Run {
                user_wrote: vec!["+447911123456".into()]
            }
        );
        let steps = &blocks[0].steps;
        assert_eq!(steps.len(), 3);
        assert_eq!(steps[1].line, 7);
        assert!(
            steps[1]
                .command
                .ends_with("-d '{\"to\":\"+447911123456\"}'")
        );
        assert_eq!(
            steps[1].expect,
            vec![r#"{"message_id":"…","status":"accepted",…}"#]
        );
        assert_eq!(
            steps[2].expect,
            vec![r#"{"error":{"code":"unauthorized",…}}"#]
        );
        assert_eq!(
            blocks[1].check,
            Check::By("infra/vbmctl/tests/vbmctl/cli.rs".into())
        );
    }

    #[test]
    #[should_panic(expected = "x.md:2: a sh block needs")]
    fn a_block_without_a_marker_is_refused() {
        parse("x.md", "\n```sh\nls\n```\n");
    }

    #[test]
    fn wildcards_match_in_order() {
        let out = r#"{"message_id":"01AB","status":"accepted","session":{"state":"none"}}"#;
        assert!(shows(out, r#"{"message_id":"…","status":"accepted",…}"#));
        assert!(shows(out, r#""state":"none""#));
        assert!(!shows(out, r#"{"status":"accepted",…"message_id""#));
        assert!(!shows(out, r#""status":"sent""#));
        assert!(shows(
            "{\n  \"a\": 1,\n  \"b\": [\n    \"x\"\n  ]\n}",
            r#"{"a":1,"b":["x"]}"#
        ));
    }

    #[test]
    fn assignments() {
        assert_eq!(
            assigned("B=http://x; H=\"Authorization: Bearer $K\""),
            vec!["B"]
        );
        assert_eq!(
            assigned("export VBM_TABLE=vbm AWS_REGION=eu-west-1"),
            vec!["VBM_TABLE", "AWS_REGION"]
        );
        assert_eq!(
            assigned("EVENTS_QUEUE_URL=x vbmctl quarantine replay"),
            vec!["EVENTS_QUEUE_URL"]
        );
        assert!(assigned("curl -s $B").is_empty());
        assert!(is_assignment_only(
            "B=http://x; H=\"Authorization: Bearer $K\""
        ));
        assert!(is_assignment_only("URL_SECRET=abc   # the url_secret"));
        assert!(!is_assignment_only(
            "EVENTS_QUEUE_URL=x vbmctl quarantine replay"
        ));
    }
}

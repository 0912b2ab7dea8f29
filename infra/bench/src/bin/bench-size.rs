//! Binary sizes: the stripped release binary of each function (this machine's architecture) and,
//! where `make package` has run, the arm64 `bootstrap` and its zip. Publishes section `size`.

use std::path::Path;
use std::process::ExitCode;

use vbm_bench::report::Section;

const FUNCTIONS: [&str; 9] = [
    "send",
    "inbound",
    "status",
    "dispatch",
    "notify",
    "relay",
    "failover",
    "lifecycle",
    "campaign",
];
/// The target for a stripped binary.
const TARGET_BYTES: u64 = 6_000_000;

fn main() -> ExitCode {
    let arch = std::env::consts::ARCH;
    let mut section = Section::new(
        "size",
        "Size",
        format!(
            "Stripped release binaries (`[profile.release]` in Cargo.toml) built by `make bench` \
             for this machine ({arch}: the nine function packages in one `cargo build --release`); \
             the arm64 columns come from `make package` (cargo-lambda run in each function's \
             directory, the same build as `sam build`: the files Lambda runs) when it has run. \
             MB = 10^6 bytes. Target: ≤ 6 MB."
        ),
    )
    .header([
        "function".to_string(),
        format!("{arch} binary"),
        "arm64 bootstrap".to_string(),
        "arm64 zip".to_string(),
        format!("{arch} ≤ 6 MB"),
        "arm64 ≤ 6 MB".to_string(),
    ]);
    let mut missing = false;
    for function in FUNCTIONS {
        let native = size(&Path::new("target/release").join(function));
        let lambda = Path::new("target/lambda").join(function);
        let zip = size(&lambda.join("bootstrap.zip"));
        // cargo-lambda leaves only the zip: the bootstrap's size is its entry's.
        let bootstrap = std::fs::read(lambda.join("bootstrap.zip"))
            .ok()
            .and_then(|zip| zip_entry_size(&zip, "bootstrap"));
        missing |= native.is_none();
        let verdict = |bytes: Option<u64>| match bytes {
            Some(bytes) if bytes <= TARGET_BYTES => "yes".to_string(),
            Some(_) => "no".to_string(),
            None => "–".to_string(),
        };
        section.row([
            function.to_string(),
            mb(native),
            mb(bootstrap),
            mb(zip),
            verdict(native),
            verdict(bootstrap),
        ]);
    }
    if missing {
        eprintln!("bench-size: build the release binaries first (`make bench` does)");
        return ExitCode::FAILURE;
    }
    match section.publish() {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-size: writing the report: {e}");
            ExitCode::FAILURE
        }
    }
}

fn size(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

fn mb(bytes: Option<u64>) -> String {
    bytes.map_or_else(
        || "–".to_string(),
        |b| format!("{:.2} MB", b as f64 / 1_000_000.0),
    )
}

/// The uncompressed size of entry `name` of a zip archive, from its central directory.
fn zip_entry_size(zip: &[u8], name: &str) -> Option<u64> {
    let u16_at = |at: usize| Some(u16::from_le_bytes(zip.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(zip.get(at..at + 4)?.try_into().ok()?));
    // The end-of-central-directory record: its signature, searched from the end.
    let end = (0..zip.len().saturating_sub(21))
        .rev()
        .find(|&at| u32_at(at) == Some(0x0605_4b50))?;
    let (entries, mut at) = (u16_at(end + 10)?, u32_at(end + 16)? as usize);
    for _ in 0..entries {
        if u32_at(at)? != 0x0201_4b50 {
            return None;
        }
        let size = u32_at(at + 24)?;
        let (name_len, extra_len, comment_len) = (
            usize::from(u16_at(at + 28)?),
            usize::from(u16_at(at + 30)?),
            usize::from(u16_at(at + 32)?),
        );
        if zip.get(at + 46..at + 46 + name_len)? == name.as_bytes() {
            return Some(u64::from(size));
        }
        at += 46 + name_len + extra_len + comment_len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A central directory of `entries` (name, uncompressed size) and its end record.
    fn archive(entries: &[(&str, u32)]) -> Vec<u8> {
        let mut zip = b"local headers and data".to_vec();
        let start = zip.len() as u32;
        for (name, size) in entries {
            let mut entry = vec![0u8; 46];
            entry[..4].copy_from_slice(&0x0201_4b50u32.to_le_bytes());
            entry[24..28].copy_from_slice(&size.to_le_bytes());
            entry[28..30].copy_from_slice(&(name.len() as u16).to_le_bytes());
            entry.extend_from_slice(name.as_bytes());
            zip.extend(entry);
        }
        let mut end = vec![0u8; 22];
        end[..4].copy_from_slice(&0x0605_4b50u32.to_le_bytes());
        end[10..12].copy_from_slice(&(entries.len() as u16).to_le_bytes());
        end[16..20].copy_from_slice(&start.to_le_bytes());
        zip.extend(end);
        zip
    }

    #[test]
    fn the_entry_size_comes_from_the_central_directory() {
        let zip = archive(&[("README", 10), ("bootstrap", 5_518_336)]);
        assert_eq!(zip_entry_size(&zip, "bootstrap"), Some(5_518_336));
        assert_eq!(zip_entry_size(&zip, "missing"), None);
        assert_eq!(zip_entry_size(b"not a zip", "bootstrap"), None);
    }
}

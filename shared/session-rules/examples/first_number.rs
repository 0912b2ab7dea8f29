//! What the first phone number of a process costs, with this crate and with the `phonenumber`
//! crate it replaced: `cargo run --release -p session-rules --example first_number`.
//!
//! Each measurement runs in a fresh child process (a process's first number is the point), and
//! each number's own country is the only one it touches.

use std::process::Command;
use std::time::Instant;

const NUMBERS: [&str; 4] = [
    "+79123456789",
    "+380501234567",
    "+447911123456",
    "+12015550123",
];
const RUNS: usize = 5;

fn main() {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next()) {
        (Some("ours"), Some(number)) => {
            let started = Instant::now();
            let parsed = session_rules::PhoneNumber::parse(&number);
            let first = started.elapsed();
            let started = Instant::now();
            let again = session_rules::PhoneNumber::parse(&number);
            println!(
                "{} {} {:?}",
                first.as_micros(),
                started.elapsed().as_micros(),
                parsed == again
            );
        }
        (Some("phonenumber"), Some(number)) => {
            let started = Instant::now();
            let valid = phonenumber::parse(None, &number).is_ok_and(|n| phonenumber::is_valid(&n));
            let first = started.elapsed();
            let started = Instant::now();
            let again = phonenumber::parse(None, &number).is_ok_and(|n| phonenumber::is_valid(&n));
            println!(
                "{} {} {:?}",
                first.as_micros(),
                started.elapsed().as_micros(),
                valid == again
            );
        }
        _ => parent(),
    }
}

fn parent() {
    let me = std::env::current_exe().expect("own path");
    println!("| number | implementation | first parse, median µs | second parse, median µs |");
    println!("| --- | --- | --- | --- |");
    for number in NUMBERS {
        for which in ["phonenumber", "ours"] {
            let mut first = Vec::new();
            let mut second = Vec::new();
            for _ in 0..RUNS {
                let out = Command::new(&me)
                    .args([which, number])
                    .output()
                    .expect("child runs");
                let text = String::from_utf8_lossy(&out.stdout);
                let fields: Vec<u128> = text
                    .split_whitespace()
                    .take(2)
                    .filter_map(|f| f.parse().ok())
                    .collect();
                assert_eq!(fields.len(), 2, "child said {text:?}");
                first.push(fields[0]);
                second.push(fields[1]);
            }
            first.sort_unstable();
            second.sort_unstable();
            println!(
                "| {number} | {which} | {} | {} |",
                first[RUNS / 2],
                second[RUNS / 2]
            );
        }
    }
}

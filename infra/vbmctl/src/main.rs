//! `vbmctl`: the admin CLI of vbm-serverless. See `cli.rs` for the commands.

mod cli;
mod commands;
mod error;
mod output;
mod validate;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return cli::report(err),
    };
    match commands::run(cli).await {
        Ok(output) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Err(failure) => {
            eprintln!("error: {failure}");
            failure.exit_code()
        }
    }
}

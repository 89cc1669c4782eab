//! The `shardgate` command.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    shardgate::cli::main()
}

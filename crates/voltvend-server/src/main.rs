use std::process::ExitCode;

fn main() -> ExitCode {
    voltvend_server::cli::main()
}

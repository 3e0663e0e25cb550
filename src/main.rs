fn main() -> std::process::ExitCode {
    osmops::cli::main()
}

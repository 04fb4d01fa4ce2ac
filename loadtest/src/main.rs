fn main() {
    eprintln!("loadtest: not implemented yet (issue 5)");
    std::process::exit(2);
}

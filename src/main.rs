fn main() {
    std::process::exit(compat::app::main());
}

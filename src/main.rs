fn main() {
    std::process::exit(track2pipelines::app::main());
}

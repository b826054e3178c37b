fn main() { eprintln!("benches: not yet implemented"); std::process::exit(1) }

fn main() { eprintln!("rdump: not yet implemented"); std::process::exit(1) }

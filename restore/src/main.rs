fn main() { eprintln!("rrestore: not yet implemented"); std::process::exit(1) }

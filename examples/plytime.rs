//! Times `read_ply` on a file (PLY loading is a measured hot path): `cargo run --example plytime -- FILE.ply`.
fn main() {
    let Some(path) = std::env::args().nth(1).map(std::path::PathBuf::from) else {
        eprintln!("usage: plytime FILE.ply");
        return;
    };
    for _ in 0..3 {
        let t0 = std::time::Instant::now();
        match carve::io::ply::read_ply(&path) {
            Ok(_) => println!("read_ply {:?}", t0.elapsed()),
            Err(e) => println!("{e}"),
        }
    }
}

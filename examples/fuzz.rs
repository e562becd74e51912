//! Fuzzing Carve's parsers, on stable Rust: every target starts from the malformed corpus
//! (`tests/data/malformed/<kind>/`, its `found/` included), mutates inputs (bit flips, interesting
//! integers at random offsets, cut/duplicated/inserted runs, splices of two files, numbers in text
//! swapped for boundary values) and feeds them to the library reader in-process. A panic, an input
//! that takes longer than the hang limit, or a process RSS over the memory limit is a finding: the
//! input is written to `tests/data/malformed/<kind>/found/` (which `tests/it/malformed.rs` replays
//! through the CLI on every `scripts/test`) and reported.
//!
//! Not coverage-guided: `cargo fuzz` needs nightly and an instrumented rebuild of libtorch's and
//! wgpu's dependants, which this project's CI does not carry. What it does instead is start from
//! a corpus that already reaches deep into each format (valid files and their near misses).
//!
//!     cargo run --profile dev --example fuzz -- [--seconds N] [--seed S] [TARGET...]
//!
//! Targets: image, mask, ply, gltf, npz, manifest, scene, prompts, keypoints, project, coco, yolo,
//! labelme (default:
//! all). It prints executions, executions per second and findings per target.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const HANG: Duration = Duration::from_secs(10);
const MAX_RSS_KB: u64 = 3 << 20;

/// Small deterministic generator (xorshift64*), so a run is repeatable from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

const INTERESTING: [u64; 14] =
    [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 1 << 32, 1 << 40, u64::MAX, 3, 252];
const NUMBERS: [&str; 12] = [
    "0",
    "-1",
    "1e308",
    "-1e308",
    "4294967296",
    "2147483648",
    "18446744073709551616",
    "1e-320",
    "NaN",
    "",
    "9999999999",
    "0.5",
];

fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = b.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                b[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                b[i] = [0u8, 0xff, 0x7f, 0x80, b'0', b'9', b'-', b'.'][rng.below(8)];
            }
            2 if len >= 8 => {
                let v = INTERESTING[rng.below(INTERESTING.len())];
                let width = [1usize, 2, 4, 8][rng.below(4)].min(len);
                let at = rng.below(len - width + 1);
                let bytes = if rng.below(2) == 0 { v.to_le_bytes() } else { v.to_be_bytes() };
                let start = if rng.below(2) == 0 { 0 } else { 8 - width };
                b[at..at + width].copy_from_slice(&bytes[start..start + width]);
            }
            3 if len > 0 => b.truncate(rng.below(len)),
            4 if len > 1 => {
                let (a, n) = (rng.below(len), 1 + rng.below(64.min(len)));
                let end = (a + n).min(len);
                b.drain(a..end);
            }
            5 if len > 0 => {
                let (a, n) = (rng.below(len), 1 + rng.below(256.min(len)));
                let chunk: Vec<u8> = b[a..(a + n).min(len)].to_vec();
                let at = rng.below(len);
                b.splice(at..at, chunk);
            }
            6 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                if !other.is_empty() && len > 0 {
                    let cut = rng.below(len);
                    let from = rng.below(other.len());
                    b.truncate(cut);
                    b.extend_from_slice(&other[from..]);
                }
            }
            7 => {
                // A number in text (JSON, TOML, ASCII PLY) swapped for a boundary value.
                let digits: Vec<usize> =
                    b.iter().enumerate().filter(|(_, c)| c.is_ascii_digit()).map(|(i, _)| i).collect();
                if !digits.is_empty() {
                    let i = digits[rng.below(digits.len())];
                    let mut end = i;
                    while end < b.len() && (b[end].is_ascii_digit() || b[end] == b'.' || b[end] == b'e') {
                        end += 1;
                    }
                    b.splice(i..end, NUMBERS[rng.below(NUMBERS.len())].bytes());
                }
            }
            _ => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let fill: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                b.splice(at..at, fill);
            }
        }
    }
    b.truncate(4 << 20);
    b
}

/// Reads `bytes` as the target's kind; errors are fine, only panics, hangs and memory count.
fn run_target(kind: &str, bytes: &[u8], scratch: &Path) {
    use carve::io;
    let file = |ext: &str| {
        let p = scratch.join(format!("input.{ext}"));
        std::fs::write(&p, bytes).expect("scratch write");
        p
    };
    match kind {
        "image" => drop(carve::Image::from_bytes(bytes, "input")),
        "mask" => drop(carve::Mask::load_png(file("png"))),
        "ply" => drop(io::ply::read_ply_bytes(bytes, Path::new("input.ply"))),
        "gltf" => {
            let ext = if bytes.starts_with(b"glTF") { "glb" } else { "gltf" };
            // Through `load_3d`, which routes KHR_gaussian_splatting files to their reader.
            drop(io::load_3d(&file(ext)));
        }
        "npz" => drop(carve::body::sam3d::Sam3dBody::load(&file("npz"))),
        "manifest" => {
            if let Ok(text) = std::str::from_utf8(bytes) {
                drop(carve::model::Manifest::parse(text, Path::new("manifest.toml")));
            }
        }
        "scene" => drop(io::scene::SceneFile::read(&file("json"))),
        "prompts" => {
            if let Ok(prompts) = carve::segment::run::read_prompts(&file("json")) {
                for spec in prompts.values() {
                    if let Ok(prompt) = spec.to_prompt() {
                        drop(prompt.validate(64, 48));
                    }
                }
            }
        }
        "keypoints" => {
            // Built once: the rig is the reader's context, not its input.
            static RIG: std::sync::OnceLock<Option<carve::body::Rig>> = std::sync::OnceLock::new();
            if let Some(rig) = RIG.get_or_init(|| carve::body::demo_rig::demo_rig().ok()) {
                drop(carve::body::read_keypoints_json(&file("json"), rig));
            }
        }
        "project" => drop(io::project::Project::load(&file("carve"))),
        "yolo" | "labelme" => {
            // Imported into a one-image dataset, as `carve dataset import` does.
            let dataset = io::dataset::Dataset {
                images: vec![io::dataset::DatasetImage {
                    id: 1,
                    file_name: "photo.png".into(),
                    width: 64,
                    height: 48,
                    status: Default::default(),
                }],
                ..Default::default()
            };
            let from = scratch.join("from");
            drop(std::fs::remove_dir_all(&from));
            if kind == "yolo" {
                std::fs::create_dir_all(from.join("labels")).expect("scratch");
                std::fs::write(from.join("data.yaml"), "names: [cat, dog]\n").expect("scratch");
                std::fs::write(from.join("labels/photo.txt"), bytes).expect("scratch");
                drop(io::label_import::read_yolo(&from, &dataset));
                // The same bytes as a data.yaml.
                drop(io::label_import::yolo_names(&String::from_utf8_lossy(bytes)));
            } else {
                std::fs::create_dir_all(&from).expect("scratch");
                std::fs::write(from.join("photo.json"), bytes).expect("scratch");
                drop(io::label_import::read_labelme(&from, &dataset));
            }
        }
        "coco" => {
            // Read, then what import does with it: decode every annotation's mask.
            if let Ok(d) = io::dataset::Dataset::load(&file("json")) {
                for a in &d.annotations {
                    drop(d.mask_of(a));
                }
                drop(d.with_polygons());
            }
        }
        other => panic!("unknown target {other}"),
    }
}

fn corpus_of(kind: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/malformed").join(kind);
    let mut files = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(meta) = std::fs::symlink_metadata(&p) else { continue };
            if meta.is_dir() {
                stack.push(p);
            } else if meta.is_file() && meta.len() <= 4 << 20 {
                let want = match kind {
                    "manifest" => p.file_name().is_some_and(|n| n == "manifest.toml"),
                    _ => true,
                };
                if want && let Ok(bytes) = std::fs::read(&p) {
                    files.push((p, bytes));
                }
            }
        }
    }
    files.sort();
    files
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn save_finding(kind: &str, what: &str, bytes: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/malformed").join(kind).join("found");
    let _ = std::fs::create_dir_all(&dir);
    let hash = xxhash_rust::xxh3::xxh3_64(bytes);
    let ext = match kind {
        "image" | "mask" => "png",
        "gltf" => {
            if bytes.starts_with(b"glTF") {
                "glb"
            } else {
                "gltf"
            }
        }
        "npz" => "npz",
        "ply" => "ply",
        "project" => "carve",
        "manifest" => "toml",
        _ => "json",
    };
    let path = dir.join(format!("{what}-{hash:016x}.{ext}"));
    let _ = std::fs::write(&path, bytes);
    path
}

fn main() {
    let mut seconds = 60u64;
    let mut seed = 0x5eed_u64;
    let mut targets = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seconds" => seconds = args.next().and_then(|v| v.parse().ok()).expect("--seconds N"),
            "--seed" => seed = args.next().and_then(|v| v.parse().ok()).expect("--seed S"),
            t => targets.push(t.to_owned()),
        }
    }
    if targets.is_empty() {
        targets = [
            "image",
            "mask",
            "ply",
            "gltf",
            "npz",
            "manifest",
            "scene",
            "prompts",
            "keypoints",
            "project",
            "coco",
            "yolo",
            "labelme",
        ]
        .map(String::from)
        .to_vec();
    }
    // Panics are findings, reported below, not printed as they happen.
    let last_panic = Arc::new(Mutex::new(String::new()));
    {
        let last_panic = last_panic.clone();
        std::panic::set_hook(Box::new(move |info| {
            let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
            *last_panic.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = location;
        }));
    }
    // The watchdog: an input running past HANG or the process past MAX_RSS_KB is saved and ends
    // the run (the reader cannot be stopped from outside its thread).
    let current: Arc<Mutex<(String, Vec<u8>)>> = Arc::default();
    let started_ms = Arc::new(AtomicU64::new(0));
    let busy = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    {
        let (current, started_ms, busy) = (current.clone(), started_ms.clone(), busy.clone());
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(200));
                let running = busy.load(Ordering::Relaxed)
                    && t0.elapsed().as_millis() as u64 - started_ms.load(Ordering::Relaxed) > HANG.as_millis() as u64;
                let memory = rss_kb() > MAX_RSS_KB;
                if running || memory {
                    let (kind, bytes) = current.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
                    let what = if running { "hang" } else { "memory" };
                    let path = save_finding(&kind, what, &bytes);
                    eprintln!("FINDING {kind}: {what}, saved {}", path.display());
                    std::process::exit(2);
                }
            }
        });
    }
    let scratch = tempfile::tempdir().expect("scratch folder");
    println!("| target | corpus | executions | exec/s | findings |");
    println!("|---|---:|---:|---:|---|");
    let mut total_findings = 0;
    for kind in &targets {
        let corpus: Vec<Vec<u8>> = corpus_of(kind).into_iter().map(|(_, b)| b).collect();
        assert!(!corpus.is_empty(), "no corpus for {kind}");
        let mut rng = Rng(seed ^ xxhash_rust::xxh3::xxh3_64(kind.as_bytes()) | 1);
        let start = Instant::now();
        let mut execs = 0u64;
        let mut findings: Vec<String> = Vec::new();
        while start.elapsed().as_secs() < seconds {
            let base = &corpus[rng.below(corpus.len())];
            let input = if execs < corpus.len() as u64 { base.clone() } else { mutate(&mut rng, base, &corpus) };
            *current.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = (kind.clone(), input.clone());
            started_ms.store(t0.elapsed().as_millis() as u64, Ordering::Relaxed);
            busy.store(true, Ordering::Relaxed);
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| run_target(kind, &input, scratch.path())));
            busy.store(false, Ordering::Relaxed);
            execs += 1;
            if result.is_err() {
                let at = last_panic.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
                if !findings.iter().any(|f| f.starts_with(&at)) {
                    let path = save_finding(kind, "panic", &input);
                    findings.push(format!("{at} ({})", path.display()));
                }
            }
        }
        let secs = start.elapsed().as_secs_f64();
        total_findings += findings.len();
        let shown = if findings.is_empty() { "none".to_owned() } else { findings.join("; ") };
        println!("| {kind} | {} | {execs} | {:.0} | {shown} |", corpus.len(), execs as f64 / secs);
    }
    if total_findings > 0 {
        std::process::exit(1);
    }
}

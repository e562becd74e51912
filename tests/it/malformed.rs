//! The malformed-input corpus (`tests/data/malformed/`, written by
//! `tools/make_malformed_corpus.py`, plus what the fuzz targets found in each kind's `found/`)
//! replayed through the `carve` command that reads each kind, each case in its own process: no
//! panic, no signal, no hang (a 60 s limit), peak RSS ≤ 2 GiB (the command's own `rusage`, see [`LAUNCHER`]), and for every error
//! exactly one line on stderr, `carve: error: …`, naming the file. `cases.json` says which cases
//! must fail ("error"), which are valid if odd inputs ("ok") and which may go either way ("any").
//! Inputs that cannot live in git are made here: FIFOs, `/dev/zero`, folders, dangling and looping
//! symlinks, in every kind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common::{carve, repo_root};

const TIMEOUT: Duration = Duration::from_secs(60);
/// Peak RSS allowed per case.
const MAX_RSS_KB: i64 = 2 << 20;
/// A case over this is killed at once rather than left to take the machine.
const KILL_RSS_KB: i64 = 3 << 20;

#[derive(Debug)]
struct Outcome {
    code: Option<i32>,
    signal: Option<i32>,
    stderr: String,
    max_rss_kb: i64,
    timed_out: bool,
    killed_for_memory: bool,
    elapsed: Duration,
}

fn rss_kb(pid: i32) -> Option<i64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The launcher every case runs under: `rusage` of a child reports the high-water RSS of the
/// process it was forked from until it exec'ed, so a child of this (large) test binary would
/// report the test's own size. A small Python process in between runs the command and reports
/// the command's own peak: `<exit code or -signal> <max RSS KiB>` on stdout.
const LAUNCHER: &str = "import resource, subprocess, sys\n\
err = open(sys.argv[1], 'wb')\n\
code = subprocess.run(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err).returncode\n\
print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n";

/// Runs `cmd` (stdout discarded, stderr captured) under [`LAUNCHER`] in its own process group;
/// kills the group after [`TIMEOUT`] or when the command passes [`KILL_RSS_KB`].
#[allow(unsafe_code)]
fn run_limited(cmd: Command, stderr_file: &Path) -> Outcome {
    use std::os::unix::process::CommandExt;
    let mut launcher = Command::new(crate::common::python());
    launcher.arg("-c").arg(LAUNCHER).arg(stderr_file).arg(cmd.get_program()).args(cmd.get_args());
    if let Some(dir) = cmd.get_current_dir() {
        launcher.current_dir(dir);
    }
    for (key, value) in cmd.get_envs() {
        match value {
            Some(v) => launcher.env(key, v),
            None => launcher.env_remove(key),
        };
    }
    let mut child = launcher
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the launcher");
    let pid = child.id() as i32;
    let start = Instant::now();
    let (mut timed_out, mut killed_for_memory) = (false, false);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if start.elapsed() > TIMEOUT {
            timed_out = true;
        } else if group_rss_kb(pid) > KILL_RSS_KB {
            killed_for_memory = true;
        }
        if timed_out || killed_for_memory {
            // SAFETY: signalling the process group this test created.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            let _ = child.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut report = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = std::io::Read::read_to_string(&mut out, &mut report);
    }
    let mut fields = report.split_whitespace().map(|f| f.parse::<i64>().ok());
    let (code, max_rss_kb) = (fields.next().flatten(), fields.next().flatten());
    Outcome {
        code: code.filter(|&c| c >= 0).map(|c| c as i32),
        signal: code.filter(|&c| c < 0).map(|c| (-c) as i32),
        stderr: std::fs::read_to_string(stderr_file).unwrap_or_default(),
        max_rss_kb: max_rss_kb.unwrap_or(0),
        timed_out,
        killed_for_memory,
        elapsed: start.elapsed(),
    }
}

/// RSS of the launcher's children (the command), from /proc.
fn group_rss_kb(launcher: i32) -> i64 {
    let children = std::fs::read_to_string(format!("/proc/{launcher}/task/{launcher}/children")).unwrap_or_default();
    children.split_whitespace().filter_map(|c| c.parse::<i32>().ok()).filter_map(rss_kb).sum()
}

/// One input and the command that reads it.
struct Case {
    /// `kind/name` as in `cases.json`.
    name: String,
    path: PathBuf,
    expect: &'static str,
}

fn expect_of(s: &str) -> &'static str {
    match s {
        "ok" => "ok",
        "error" => "error",
        "any" => "any",
        other => panic!("cases.json: unknown expectation {other}"),
    }
}

/// The command for `case` (scratch outputs go to `scratch`), and the text its error must contain.
fn command_for(case: &Case, scratch: &Path, data_home: &Path) -> Vec<(Command, String)> {
    let root = repo_root();
    let demo = root.join("assets/demo/still_life.jpg");
    let kind = case.name.split('/').next().unwrap_or_default();
    let file_name = case.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut cmd = carve(data_home);
    cmd.current_dir(scratch).env("CARVE_CACHE_DIR", scratch.join("cache"));
    let out = |name: &str| scratch.join(name);
    match kind {
        "image" => {
            cmd.arg("segment").arg(&case.path).args(["--point", "0,0", "--engine", "classical", "--out"]);
            cmd.arg(out("m.png"));
        }
        "mask" => {
            cmd.arg("lift").arg(&demo).arg("--mask").arg(&case.path);
            cmd.args(["--iters", "0", "--voxels", "16", "--out"]).arg(out("lift"));
        }
        "ply" | "gltf" => {
            cmd.arg("render").arg(&case.path).args(["--width", "64", "--height", "48", "--out"]).arg(out("r.png"));
        }
        "npz" => {
            cmd.args(["body", "import"]).arg(&case.path).args(["--lod", "6", "--out"]).arg(out("b.glb"));
        }
        "scene" => {
            let mesh = root.join("tests/data/malformed/ply/valid_triangle_ascii.ply");
            cmd.arg("render").arg(mesh).arg("--camera").arg(&case.path).arg("--out").arg(out("r.png"));
        }
        "prompts" => {
            let batch = scratch.join("batch");
            std::fs::create_dir_all(&batch).expect("batch folder");
            std::fs::copy(root.join("tests/data/malformed/image/valid.png"), batch.join("photo.png")).expect("photo");
            cmd.args(["segment", "--engine", "classical", "--batch"]).arg(&batch).arg("--prompts").arg(&case.path);
            cmd.arg("--out-dir").arg(out("masks"));
        }
        "keypoints" => {
            cmd.args(["body", "fit"]).arg(&demo).arg("--mask").arg(root.join("assets/demo/masks/mug.png"));
            cmd.arg("--keypoints").arg(&case.path).args(["--iterations", "2", "--lod", "6", "--out"]).arg(out("f.glb"));
        }
        "manifest" => {
            // Segmenting with the folder must fail naming it; listing models must not fail or hang.
            cmd.arg("segment").arg(&demo).args(["--point", "10,10", "--engine", "sam3", "--models"]).arg(&case.path);
            cmd.arg("--out").arg(out("m.png"));
            let mut list = carve(data_home);
            list.current_dir(scratch).args(["models", "--json", "--models"]).arg(&case.path);
            return vec![(cmd, file_name.clone()), (list, String::new())];
        }
        "coco" => {
            // A dataset holding photo.png (64×48) imports the case.
            let ds = scratch.join("dataset");
            std::fs::create_dir_all(&ds).expect("dataset folder");
            std::fs::copy(root.join("tests/data/malformed/image/valid.png"), ds.join("photo.png")).expect("photo");
            let doc = r#"{"images": [{"id": 1, "file_name": "photo.png", "width": 64, "height": 48}],
                          "annotations": [], "categories": []}"#;
            std::fs::write(ds.join("dataset.json"), doc).expect("dataset.json");
            cmd.args(["dataset", "import"]).arg(&ds).arg("--coco").arg(&case.path);
        }
        "yolo" | "labelme" => {
            // A dataset holding photo.png (64×48) imports the case: a YOLO folder (a good data.yaml,
            // the case as labels/photo.txt) or a labelme folder holding the case.
            let ds = scratch.join("dataset");
            std::fs::create_dir_all(&ds).expect("dataset folder");
            let doc = r#"{"images": [{"id": 1, "file_name": "photo.png", "width": 64, "height": 48}],
                          "annotations": [], "categories": []}"#;
            std::fs::write(ds.join("dataset.json"), doc).expect("dataset.json");
            let from = scratch.join("from");
            if kind == "yolo" {
                std::fs::create_dir_all(from.join("labels")).expect("labels folder");
                std::fs::write(from.join("data.yaml"), "nc: 2\nnames:\n  0: cat\n  1: dog\n").expect("data.yaml");
                copy_case(&case.path, &from.join("labels/photo.txt"));
            } else {
                std::fs::create_dir_all(&from).expect("labelme folder");
                copy_case(&case.path, &from.join("photo.json"));
            }
            cmd.args(["dataset", "import"]).arg(&ds).arg(format!("--{kind}")).arg(&from);
            // The label file is read under the folder: its own name is in the notes, not the error.
            return vec![(cmd, String::new())];
        }
        other => panic!("no command for kind {other}"),
    }
    vec![(cmd, file_name)]
}

/// Puts a case where the command reads it: a symlink for special files (FIFOs, `/dev/zero`, loops,
/// folders), a copy otherwise.
fn copy_case(from: &Path, to: &Path) {
    match std::fs::symlink_metadata(from) {
        Ok(m) if m.is_file() => {
            std::fs::copy(from, to).expect("copy case");
        }
        _ => std::os::unix::fs::symlink(from, to).expect("link case"),
    }
}

/// Files the corpus cannot hold, for each kind: a FIFO, `/dev/zero`, a folder, a missing file, a
/// symlink loop.
#[allow(unsafe_code)]
fn special_cases(dir: &Path) -> Vec<Case> {
    let mut cases = Vec::new();
    for (kind, ext) in [
        ("image", "png"),
        ("mask", "png"),
        ("ply", "ply"),
        ("gltf", "glb"),
        ("gltf", "gltf"),
        ("npz", "npz"),
        ("scene", "json"),
        ("prompts", "json"),
        ("keypoints", "json"),
        ("coco", "json"),
        ("yolo", "txt"),
        ("labelme", "json"),
    ] {
        let base = dir.join(format!("{kind}_{ext}"));
        std::fs::create_dir_all(&base).expect("special folder");
        let fifo = base.join(format!("fifo.{ext}"));
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo {}", fifo.display());
        let zero = base.join(format!("zero.{ext}"));
        std::os::unix::fs::symlink("/dev/zero", &zero).expect("symlink");
        let folder = base.join(format!("folder.{ext}"));
        std::fs::create_dir(&folder).expect("folder");
        let missing = base.join(format!("missing.{ext}"));
        let looped = base.join(format!("loop.{ext}"));
        std::os::unix::fs::symlink(&looped, &looped).expect("symlink loop");
        for path in [fifo, zero, folder, missing, looped] {
            let name = format!("{kind}/special/{}", path.file_name().unwrap_or_default().to_string_lossy());
            // Label files inside a folder being imported are notes when unreadable, not errors.
            let expect = if matches!(kind, "yolo" | "labelme") { "any" } else { "error" };
            cases.push(Case { name, path, expect });
        }
    }
    // A .gltf whose buffer file is a FIFO, one whose buffer is a link to /dev/zero.
    let doc =
        std::fs::read_to_string(repo_root().join("tests/data/malformed/gltf/sidecar_ok/scene.gltf")).expect("gltf");
    for (name, fifo) in [("gltf_buffer_fifo", true), ("gltf_buffer_zero", false)] {
        let folder = dir.join(name);
        std::fs::create_dir_all(&folder).expect("folder");
        let bin = folder.join("mesh.bin");
        if fifo {
            let c = std::ffi::CString::new(bin.as_os_str().as_encoded_bytes()).expect("path");
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        } else {
            std::os::unix::fs::symlink("/dev/zero", &bin).expect("symlink");
        }
        let path = folder.join("scene.gltf");
        std::fs::write(&path, &doc).expect("gltf");
        cases.push(Case { name: format!("gltf/special/{name}"), path, expect: "error" });
    }
    // A model folder whose manifest is a FIFO, one where it is /dev/zero, one where a model file
    // is a symlink to a file outside the folder.
    for (name, make) in [("manifest_fifo", 0), ("manifest_zero", 1), ("model_file_symlink_outside", 2)] {
        let folder = dir.join(name);
        std::fs::create_dir_all(&folder).expect("model folder");
        let manifest = folder.join("manifest.toml");
        match make {
            0 => {
                let c = std::ffi::CString::new(manifest.as_os_str().as_encoded_bytes()).expect("path");
                // SAFETY: a valid NUL-terminated path.
                assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
            }
            1 => std::os::unix::fs::symlink("/dev/zero", &manifest).expect("symlink"),
            _ => {
                let text = std::fs::read_to_string(
                    repo_root().join("tests/data/malformed/manifest/files_missing/manifest.toml"),
                )
                .expect("manifest");
                std::fs::write(&manifest, text).expect("manifest");
                let outside = dir.join("outside.pt");
                std::fs::write(&outside, b"PK\x03\x04 outside the model folder").expect("outside");
                std::os::unix::fs::symlink(&outside, folder.join("image_encoder.pt")).expect("symlink");
                std::os::unix::fs::symlink(&outside, folder.join("click_decoder.pt")).expect("symlink");
            }
        }
        cases.push(Case { name: format!("manifest/special/{name}"), path: folder.clone(), expect: "error" });
        if make == 2 {
            // Refused for the link, not for what the file holds.
            let folders = carve::model::registry::find_models(&[carve::model::SearchDir {
                path: folder.clone(),
                origin: carve::model::SearchOrigin::Explicit,
                exists: true,
            }]);
            let problems = folders.first().map(|f| f.problems.join("; ")).unwrap_or_default();
            assert!(problems.contains("outside the model folder"), "{problems}");
        }
    }
    cases
}

fn corpus_cases() -> Vec<Case> {
    let dir = repo_root().join("tests/data/malformed");
    let text = std::fs::read_to_string(dir.join("cases.json")).expect("tests/data/malformed/cases.json");
    let listed: BTreeMap<String, String> = serde_json::from_str(&text).expect("cases.json");
    let mut cases: Vec<Case> = listed
        .iter()
        .map(|(name, e)| Case { name: name.clone(), path: dir.join(name), expect: expect_of(e) })
        .collect();
    // What the fuzz targets found: never a panic; either outcome.
    for kind in ["image", "mask", "ply", "gltf", "npz", "scene", "prompts", "keypoints", "coco", "yolo", "labelme"] {
        let Ok(found) = std::fs::read_dir(dir.join(kind).join("found")) else { continue };
        for entry in found.flatten() {
            let name = format!("{kind}/found/{}", entry.file_name().to_string_lossy());
            cases.push(Case { name, path: entry.path(), expect: "any" });
        }
    }
    cases
}

/// What is wrong with `outcome` for `case`, if anything.
fn judge(case: &Case, must_name: &str, listing: bool, o: &Outcome) -> Option<String> {
    if o.timed_out {
        return Some(format!("hung (killed after {:?})", TIMEOUT));
    }
    if o.killed_for_memory {
        return Some(format!("killed past {} MiB of RSS", KILL_RSS_KB >> 10));
    }
    if let Some(sig) = o.signal {
        return Some(format!("killed by signal {sig}: {}", o.stderr.trim()));
    }
    if o.stderr.contains("panicked") || o.code == Some(101) {
        return Some(format!("panicked: {}", o.stderr.trim()));
    }
    if o.max_rss_kb > MAX_RSS_KB {
        return Some(format!("peak RSS {} MiB", o.max_rss_kb >> 10));
    }
    let code = o.code.unwrap_or(-1);
    if listing {
        return (code != 0).then(|| format!("`carve models` exited {code}: {}", o.stderr.trim()));
    }
    match (case.expect, code) {
        ("ok", 0) | ("any", 0) => None,
        ("ok", _) => Some(format!("valid input refused (exit {code}): {}", o.stderr.trim())),
        ("error", 0) => Some("accepted silently (exit 0)".into()),
        (_, 1) => {
            let lines: Vec<&str> = o.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
            let errors: Vec<&&str> = lines.iter().filter(|l| l.starts_with("carve: error: ")).collect();
            if errors.len() != 1 {
                return Some(format!("{} error lines in {:?}", errors.len(), o.stderr));
            }
            if !errors[0].contains(must_name) {
                return Some(format!("the error does not name {must_name}: {}", errors[0]));
            }
            // A batch reports each skipped file and a count before its error; nothing else may.
            let report = |l: &&str| {
                (case.name.starts_with("prompts/") && (l.starts_with("skipped ") || l.starts_with("segmented ")))
                    || is_progress_line(l)
            };
            if lines.iter().filter(|l| !l.starts_with("carve: error: ") && !report(l)).count() > 0 {
                return Some(format!("more than one line on stderr: {:?}", o.stderr));
            }
            None
        }
        _ => Some(format!("exit code {code}: {}", o.stderr.trim())),
    }
}

/// A progress line of a long step on a non-terminal stderr: `lift:   2% estimating …`.
fn is_progress_line(line: &str) -> bool {
    line.split_once(':').is_some_and(|(step, rest)| {
        !step.contains(' ') && rest.trim_start().split_once('%').is_some_and(|(n, _)| n.trim().parse::<f64>().is_ok())
    })
}

#[test]
fn every_malformed_input_is_one_clear_error() {
    let scratch_root = tempfile::tempdir().expect("tempdir");
    let data_home = scratch_root.path().join("data");
    let mut cases: Vec<Case> = corpus_cases().into_iter().filter(|c| !c.name.starts_with("project/")).collect();
    let listed = cases.len();
    cases.extend(special_cases(&scratch_root.path().join("special")));
    assert!(cases.len() >= 500, "only {} cases", cases.len());

    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let peak = Mutex::new((0i64, String::new()));
    let slowest = Mutex::new((Duration::ZERO, String::new()));
    let runs = AtomicUsize::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for worker in 0..2 {
            let (cases, next, failures, peak, slowest, runs) = (&cases, &next, &failures, &peak, &slowest, &runs);
            let (scratch_root, data_home) = (scratch_root.path(), data_home.as_path());
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = cases.get(i) else { break };
                    let scratch = scratch_root.join(format!("run{worker}_{i}"));
                    std::fs::create_dir_all(&scratch).expect("scratch");
                    for (k, (cmd, must_name)) in command_for(case, &scratch, data_home).into_iter().enumerate() {
                        let o = run_limited(cmd, &scratch.join(format!("stderr{k}.txt")));
                        runs.fetch_add(1, Ordering::Relaxed);
                        if let Some(problem) = judge(case, &must_name, k == 1, &o) {
                            failures.lock().expect("lock").push(format!("{} ({}): {problem}", case.name, case.expect));
                        }
                        let mut p = peak.lock().expect("lock");
                        if o.max_rss_kb > p.0 {
                            *p = (o.max_rss_kb, case.name.clone());
                        }
                        let mut sl = slowest.lock().expect("lock");
                        if o.elapsed > sl.0 {
                            *sl = (o.elapsed, case.name.clone());
                        }
                    }
                    let _ = std::fs::remove_dir_all(&scratch);
                }
            });
        }
    });
    let failures = failures.into_inner().expect("lock");
    let (peak_kb, peak_case) = peak.into_inner().expect("lock");
    let (slow, slow_case) = slowest.into_inner().expect("lock");
    eprintln!(
        "malformed corpus: {} cases ({listed} committed, {} made here), {} runs in {:.1} s, 2 at a time; \
         peak RSS {} MiB ({peak_case}); slowest {:.2} s ({slow_case}); {} failures",
        cases.len(),
        cases.len() - listed,
        runs.load(Ordering::Relaxed),
        start.elapsed().as_secs_f64(),
        peak_kb >> 10,
        slow.as_secs_f64(),
        failures.len()
    );
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

/// Projects are read by the window (open, autosave restore) through `Project::load`: every corpus
/// project, a FIFO, `/dev/zero` and a folder give an error naming the file, never a panic or a hang.
#[test]
#[allow(unsafe_code)]
fn every_malformed_project_is_one_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cases: Vec<Case> = corpus_cases().into_iter().filter(|c| c.name.starts_with("project/")).collect();
    let fifo = dir.path().join("fifo.carve");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let zero = dir.path().join("zero.carve");
    std::os::unix::fs::symlink("/dev/zero", &zero).expect("symlink");
    let folder = dir.path().join("folder.carve");
    std::fs::create_dir(&folder).expect("folder");
    for path in [fifo, zero, folder] {
        cases.push(Case { name: format!("project/special/{}", path.display()), path, expect: "error" });
    }
    assert!(cases.len() >= 10, "{} project cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let path = case.path.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let result =
                std::panic::catch_unwind(|| carve::io::project::Project::load(&path).map_err(|e| e.to_string()));
            let _ = tx.send(result);
        });
        let problem = match rx.recv_timeout(TIMEOUT) {
            Err(_) => Some("hung".to_owned()),
            Ok(Err(_)) => Some("panicked".to_owned()),
            Ok(Ok(Ok(_))) if case.expect == "error" => Some("accepted".to_owned()),
            Ok(Ok(Err(e))) if case.expect == "ok" => Some(format!("refused: {e}")),
            Ok(Ok(Err(e))) => {
                let name = case.path.file_name().unwrap_or_default().to_string_lossy().into_owned();
                (!e.contains(&name) || e.contains('\n')).then(|| format!("not one line naming {name}: {e}"))
            }
            Ok(Ok(Ok(_))) => None,
        };
        if let Some(p) = problem {
            failures.push(format!("{}: {p}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Commands that fail after some of their outputs could have been written leave every
/// pre-existing output byte-identical and no staged file behind; new files get the umask's mode;
/// batch inputs that share a stem never share an output.
#[test]
fn failing_commands_replace_no_output() {
    use std::os::unix::fs::PermissionsExt;
    let root = repo_root();
    let demo = root.join("assets/demo/still_life.jpg");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let data_home = dir.join("data");
    let run = |args: &[&std::ffi::OsStr]| {
        let out = carve(&data_home).args(args).output().expect("run carve");
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let listing = |d: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(d)
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };

    // segment: the mask is written, then --coco names a missing folder.
    let mask = dir.join("mask.png");
    std::fs::write(&mask, b"the previous mask").expect("write");
    let segment_mug = |out: &Path, extra: &[&std::ffi::OsStr]| {
        let mut args: Vec<&std::ffi::OsStr> = ["segment", "--point", "620,480", "--engine", "classical", "--out"]
            .iter()
            .map(std::ffi::OsStr::new)
            .collect();
        args.insert(1, demo.as_os_str());
        args.push(out.as_os_str());
        args.extend(extra);
        run(&args)
    };
    let (code, err) = segment_mug(&mask, &["--coco".as_ref(), dir.join("missing/c.json").as_os_str()]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("missing"), "{err}");
    assert_eq!(std::fs::read(&mask).expect("mask"), b"the previous mask");

    // lift: splats.ply and object.glb would be written, then scene.json is a folder.
    let lift = dir.join("lift");
    std::fs::create_dir_all(lift.join("scene.json")).expect("folder");
    std::fs::write(lift.join("splats.ply"), b"old splats").expect("write");
    std::fs::write(lift.join("object.glb"), b"old mesh").expect("write");
    let (code, err) = run(&[
        "lift".as_ref(),
        demo.as_os_str(),
        "--mask".as_ref(),
        root.join("assets/demo/masks/mug.png").as_os_str(),
        "--iters".as_ref(),
        "0".as_ref(),
        "--voxels".as_ref(),
        "16".as_ref(),
        "--out".as_ref(),
        lift.as_os_str(),
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("scene.json"), "{err}");
    assert_eq!(std::fs::read(lift.join("splats.ply")).expect("ply"), b"old splats");
    assert_eq!(std::fs::read(lift.join("object.glb")).expect("glb"), b"old mesh");
    assert_eq!(listing(&lift), ["object.glb", "scene.json", "splats.ply"], "staged files left behind");

    // body import: the mesh, then an overlay into a missing folder.
    let glb = dir.join("body.glb");
    std::fs::write(&glb, b"old body").expect("write");
    let (code, err) = run(&[
        "body".as_ref(),
        "import".as_ref(),
        root.join("assets/mhr/sam3d_body_output_subj00.npz").as_os_str(),
        "--lod".as_ref(),
        "6".as_ref(),
        "--out".as_ref(),
        glb.as_os_str(),
        "--image".as_ref(),
        demo.as_os_str(),
        "--overlay".as_ref(),
        dir.join("missing/overlay.png").as_os_str(),
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(std::fs::read(&glb).expect("glb"), b"old body");

    // Success: the outputs are replaced, new files get 0666 less the umask (not tempfile's 0600).
    let fresh = dir.join("fresh.png");
    let (code, err) = segment_mug(&fresh, &[]);
    assert_eq!(code, Some(0), "{err}");
    let umask = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Umask:").map(|v| v.trim().to_owned())))
        .and_then(|v| u32::from_str_radix(&v, 8).ok())
        .expect("umask");
    let mode = std::fs::metadata(&fresh).expect("fresh").permissions().mode() & 0o777;
    assert_eq!(mode, 0o666 & !umask);

    // Batch: a.jpg and a.png both segmented, into two files (and the batch's manifest).
    let batch = dir.join("batch");
    std::fs::create_dir_all(&batch).expect("batch");
    let photo = carve::Image::load(&demo).expect("demo");
    photo.save_png(batch.join("a.png")).expect("png");
    std::fs::copy(&demo, batch.join("a.jpg")).expect("jpg");
    let prompts = dir.join("prompts.json");
    std::fs::write(&prompts, r#"{"a.jpg": {"points": [[620, 480]]}, "a.png": {"points": [[620, 480]]}}"#)
        .expect("prompts");
    let masks = dir.join("masks");
    let (code, err) = run(&[
        "segment".as_ref(),
        "--engine".as_ref(),
        "classical".as_ref(),
        "--batch".as_ref(),
        batch.as_os_str(),
        "--prompts".as_ref(),
        prompts.as_os_str(),
        "--out-dir".as_ref(),
        masks.as_os_str(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(listing(&masks), ["a.jpg.png", "a.png.png", "manifest.shard-0000-of-0001.jsonl"]);
}

/// Hostile arguments: a render larger than the device can hold, a megabyte text prompt (refused
/// before tokenising), text with a box, NaN coordinates — one error line each, quickly; a closed
/// stdout is not an error.
#[test]
fn hostile_arguments_are_one_clear_error() {
    let root = repo_root();
    let demo = root.join("assets/demo/still_life.jpg");
    let tmp = tempfile::tempdir().expect("tempdir");
    let mesh = root.join("tests/data/malformed/ply/valid_triangle_ascii.ply");
    let out = tmp.path().join("o.png");
    let huge_text = "cat ".repeat(25_000); // 100k characters (one argument may hold at most 128 KiB)
    let argv =
        |items: &[&std::ffi::OsStr]| -> Vec<std::ffi::OsString> { items.iter().map(|a| a.to_os_string()).collect() };
    let (demo, mesh, out_os) = (demo.as_os_str(), mesh.as_os_str(), out.as_os_str());
    let s = |text: &'static str| std::ffi::OsStr::new(text);
    let cases = [
        (
            argv(&[s("render"), mesh, s("--width"), s("16384"), s("--height"), s("16384"), s("--out"), out_os]),
            "megapixels",
        ),
        (argv(&[s("segment"), demo, s("--text"), huge_text.as_ref(), s("--out"), out_os]), "characters long"),
        (
            argv(&[s("segment"), demo, s("--text"), s("cat"), s("--box"), s("1,1,10,10"), s("--out"), out_os]),
            "cannot be combined",
        ),
        (
            argv(&[s("segment"), demo, s("--point"), s("NaN,1"), s("--engine"), s("classical"), s("--out"), out_os]),
            "point",
        ),
    ];
    for (args, expect) in cases {
        let start = Instant::now();
        let o = carve(tmp.path()).args(&args).output().expect("run carve");
        let err = String::from_utf8_lossy(&o.stderr);
        let shown: String = err.chars().take(300).collect();
        assert_eq!(o.status.code(), Some(1), "{shown}");
        assert_eq!(err.lines().count(), 1, "{shown}");
        assert!(err.starts_with("carve: error: ") && err.contains(expect), "{shown}");
        assert!(start.elapsed() < Duration::from_secs(20), "{shown}: took {:?}", start.elapsed());
    }
    assert!(!out.exists());
    // `carve models --json | true`: the reader is gone before the answer is written.
    let mut child = carve(tmp.path())
        .args(["models", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take());
    let o = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && !err.contains("panicked"), "{err}");
}

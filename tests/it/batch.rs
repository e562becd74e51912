//! Issue 17: batches split across processes — shards by a stable path hash, per-shard manifests,
//! `--resume`, the Slurm and Kubernetes variables, and `carve batch merge` giving the same bytes
//! whatever the shard count (1, 2, 7), the order the shards ran in, and a shard killed mid-run.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common;

/// A folder of `n` photos (a disc on a textured background, in sub-folders) with one click each,
/// plus a file that is no image: the batch goes on past it and records why.
pub fn make_batch(root: &Path, n: usize, size: u32) -> (PathBuf, PathBuf) {
    let dir = root.join("photos");
    for i in 0..n {
        let sub = dir.join(format!("set{}", i % 3));
        std::fs::create_dir_all(&sub).unwrap();
        let (cx, cy, r) = (size as f32 * 0.5 + (i % 5) as f32 * 3.0, size as f32 * 0.45, size as f32 * 0.22);
        let img = image::RgbImage::from_fn(size, size * 3 / 4, |x, y| {
            let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
            let noise = ((x * 7 + y * 13 + i as u32 * 31) % 23) as u8;
            if d < r { image::Rgb([200 + noise, 40, 40 + noise]) } else { image::Rgb([60 + noise, 90, 120 + noise]) }
        });
        img.save(sub.join(format!("img_{i:03}.png"))).unwrap();
    }
    std::fs::write(dir.join("broken.png"), b"not a png").unwrap();
    let mut prompts = serde_json::Map::new();
    for i in 0..n {
        let key = format!("set{}/img_{i:03}.png", i % 3);
        let x = size as f32 * 0.5 + (i % 5) as f32 * 3.0;
        prompts.insert(key, serde_json::json!({"points": [[x, size as f32 * 0.45]]}));
    }
    prompts.insert("broken.png".into(), serde_json::json!({"points": [[5.0, 5.0]]}));
    let prompts_path = root.join("prompts.json");
    std::fs::write(&prompts_path, serde_json::to_vec_pretty(&prompts).unwrap()).unwrap();
    (dir, prompts_path)
}

fn segment(root: &Path, dir: &Path, prompts: &Path, out: &Path) -> Command {
    let mut cmd = common::carve(root);
    cmd.args(["segment", "--engine", "classical", "--batch"])
        .arg(dir)
        .arg("--prompts")
        .arg(prompts)
        .arg("--out-dir")
        .arg(out)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("SLURM_ARRAY_TASK_COUNT")
        .env_remove("SLURM_ARRAY_TASK_MIN")
        .env_remove("JOB_COMPLETION_INDEX");
    cmd
}

fn ok(cmd: &mut Command) -> String {
    let r = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&r.stderr).into_owned();
    assert!(r.status.success(), "{stderr}");
    stderr
}

/// The merged summary and COCO file of an output folder (as text, for readable diffs; compared
/// byte for byte all the same).
fn merged(root: &Path, out: &Path) -> (String, String) {
    let coco = out.join("merged.coco.json");
    ok(common::carve(root).args(["batch", "merge"]).arg(out).arg("--coco").arg(&coco));
    read_merged(out)
}

fn read_merged(out: &Path) -> (String, String) {
    let text = |p: PathBuf| String::from_utf8(std::fs::read(p).unwrap()).unwrap();
    (text(out.join("summary.json")), text(out.join("merged.coco.json")))
}

/// Every file in `out` is a manifest, the merge's output or a PNG a manifest lists (no temporary
/// or half-written file).
fn no_stray_files(out: &Path) {
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let listed: Vec<String> = summary["results"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["outputs"].as_array().unwrap().iter().map(|o| o["path"].as_str().unwrap().to_owned()))
        .collect();
    let mut stack = vec![out.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p.strip_prefix(out).unwrap().to_string_lossy().replace('\\', "/");
            let known = rel.starts_with("manifest") || rel == "summary.json" || rel == "merged.coco.json";
            assert!(known || listed.contains(&rel), "stray file {rel}");
        }
    }
}

#[test]
fn shards_merge_to_the_same_bytes_whatever_the_split_order_or_kill() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (dir, prompts) = make_batch(root, 24, 160);
    // One process.
    let one = root.join("out1");
    let stderr = ok(&mut segment(root, &dir, &prompts, &one));
    assert!(stderr.contains("broken.png"), "the bad file is named: {stderr}");
    let reference = merged(root, &one);
    let summary: serde_json::Value = serde_json::from_str(&reference.0).unwrap();
    assert_eq!(
        (summary["items"].as_u64(), summary["ok"].as_u64(), summary["failed"].as_u64()),
        (Some(25), Some(24), Some(1))
    );
    let coco: serde_json::Value = serde_json::from_str(&reference.1).unwrap();
    assert_eq!(coco["annotations"].as_array().unwrap().len(), 24);
    no_stray_files(&one);

    // Two shards, the second first, into one folder.
    let two = root.join("out2");
    for i in [1, 0] {
        ok(segment(root, &dir, &prompts, &two).arg("--shard").arg(format!("{i}/2")));
    }
    assert_eq!(merged(root, &two), reference, "2 shards");

    // Seven shards as a Slurm job array (--array=1-7: ids from 1) and as a Kubernetes Indexed
    // Job, in a shuffled order.
    let seven = root.join("out7");
    for i in [3u32, 6, 0, 5, 1] {
        ok(segment(root, &dir, &prompts, &seven)
            .env("SLURM_ARRAY_TASK_ID", (i + 1).to_string())
            .env("SLURM_ARRAY_TASK_COUNT", "7")
            .env("SLURM_ARRAY_TASK_MIN", "1"));
    }
    for i in [4u32, 2] {
        ok(segment(root, &dir, &prompts, &seven).env("JOB_COMPLETION_INDEX", i.to_string()).args(["--shards", "7"]));
    }
    let manifests = std::fs::read_dir(&seven)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("manifest.shard-"))
        .count();
    assert_eq!(manifests, 7);
    assert_eq!(merged(root, &seven), reference, "7 shards");
    // An index the job does not have, and --shards without an index: one line each.
    let r = segment(root, &dir, &prompts, &seven)
        .env("JOB_COMPLETION_INDEX", "9")
        .args(["--shards", "7"])
        .output()
        .unwrap();
    assert!(!r.status.success() && String::from_utf8_lossy(&r.stderr).contains("JOB_COMPLETION_INDEX"));
    let r = segment(root, &dir, &prompts, &seven).args(["--shards", "7"]).output().unwrap();
    assert!(!r.status.success() && String::from_utf8_lossy(&r.stderr).contains("--shards 7"));

    // A shard killed mid-run, then resumed: the same bytes, nothing half-written left.
    let killed = root.join("outk");
    for i in 0..2u32 {
        let mut child = segment(root, &dir, &prompts, &killed)
            .arg("--shard")
            .arg(format!("{i}/2"))
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill when the manifest has a line or two.
        let manifest = killed.join(format!("manifest.shard-{i:04}-of-0002.jsonl"));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::fs::read_to_string(&manifest).map(|t| t.lines().count()).unwrap_or(0) < 2
            && std::time::Instant::now() < deadline
            && child.try_wait().unwrap().is_none()
        {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let _ = child.kill();
        let _ = child.wait();
        // A torn line, as a kill during the append would leave.
        use std::io::Write as _;
        std::fs::OpenOptions::new().append(true).open(&manifest).unwrap().write_all(b"{\"item\": \"set0/im").unwrap();
    }
    let mut resumed = 0;
    for i in 0..2u32 {
        let r = segment(root, &dir, &prompts, &killed)
            .arg("--shard")
            .arg(format!("{i}/2"))
            .args(["--resume", "--json"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert!(r.status.success(), "{stderr}");
        assert!(stderr.contains("is done again"), "the torn line is reported: {stderr}");
        let out: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
        resumed += out["images"].as_array().unwrap().iter().filter(|i| i["resumed"] == true).count();
    }
    eprintln!("resumed {resumed} of 25 items after the kills");
    assert!(resumed >= 2, "items finished before the kill are not redone ({resumed})");
    assert!(resumed < 25, "the kills came after the shards had finished: no test of a kill");
    assert_eq!(merged(root, &killed), reference, "killed and resumed");
    no_stray_files(&killed);
}

/// The batch of `make_batch(root, 24, 160)` run in one process and merged: the bytes every other
/// split must give.
fn reference(root: &Path, dir: &Path, prompts: &Path) -> (String, String) {
    let one = root.join("reference");
    ok(&mut segment(root, dir, prompts, &one));
    merged(root, &one)
}

/// The Slurm scripts and the Kubernetes Indexed Job run here as their schedulers would run them:
/// the same commands, with the variables Slurm (`SLURM_ARRAY_TASK_ID`/`_COUNT`/`_MIN`) and
/// Kubernetes (`JOB_COMPLETION_INDEX`) set, tasks in a shuffled order; then their merge steps. The
/// YAML is checked by `tools/k8s/check_job.py` (Indexed, `--shards` = completions, volumes).
#[test]
fn slurm_and_kubernetes_jobs_run_as_their_schedulers_would() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (dir, prompts) = make_batch(root, 24, 160);
    let want = reference(root, &dir, &prompts);
    let repo = common::repo_root();
    let carve = env!("CARGO_BIN_EXE_carve");

    // Slurm: `#SBATCH --array=0-15` by default; submit.sh overrides it with SHARDS. Here 4 tasks
    // numbered from 1 (`--array=1-4`).
    let sbatch = std::fs::read_to_string(repo.join("tools/slurm/carve_array.sbatch")).unwrap();
    assert!(sbatch.contains("#SBATCH --array=") && sbatch.contains("#SBATCH --requeue"));
    let submit = std::fs::read_to_string(repo.join("tools/slurm/submit.sh")).unwrap();
    assert!(submit.contains("--dependency=\"afterok:"), "the merge waits for the whole array");
    let out = root.join("slurm-out");
    for id in [3, 1, 4, 2] {
        let r = Command::new("bash")
            .arg(repo.join("tools/slurm/carve_array.sbatch"))
            .env("XDG_DATA_HOME", root)
            .env_remove("CARVE_MODELS")
            .envs([("INPUT", dir.as_os_str()), ("PROMPTS", prompts.as_os_str()), ("OUT", out.as_os_str())])
            .env("CARVE", carve)
            .env("ENGINE", "classical")
            .env("SLURM_ARRAY_TASK_ID", id.to_string())
            .env("SLURM_ARRAY_TASK_COUNT", "4")
            .env("SLURM_ARRAY_TASK_MIN", "1")
            .output()
            .unwrap();
        assert!(r.status.success(), "task {id}: {}", String::from_utf8_lossy(&r.stderr));
    }
    let r = Command::new("bash")
        .arg(repo.join("tools/slurm/carve_merge.sbatch"))
        .env("OUT", &out)
        .env("CARVE", carve)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(read_merged(&out), want, "Slurm");

    // Kubernetes: the commands of the YAML, /data being this test's folder.
    let check = Command::new(repo.join(".venv/bin/python"))
        .arg(repo.join("tools/k8s/check_job.py"))
        .arg(repo.join("tools/k8s/carve-indexed-job.yaml"))
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    let job: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    let data = root.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::os::unix::fs::symlink(&dir, data.join("photos")).unwrap();
    std::fs::copy(&prompts, data.join("prompts.json")).unwrap();
    let command = |key: &str| -> Vec<String> {
        job[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().replacen("/data", &data.to_string_lossy(), 1))
            .collect()
    };
    let completions = job["completions"].as_u64().unwrap();
    let mut indices: Vec<u64> = (0..completions).collect();
    indices.reverse();
    indices.swap(0, 5);
    for index in indices {
        let cmd = command("batch");
        assert_eq!(cmd[0], "carve");
        let r = common::carve(root).args(&cmd[1..]).env("JOB_COMPLETION_INDEX", index.to_string()).output().unwrap();
        assert!(r.status.success(), "index {index}: {}", String::from_utf8_lossy(&r.stderr));
    }
    let cmd = command("merge");
    let r = common::carve(root).args(&cmd[1..]).output().unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let out = data.join("out");
    assert_eq!(read_merged(&out), want, "Kubernetes");
}

/// Issue 17: `tools/ray_batch.py` on a local Ray cluster of 2 workers, 5 shards, one busy worker
/// killed (SIGKILL, its carve process with it) mid-run: Ray retries the shard, `--resume` skips
/// what it had finished, and the merged result is the same bytes as one process's.
#[test]
fn ray_driver_survives_a_killed_worker_and_merges_the_same_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (dir, prompts) = make_batch(root, 24, 160);
    let want = reference(root, &dir, &prompts);
    let repo = common::repo_root();
    let out = root.join("ray-out");
    let r = Command::new(repo.join(".venv/bin/python"))
        .arg(repo.join("tools/ray_batch.py"))
        .args(["--carve", env!("CARGO_BIN_EXE_carve"), "--shards", "5", "--workers", "2"])
        .args(["--kill-one-worker-after", "0.05", "--"])
        .args(["segment", "--engine", "classical", "--batch"])
        .arg(&dir)
        .arg("--prompts")
        .arg(&prompts)
        .arg("--out-dir")
        .arg(&out)
        .env("XDG_DATA_HOME", root)
        .env_remove("CARVE_MODELS")
        .env("RAY_USAGE_STATS_ENABLED", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{stderr}");
    // Ray's own log lines share stdout; the report is the last line.
    let stdout = String::from_utf8_lossy(&r.stdout);
    let last =
        stdout.lines().rev().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("no report: {stdout}\n{stderr}"));
    let report: serde_json::Value = serde_json::from_str(last).unwrap();
    eprintln!("ray: {report}");
    assert_eq!(report["killed_workers"].as_array().map(Vec::len), Some(1), "a worker was killed: {report}");
    assert_eq!(report["items"], 25);
    assert_eq!(read_merged(&out), want, "Ray, 5 shards, a worker killed");
    no_stray_files(&out);
}

/// `carve lift --batch`: every human label of a labelled folder becomes one lifted object; split
/// over 2 shards (and resumed) it gives the same merged summary — same output files, same content
/// hashes — as one process; pre-labels are not lifted; a label on an unreadable image is recorded
/// and the batch goes on.
#[test]
fn lift_batches_shard_and_resume_like_segmentation() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let dir = root.join("labelled");
    std::fs::create_dir_all(&dir).unwrap();
    let demo = carve::core::demo::still_life();
    let small = image::imageops::resize(demo.rgb(), 256, 192, image::imageops::FilterType::Triangle);
    small.save(dir.join("a.png")).unwrap();
    image::imageops::flip_horizontal(&small).save(dir.join("b.png")).unwrap();
    small.save(dir.join("c.png")).unwrap();
    let (mut d, _) = carve::io::dataset::Dataset::scan(&dir, &[]).unwrap();
    let masks = carve::core::demo::still_life_masks();
    let small_mask = |name: &str, flip: bool| {
        let m = &masks.iter().find(|(n, _)| *n == name).unwrap().1;
        carve::Mask::from_fn(256, 192, |x, y| {
            let x = if flip { 255 - x } else { x };
            m.get(x * m.width() / 256, y * m.height() / 192)
        })
    };
    use carve::io::dataset::Origin;
    d.add(1, "mug", &small_mask("mug", false), Origin::Human).unwrap();
    d.add(1, "ball", &small_mask("ball", false), Origin::Human).unwrap();
    d.add(2, "mug", &small_mask("mug", true), Origin::Human).unwrap();
    d.add(2, "ball", &small_mask("ball", true), Origin::Prelabel { engine: "sam3".into(), score: 0.9 }).unwrap();
    d.add(3, "ball", &small_mask("ball", false), Origin::Human).unwrap();
    d.save(&dir.join("dataset.json")).unwrap();
    std::fs::write(dir.join("c.png"), b"gone bad").unwrap();
    let lift = |out: &Path, extra: &[&str]| {
        let r = common::carve(root)
            .args(["lift", "--batch"])
            .arg(&dir)
            .arg("--out")
            .arg(out)
            .args(["--voxels", "24", "--iters", "0", "--json"])
            .args(extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&r.stderr).into_owned();
        assert!(r.status.success(), "{stderr}");
        (serde_json::from_slice::<serde_json::Value>(&r.stdout).unwrap(), stderr)
    };
    let summary = |out: &Path| {
        ok(common::carve(root).args(["batch", "merge"]).arg(out));
        std::fs::read_to_string(out.join("summary.json")).unwrap()
    };
    let one = root.join("lift1");
    let (report, stderr) = lift(&one, &[]);
    assert_eq!((report["ok"].as_u64(), report["failed"].as_u64()), (Some(3), Some(1)), "{report}");
    assert!(stderr.contains("c.png"), "the unreadable image is named: {stderr}");
    for object in ["a.png/mug_1", "a.png/ball_2", "b.png/mug_3"] {
        for file in ["splats.ply", "splats.glb", "object.glb", "scene.json"] {
            assert!(one.join(object).join(file).is_file(), "{object}/{file}");
        }
    }
    assert!(!one.join("b.png/ball_4").exists(), "a pre-label is not lifted");
    let want = summary(&one);
    let two = root.join("lift2");
    for shard in ["1/2", "0/2"] {
        lift(&two, &["--shard", shard]);
    }
    assert_eq!(summary(&two), want, "2 shards");
    let (again, _) = lift(&two, &["--shard", "0/2", "--resume"]);
    assert!(again["objects"].as_array().unwrap().iter().filter(|o| o["ok"] == true).all(|o| o["resumed"] == true));
    // --coco is for masks.
    let r =
        common::carve(root).args(["batch", "merge"]).arg(&two).arg("--coco").arg(root.join("x.json")).output().unwrap();
    assert!(!r.status.success() && String::from_utf8_lossy(&r.stderr).contains("no masks"));
}

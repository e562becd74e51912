//! Batches split across machines, by an engine people already run (Ray, Slurm job arrays,
//! Kubernetes Indexed Jobs): [`Shard`] says which items a process owns — a stable hash (xxh3-64)
//! of each item's path relative to the batch folder, modulo the shard count, so every process
//! computes the same partition without talking to the others — and [`Manifest`] is a shard's
//! record of what it did (JSON lines: item, status, output files and their content hashes, error,
//! engine, precision, timings), which `--resume` reads to skip finished items and which
//! `carve batch merge` folds into one summary.
//!
//! The manifest is appended one line per item (a kill loses at most the line being written; a
//! torn or corrupt line is reported and its item redone) and rewritten at the end of a run with
//! one line per item, in item order.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One process's share of a batch: items whose hash modulo `count` is `index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// 0-based.
    pub index: u32,
    pub count: u32,
}

/// Why a shard could not be worked out.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ShardError {
    #[error("--shard {0:?}: give I/N with 0 ≤ I < N (e.g. 0/4)")]
    Malformed(String),
    #[error("{name}={value:?}: {problem}")]
    Env { name: &'static str, value: String, problem: String },
    #[error("JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job): give the job's completions as --shards N")]
    NeedsCount,
}

impl std::str::FromStr for Shard {
    type Err = ShardError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ShardError::Malformed(s.to_owned());
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        Shard::new(index, count).ok_or_else(bad)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    pub fn new(index: u32, count: u32) -> Option<Self> {
        (count > 0 && index < count).then_some(Self { index, count })
    }

    /// The whole batch in one process.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// The shard of an item: xxh3-64 of its `/`-separated path relative to the batch folder,
    /// modulo the count (the same on every machine and every run).
    pub fn of_item(item: &str, count: u32) -> u32 {
        (xxhash_rust::xxh3::xxh3_64(item.as_bytes()) % u64::from(count.max(1))) as u32
    }

    /// Whether this shard owns `item`.
    pub fn owns(&self, item: &str) -> bool {
        Shard::of_item(item, self.count) == self.index
    }

    /// The shard the scheduler gave this process, read from `env` (the process environment in
    /// `carve`): Slurm job arrays (`SLURM_ARRAY_TASK_ID`, `SLURM_ARRAY_TASK_COUNT`, less
    /// `SLURM_ARRAY_TASK_MIN` when the array does not start at 0), or a Kubernetes Indexed Job
    /// (`JOB_COMPLETION_INDEX`, with `shards` from `--shards N`). `None`: neither is set.
    pub fn from_env(env: impl Fn(&str) -> Option<String>, shards: Option<u32>) -> Result<Option<Self>, ShardError> {
        let number = |name: &'static str| -> Result<Option<u32>, ShardError> {
            env(name)
                .map(|v| {
                    v.trim().parse::<u32>().map_err(|_| ShardError::Env {
                        name,
                        value: v.clone(),
                        problem: "not a non-negative integer".into(),
                    })
                })
                .transpose()
        };
        if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
            let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let count = match (number("SLURM_ARRAY_TASK_COUNT")?, shards) {
                (Some(c), _) | (None, Some(c)) => c,
                (None, None) => {
                    return Err(ShardError::Env {
                        name: "SLURM_ARRAY_TASK_COUNT",
                        value: String::new(),
                        problem: "unset (Slurm sets it for job arrays; or give --shards N)".into(),
                    });
                }
            };
            let index = id.checked_sub(min).ok_or_else(|| ShardError::Env {
                name: "SLURM_ARRAY_TASK_ID",
                value: id.to_string(),
                problem: format!("below SLURM_ARRAY_TASK_MIN={min}"),
            })?;
            return Shard::new(index, count).map(Some).ok_or_else(|| ShardError::Env {
                name: "SLURM_ARRAY_TASK_ID",
                value: id.to_string(),
                problem: format!("task {index} (from {min}) is not below the array's {count} tasks"),
            });
        }
        if let Some(index) = number("JOB_COMPLETION_INDEX")? {
            let count = shards.ok_or(ShardError::NeedsCount)?;
            return Shard::new(index, count).map(Some).ok_or_else(|| ShardError::Env {
                name: "JOB_COMPLETION_INDEX",
                value: index.to_string(),
                problem: format!("not below --shards {count}"),
            });
        }
        Ok(None)
    }

    /// The manifest file of this shard in the output folder.
    pub fn manifest_name(&self) -> String {
        format!("manifest.shard-{:04}-of-{:04}.jsonl", self.index, self.count)
    }
}

/// How a batch is split and resumed.
#[derive(Clone, Copy, Debug)]
pub struct BatchOptions {
    /// The items this process does.
    pub shard: Shard,
    /// Skip items the shard's manifest records as done whose outputs are intact.
    pub resume: bool,
}

impl Default for BatchOptions {
    fn default() -> Self {
        Self { shard: Shard::ALL, resume: false }
    }
}

/// An output file of an item: its path relative to the output folder and its content hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputFile {
    pub path: String,
    /// xxh3-128 of the file's bytes, hex.
    pub xxh3: String,
}

impl OutputFile {
    /// The entry of `path` (inside `out_dir`), hashing the file as it is now.
    pub fn of(out_dir: &Path, path: &Path) -> std::io::Result<Self> {
        let rel = path.strip_prefix(out_dir).unwrap_or(path);
        let rel = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
        Ok(Self { path: rel, xxh3: hash_file(path)? })
    }

    /// Whether the file is there with the same content.
    pub fn is_intact(&self, out_dir: &Path) -> bool {
        hash_file(&out_dir.join(&self.path)).is_ok_and(|h| h == self.xxh3)
    }
}

/// xxh3-128 of a file's bytes, hex.
pub fn hash_file(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    Ok(format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&bytes)))
}

/// What happened to one item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    Ok,
    Failed,
}

/// One line of a shard's manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ManifestLine {
    /// The item's path relative to the batch folder, `/`-separated.
    pub item: String,
    pub status: ItemStatus,
    #[serde(default)]
    pub outputs: Vec<OutputFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<String>,
    /// The score of the item's output (a segmentation: its best mask's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
    /// The output's class or concept, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Step name → milliseconds.
    #[serde(default)]
    pub timings_ms: BTreeMap<String, f64>,
    pub shard: Shard,
}

impl ManifestLine {
    /// Whether the item is done and its outputs are on disk unchanged (`--resume` skips it).
    pub fn is_done(&self, out_dir: &Path) -> bool {
        self.status == ItemStatus::Ok && self.outputs.iter().all(|o| o.is_intact(out_dir))
    }
}

/// Why a manifest could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct ManifestError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// A shard's manifest: the lines read back (for `--resume`) and the file new lines go to.
pub struct Manifest {
    path: PathBuf,
    /// The latest line of each item.
    lines: BTreeMap<String, ManifestLine>,
    /// Problems with lines read back (`file:line: why`); their items are redone.
    pub corrupt: Vec<String>,
}

impl Manifest {
    /// The manifest at `path`, its lines read back when `resume` (else it starts empty and the
    /// file is replaced by the first line written).
    pub fn open(path: &Path, resume: bool) -> Result<Self, ManifestError> {
        let mut manifest = Self { path: path.to_owned(), lines: BTreeMap::new(), corrupt: Vec::new() };
        if resume && path.exists() {
            let (lines, corrupt) =
                read_lines(path).map_err(|source| ManifestError { path: path.to_owned(), source })?;
            manifest.corrupt = corrupt;
            for line in lines {
                manifest.lines.insert(line.item.clone(), line);
            }
        } else if path.exists() {
            std::fs::remove_file(path).map_err(|source| ManifestError { path: path.to_owned(), source })?;
        }
        Ok(manifest)
    }

    /// The line of `item` read back, if it is done and its outputs are intact.
    pub fn done(&self, item: &str, out_dir: &Path) -> Option<&ManifestLine> {
        self.lines.get(item).filter(|l| l.is_done(out_dir))
    }

    /// Appends `line` (one write, then flushed to disk).
    pub fn append(&mut self, line: ManifestLine) -> Result<(), ManifestError> {
        let err = |source| ManifestError { path: self.path.clone(), source };
        let mut text = serde_json::to_string(&line).map_err(|e| err(e.into()))?;
        text.push('\n');
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&self.path).map_err(err)?;
        file.write_all(text.as_bytes()).map_err(err)?;
        file.sync_data().map_err(err)?;
        self.lines.insert(line.item.clone(), line);
        Ok(())
    }

    /// Rewrites the file atomically with the latest line of every item, in item order.
    pub fn compact(&self) -> Result<(), ManifestError> {
        let mut text = String::new();
        for line in self.lines.values() {
            text.push_str(
                &serde_json::to_string(line)
                    .map_err(|e| ManifestError { path: self.path.clone(), source: e.into() })?,
            );
            text.push('\n');
        }
        crate::core::fs::write_atomic(&self.path, text.as_bytes())
            .map_err(|e| ManifestError { path: self.path.clone(), source: e.source })
    }

    /// The latest line of every item, in item order.
    pub fn lines(&self) -> impl Iterator<Item = &ManifestLine> {
        self.lines.values()
    }
}

/// The lines of a manifest file, and a `file:line: why` for each one that does not parse.
pub fn read_lines(path: &Path) -> std::io::Result<(Vec<ManifestLine>, Vec<String>)> {
    let text = crate::core::fs::read_input_string(path, crate::core::fs::InputLimit::Data).map_err(|e| e.source)?;
    let (mut lines, mut corrupt) = (Vec::new(), Vec::new());
    for (n, raw) in text.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<ManifestLine>(raw) {
            Ok(line) => lines.push(line),
            Err(e) => corrupt.push(format!("{}:{}: {e}", path.display(), n + 1)),
        }
    }
    Ok((lines, corrupt))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn shards_parse_and_partition_every_item_once() {
        assert_eq!("2/7".parse::<Shard>(), Ok(Shard { index: 2, count: 7 }));
        for bad in ["7/7", "1", "a/2", "-1/3", "0/0", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        let items: Vec<String> = (0..500).map(|i| format!("sub/{i}.jpg")).collect();
        for n in [1u32, 2, 7] {
            let mut counts = vec![0; n as usize];
            for item in &items {
                let owners: Vec<u32> = (0..n).filter(|&i| Shard { index: i, count: n }.owns(item)).collect();
                assert_eq!(owners.len(), 1);
                counts[owners[0] as usize] += 1;
            }
            // Balanced within a few per cent of 500/n.
            assert!(counts.iter().all(|&c| (c as f64 - 500.0 / n as f64).abs() < 25.0), "{counts:?}");
        }
        // Stable across builds and machines: xxh3-64 of the bytes.
        assert_eq!(Shard::of_item("a.jpg", 1000), (xxhash_rust::xxh3::xxh3_64(b"a.jpg") % 1000) as u32);
    }

    #[test]
    fn scheduler_variables_map_to_shards() {
        // Slurm job array 0-6.
        let slurm = env_of(&[("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_COUNT", "7")]);
        assert_eq!(Shard::from_env(slurm, None), Ok(Some(Shard { index: 3, count: 7 })));
        // Slurm array 1-4 (`--array=1-4`): SLURM_ARRAY_TASK_MIN=1.
        let slurm =
            env_of(&[("SLURM_ARRAY_TASK_ID", "4"), ("SLURM_ARRAY_TASK_COUNT", "4"), ("SLURM_ARRAY_TASK_MIN", "1")]);
        assert_eq!(Shard::from_env(slurm, None), Ok(Some(Shard { index: 3, count: 4 })));
        let over = env_of(&[("SLURM_ARRAY_TASK_ID", "9"), ("SLURM_ARRAY_TASK_COUNT", "4")]);
        assert!(Shard::from_env(over, None).is_err());
        let junk = env_of(&[("SLURM_ARRAY_TASK_ID", "x"), ("SLURM_ARRAY_TASK_COUNT", "4")]);
        assert!(matches!(Shard::from_env(junk, None), Err(ShardError::Env { name: "SLURM_ARRAY_TASK_ID", .. })));
        // Kubernetes Indexed Job: the index, and the completions as --shards.
        let k8s = env_of(&[("JOB_COMPLETION_INDEX", "1")]);
        assert_eq!(Shard::from_env(&k8s, Some(2)), Ok(Some(Shard { index: 1, count: 2 })));
        assert_eq!(Shard::from_env(&k8s, None), Err(ShardError::NeedsCount));
        assert!(Shard::from_env(&k8s, Some(1)).is_err());
        assert_eq!(Shard::from_env(env_of(&[]), Some(3)), Ok(None));
    }

    #[test]
    fn manifests_resume_and_report_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        std::fs::write(out.join("a.png"), b"aaa").unwrap();
        let path = out.join(Shard::ALL.manifest_name());
        let line = |item: &str| ManifestLine {
            item: item.into(),
            status: ItemStatus::Ok,
            outputs: vec![OutputFile::of(out, &out.join("a.png")).unwrap()],
            error: None,
            engine: Some("classical".into()),
            precision: None,
            score: None,
            label: None,
            timings_ms: BTreeMap::new(),
            shard: Shard::ALL,
        };
        let mut m = Manifest::open(&path, false).unwrap();
        m.append(line("a.jpg")).unwrap();
        m.append(line("b.jpg")).unwrap();
        // A torn last line (a kill mid-write).
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"item\": \"c.j").unwrap();
        let m = Manifest::open(&path, true).unwrap();
        assert_eq!(m.corrupt.len(), 1, "{:?}", m.corrupt);
        assert!(m.corrupt[0].contains(":3:"));
        assert!(m.done("a.jpg", out).is_some());
        // An output changed on disk: the item is redone.
        std::fs::write(out.join("a.png"), b"changed").unwrap();
        assert!(m.done("a.jpg", out).is_none());
        m.compact().unwrap();
        let (lines, corrupt) = read_lines(&path).unwrap();
        assert_eq!((lines.len(), corrupt.len()), (2, 0));
        // Without --resume the manifest starts afresh.
        let m = Manifest::open(&path, false).unwrap();
        assert_eq!(m.lines().count(), 0);
        assert!(!path.exists());
    }
}

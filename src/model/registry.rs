//! Finding model folders: the search path (`--models`, `$CARVE_MODELS`, the user data folder)
//! and a validity report per folder (manifest readable, files present).

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::ModelError;
use super::manifest::{Manifest, ModelKind, Weights};

/// Where a search folder came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchOrigin {
    /// `--models DIR` on the command line or the model-folder picker.
    Explicit,
    /// `$CARVE_MODELS`.
    Environment,
    /// The user data folder.
    UserData,
}

/// One folder of the search path.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SearchDir {
    pub path: PathBuf,
    pub origin: SearchOrigin,
    pub exists: bool,
}

/// The user data folder for models (`$XDG_DATA_HOME/carve/models`, i.e.
/// `~/.local/share/carve/models` on Linux).
pub fn user_models_dir() -> Option<PathBuf> {
    dirs::data_dir().map(|d| d.join("carve").join("models"))
}

/// The search path in priority order: `explicit`, each entry of `carve_models_env` (the value of
/// `$CARVE_MODELS`, a `:`-separated list), then the user data folder. A missing explicit folder is
/// an error (the user named it); missing others are listed with `exists: false`.
pub fn search_dirs(
    explicit: Option<&Path>,
    carve_models_env: Option<&std::ffi::OsStr>,
) -> Result<Vec<SearchDir>, ModelError> {
    let mut dirs = Vec::new();
    if let Some(path) = explicit {
        if !path.is_dir() {
            return Err(ModelError::NoSuchFolder { path: path.to_owned() });
        }
        dirs.push(SearchDir { path: path.to_owned(), origin: SearchOrigin::Explicit, exists: true });
    }
    if let Some(env) = carve_models_env {
        for path in std::env::split_paths(env).filter(|p| !p.as_os_str().is_empty()) {
            let exists = path.is_dir();
            dirs.push(SearchDir { path, origin: SearchOrigin::Environment, exists });
        }
    }
    if let Some(path) = user_models_dir() {
        let exists = path.is_dir();
        dirs.push(SearchDir { path, origin: SearchOrigin::UserData, exists });
    }
    Ok(dirs)
}

/// The name of the environment variable that adds model folders to the search path.
pub const MODELS_ENV: &str = "CARVE_MODELS";

/// The search path as the user set it up: `explicit` (`--models`), then `$CARVE_MODELS`, then
/// the user data folder. The one place Carve reads `$CARVE_MODELS`.
pub fn search_dirs_from_env(explicit: Option<&Path>) -> Result<Vec<SearchDir>, ModelError> {
    let env = std::env::var_os(MODELS_ENV);
    search_dirs(explicit, env.as_deref())
}

/// Every model folder on the search path of [`search_dirs_from_env`].
pub fn discover(explicit: Option<&Path>) -> Result<Vec<ModelFolder>, ModelError> {
    Ok(find_models(&search_dirs_from_env(explicit)?))
}

/// A model folder and what is wrong with it, if anything.
#[derive(Clone, Debug, Serialize)]
pub struct ModelFolder {
    pub path: PathBuf,
    pub origin: SearchOrigin,
    /// The kind named by the manifest, when it could be read.
    pub kind: Option<ModelKind>,
    pub name: Option<String>,
    pub weights: Option<Weights>,
    /// Manifest readable and every file present.
    pub valid: bool,
    /// Human-readable problems, each naming the file.
    pub problems: Vec<String>,
    #[serde(skip)]
    pub manifest: Option<Manifest>,
}

impl ModelFolder {
    /// Reads and checks the folder at `path` (which holds `manifest.toml`).
    pub fn inspect(path: &Path, origin: SearchOrigin) -> Self {
        let manifest_path = path.join("manifest.toml");
        let mut folder = ModelFolder {
            path: path.to_owned(),
            origin,
            kind: None,
            name: None,
            weights: None,
            valid: false,
            problems: Vec::new(),
            manifest: None,
        };
        match Manifest::load(&manifest_path) {
            Err(e) => folder.problems.push(e.to_string()),
            Ok(manifest) => {
                for missing in manifest.missing_files(path) {
                    folder
                        .problems
                        .push(ModelError::MissingFile { path: missing, manifest: manifest_path.clone() }.to_string());
                }
                // Model files are resolved with links followed and must stay in the folder: a
                // manifest (or a link beside it) cannot make Carve load a file from elsewhere.
                let real_folder = path.canonicalize().unwrap_or_else(|_| path.to_owned());
                for file in manifest.files.values().map(|f| path.join(f)) {
                    if let Ok(real) = file.canonicalize()
                        && !real.starts_with(&real_folder)
                    {
                        folder.problems.push(format!(
                            "{}: resolves to {}, outside the model folder; model files must be inside it",
                            file.display(),
                            real.display()
                        ));
                    }
                }
                folder.kind = Some(manifest.kind.clone());
                folder.name = Some(manifest.name.clone());
                folder.weights = Some(manifest.weights);
                folder.valid = folder.problems.is_empty();
                folder.manifest = Some(manifest);
            }
        }
        folder
    }
}

/// Every model folder in the search path, in search order (a folder found twice is listed once).
pub fn find_models(dirs: &[SearchDir]) -> Vec<ModelFolder> {
    let mut found: Vec<ModelFolder> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for dir in dirs.iter().filter(|d| d.exists) {
        let mut candidates = Vec::new();
        if dir.path.join("manifest.toml").exists() {
            candidates.push(dir.path.clone());
        } else if let Ok(entries) = std::fs::read_dir(&dir.path) {
            let mut children: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_dir() && p.join("manifest.toml").exists())
                .collect();
            children.sort();
            candidates.extend(children);
        }
        if candidates.is_empty() && dir.origin == SearchOrigin::Explicit {
            // The user named this folder: say that nothing in it is a model folder.
            found.push(ModelFolder {
                path: dir.path.clone(),
                origin: dir.origin,
                kind: None,
                name: None,
                weights: None,
                valid: false,
                problems: vec![format!(
                    "{}: no manifest.toml in this folder or its sub-folders (a model folder comes from tools/export_*.py)",
                    dir.path.display()
                )],
                manifest: None,
            });
        }
        for path in candidates {
            let key = path.canonicalize().unwrap_or_else(|_| path.clone());
            if seen.insert(key) {
                found.push(ModelFolder::inspect(&path, dir.origin));
            }
        }
    }
    found
}

/// The first valid model of `kind` in `models`.
pub fn first_valid<'a>(models: &'a [ModelFolder], kind: &ModelKind) -> Option<&'a ModelFolder> {
    models.iter().find(|m| m.valid && m.kind.as_ref() == Some(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn finds_valid_and_broken_folders() {
        let root = tempfile::tempdir().unwrap();
        let ok = root.path().join("ok");
        write(&ok.join("manifest.toml"), "format = 1\nkind = \"depth\"\nname = \"d\"\n[files]\nmodel = \"m.pt\"\n");
        write(&ok.join("m.pt"), "x");
        let missing = root.path().join("missing");
        write(
            &missing.join("manifest.toml"),
            "format = 1\nkind = \"depth\"\nname = \"d\"\n[files]\nmodel = \"gone.pt\"\n",
        );
        let broken = root.path().join("broken");
        write(&broken.join("manifest.toml"), "kind = ");
        std::fs::create_dir_all(root.path().join("not-a-model")).unwrap();

        let dirs = search_dirs(Some(root.path()), None).unwrap();
        let models = find_models(&dirs);
        assert_eq!(models.len(), 3);
        let by_name = |n: &str| models.iter().find(|m| m.path.ends_with(n)).unwrap();
        assert!(by_name("ok").valid);
        assert!(!by_name("missing").valid);
        assert!(by_name("missing").problems[0].contains("gone.pt"));
        assert!(!by_name("broken").valid);
        assert!(by_name("broken").problems[0].contains("broken/manifest.toml"));
        assert_eq!(first_valid(&models, &ModelKind::Depth).unwrap().path, ok);
        assert!(first_valid(&models, &ModelKind::Sam3).is_none());

        // A search folder that is itself a model folder; duplicates are listed once.
        let env = std::env::join_paths([ok.clone(), root.path().to_owned()]).unwrap();
        let dirs = search_dirs(None, Some(&env)).unwrap();
        assert_eq!(find_models(&dirs).len(), 3);
    }

    #[test]
    fn explicit_folder_must_exist() {
        let err = search_dirs(Some(Path::new("/no/such/carve/models")), None).unwrap_err();
        assert!(err.to_string().contains("/no/such/carve/models"));
    }
}

//! The layering of `src/`, checked from the source text (a second reader, independent of the
//! compiler's view): each layer names only the layers above it —
//! core → io, model → segment, lift, body → render → app and the CLI binary —
//! and the graph of modules has no cycle. Comments are ignored; `crate::x`, `carve::x` and
//! `use crate::{x, …}` are all seen.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules of the library, by layer (lower index = lower layer).
const LAYERS: &[(&str, &[&str])] = &[
    ("core", &["core"]),
    ("io/model", &["io", "model"]),
    ("pipelines", &["segment", "lift", "body"]),
    ("render", &["render"]),
    ("front ends", &["app"]),
];

/// What each module may name besides itself and `core` (`None`: anything).
fn allowed(module: &str) -> Option<&'static [&'static str]> {
    match module {
        "core" => Some(&[]),
        // File formats know core types only; models may read files.
        "io" => Some(&[]),
        "model" => Some(&["io"]),
        // Pipelines name core, io and model, and never one another.
        "segment" | "lift" | "body" => Some(&["io", "model"]),
        // The renderer draws core geometry and knows nothing of files, models, pipelines or egui.
        "render" => Some(&[]),
        _ => None,
    }
}

/// External crates a layer must not use.
fn forbidden_crates(module: &str) -> &'static [&'static str] {
    match module {
        "core" => &["egui", "eframe", "egui_wgpu", "wgpu", "tch", "rfd", "indicatif"],
        "io" | "model" | "segment" | "lift" | "body" => &["egui", "eframe", "egui_wgpu", "wgpu", "rfd", "indicatif"],
        "render" => &["egui", "eframe", "egui_wgpu", "tch", "rfd", "indicatif"],
        _ => &[],
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source without comments (line comments, doc comments, block comments); string literals
/// are kept (a path inside a string is not a dependency, but none of ours look like one).
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let (mut i, mut in_str) = (0, false);
    while i < bytes.len() {
        let c = bytes[i];
        if in_str {
            out.push(c as char);
            if c == b'\\' && i + 1 < bytes.len() {
                out.push(bytes[i + 1] as char);
                i += 2;
                continue;
            }
            in_str = c != b'"';
            i += 1;
        } else if c == b'"' {
            in_str = true;
            out.push('"');
            i += 1;
        } else if text[i..].starts_with("//") {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if text[i..].starts_with("/*") {
            i = text[i + 2..].find("*/").map_or(bytes.len(), |j| i + 2 + j + 2);
        } else {
            out.push(c as char);
            i += 1;
        }
    }
    out
}

/// Library modules named by `text` (as `crate::x…`, `carve::x…` or inside `use crate::{…}`),
/// each with its second path segment when there is one (`core::image`).
fn named_modules(text: &str, root: &str) -> BTreeSet<String> {
    let code = strip_comments(text);
    let mut found = BTreeSet::new();
    let prefix = format!("{root}::");
    let ident = |s: &str| -> String { s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect() };
    for (at, _) in code.match_indices(&prefix) {
        // Only whole path roots: `crate::` not preceded by an identifier character.
        if at > 0 && code[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a::b, c}`: the top-level names of the group.
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    _ => {}
                }
                if c == ',' && depth == 0 {
                    found.insert(module_path(item.trim()));
                    item.clear();
                } else {
                    item.push(c);
                }
            }
            if !item.trim().is_empty() {
                found.insert(module_path(item.trim()));
            }
            continue;
        }
        let first = ident(rest);
        let second = rest[first.len()..].strip_prefix("::").map(ident).unwrap_or_default();
        found.insert(if second.is_empty() { first } else { format!("{first}::{second}") });
    }
    found.retain(|m| !m.is_empty());
    found
}

fn module_path(item: &str) -> String {
    item.split("::")
        .take(2)
        .map(|s| s.trim_matches(|c: char| !(c.is_alphanumeric() || c == '_')))
        .collect::<Vec<_>>()
        .join("::")
}

/// The module a source file belongs to: `src/core/image.rs` → `core::image`, `src/io/mod.rs` →
/// `io`, `src/io/ply/read.rs` → `io::ply`.
fn file_module(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts.truncate(2);
    parts.join("::")
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

fn library_sources() -> (PathBuf, Vec<PathBuf>) {
    let src = crate::common::repo_root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.retain(|f| !f.starts_with(src.join("bin")) && f.file_name().is_some_and(|n| n != "lib.rs"));
    files.sort();
    assert!(files.len() > 30, "too few sources found under {}", src.display());
    (src, files)
}

#[test]
fn each_layer_names_only_the_layers_above_it() {
    let (src, files) = library_sources();
    let known: BTreeSet<&str> = LAYERS.iter().flat_map(|(_, m)| m.iter().copied()).collect();
    let mut violations = Vec::new();
    for file in &files {
        let module = file_module(&src, file);
        let layer_top = top(&module).to_owned();
        assert!(known.contains(layer_top.as_str()), "{}: module '{layer_top}' is in no layer", file.display());
        let text = std::fs::read_to_string(file).unwrap();
        if let Some(allowed) = allowed(&layer_top) {
            for named in named_modules(&text, "crate") {
                let t = top(&named);
                if t != layer_top && t != "core" && !allowed.contains(&t) && known.contains(t) {
                    violations.push(format!("{}: {layer_top} names crate::{named}", file.display()));
                }
            }
        }
        let code = strip_comments(&text);
        for krate in forbidden_crates(&layer_top) {
            let pattern = format!("{krate}::");
            let uses = code.match_indices(&pattern).any(|(at, _)| {
                !code[..at].chars().next_back().is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
            });
            if uses {
                violations.push(format!("{}: {layer_top} uses the {krate} crate", file.display()));
            }
        }
    }
    assert!(violations.is_empty(), "layering violations:\n{}", violations.join("\n"));
}

#[test]
fn the_module_graph_has_no_cycle() {
    let (src, files) = library_sources();
    // Edges between top-level modules, and between the submodules of `core` (the bottom layer
    // must be a clean DAG itself: image, mask, camera… never in a loop).
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let module = file_module(&src, file);
        let from_top = top(&module).to_owned();
        let text = std::fs::read_to_string(file).unwrap();
        for named in named_modules(&text, "crate") {
            let to_top = top(&named).to_owned();
            if to_top != from_top {
                edges.entry(from_top.clone()).or_default().insert(to_top);
            } else if from_top == "core" && named.contains("::") && module.contains("::") && named != module {
                edges.entry(module.clone()).or_default().insert(named);
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_owned(), 1);
        stack.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            match state.get(next.as_str()).copied().unwrap_or(0) {
                1 => {
                    let start = stack.iter().position(|n| n == next).unwrap_or(0);
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(next, edges, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in edges.keys() {
        if state.get(node.as_str()).copied().unwrap_or(0) == 0
            && let Some(cycle) = visit(node, &edges, &mut state, &mut Vec::new())
        {
            panic!("module cycle: {}", cycle.join(" → "));
        }
    }
    // The check itself must be able to fail: a cycle planted in a copy of the graph is found.
    let mut planted = edges.clone();
    planted.entry("core".into()).or_default().insert("render".into());
    planted.entry("render".into()).or_default().insert("core".into());
    let found = planted.keys().any(|n| visit(n, &planted, &mut BTreeMap::new(), &mut Vec::new()).is_some());
    assert!(found, "the cycle finder missed a planted cycle");
}

#[test]
fn the_scanner_sees_every_form_of_path() {
    let text = "use crate::{io::ply, render::Scene};\n// crate::app in a comment\nfn f() { crate::lift::lift(); carve::segment::x(); }\n/* crate::body */";
    let named = named_modules(text, "crate");
    assert_eq!(named.into_iter().collect::<Vec<_>>(), ["io::ply", "lift::lift", "render::Scene"]);
    assert_eq!(named_modules(text, "carve").into_iter().collect::<Vec<_>>(), ["segment::x"]);
    assert_eq!(
        file_module(Path::new("/r/src"), Path::new("/r/src/io/ply/read.rs")),
        "io::ply",
        "files of a folder module belong to it"
    );
}

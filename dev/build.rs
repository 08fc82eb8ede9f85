//! Embeds the web chat: every file under `dev/web/` and the client library's build
//! (`clients/js/dist/` but its Node entry, served under `/lib/`) become `(url path, bytes)`
//! pairs in `$OUT_DIR/web_assets.rs`, so the binary needs no files at run time and a new
//! module in either folder needs no Rust change.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let web = manifest.join("web");
    let lib = manifest.join("../clients/js/dist");
    println!("cargo:rerun-if-changed={}", web.display());
    println!("cargo:rerun-if-changed={}", lib.display());

    let mut assets = Vec::new();
    collect(&web, "/", &mut assets);
    let before = assets.len();
    collect(&lib, "/lib/", &mut assets);
    if assets.len() == before {
        println!(
            "cargo:warning=the client library's build ({}) is missing: the web chat will not \
             start (build it in clients/js)",
            lib.display()
        );
    }

    let mut out = String::from("/// `(url path, file)` for every embedded web file.\n");
    out.push_str("pub static ASSETS: &[(&str, &[u8])] = &[\n");
    for (url, path) in &assets {
        let _ = writeln!(
            out,
            "    ({url:?}, include_bytes!({:?})),",
            path.display().to_string()
        );
    }
    out.push_str("];\n");
    let dest =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it")).join("web_assets.rs");
    std::fs::write(dest, out).expect("write web_assets.rs");
}

/// Adds the files under `dir` (recursively, sorted, skipping what browsers never load: dot
/// files, TypeScript declarations and the library's Node entry) as `prefix` + their relative
/// path. A missing `dir` adds nothing.
fn collect(dir: &Path, prefix: &str, assets: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if name.starts_with('.') || name.ends_with(".d.ts") || name == "node.js" {
            continue;
        }
        if path.is_dir() {
            collect(&path, &format!("{prefix}{name}/"), assets);
        } else {
            let absolute = path.canonicalize().unwrap_or(path);
            assets.push((format!("{prefix}{name}"), absolute));
        }
    }
}

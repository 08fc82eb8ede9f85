//! Node.js projects the tests run (a real client library, our own, a browser driver): a folder
//! with its own `package.json` and lock file, installed with `npm ci` the first time, and
//! programs run in it. `scripts/test` installs Node.js and npm.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// One folder holding a Node.js project.
pub struct NodeProject {
    dir: PathBuf,
}

impl NodeProject {
    /// The project in `path`, relative to the `tests` crate (`discord-legacy`, `../clients/js`).
    pub fn at(path: &str) -> NodeProject {
        NodeProject {
            dir: Path::new(env!("CARGO_MANIFEST_DIR")).join(path),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `npm ci` with `args` unless every package of `packages` is in `node_modules`. Test
    /// processes run in parallel: a lock file in the folder lets one install while the others
    /// wait for it.
    pub fn install(&self, packages: &[&str], args: &[&str]) {
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(".npm-ci.lock"))
            .expect("open the project's .npm-ci.lock");
        File::lock(&lock).expect("lock the project's .npm-ci.lock");
        let modules = self.dir.join("node_modules");
        if packages
            .iter()
            .any(|p| !modules.join(p).join("package.json").exists())
        {
            let mut ci = vec!["ci", "--no-audit", "--no-fund"];
            ci.extend(args);
            assert_success("npm ci", &self.run("npm", &ci, &[]));
        }
    }

    /// Runs `program args` in the folder with `env` and returns what it did.
    pub fn run(&self, program: &str, args: &[&str], env: &[(&str, String)]) -> Output {
        Command::new(program)
            .args(args)
            .current_dir(&self.dir)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap_or_else(|e| {
                panic!("{program} not runnable ({e}): scripts/test installs Node.js")
            })
    }

    /// Like [`Self::run`], on a blocking thread, panicking with the output unless it succeeded.
    pub async fn run_ok(
        &self,
        program: &'static str,
        args: Vec<String>,
        env: Vec<(&'static str, String)>,
    ) -> Output {
        let dir = self.dir.clone();
        let output = tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            NodeProject { dir }.run(program, &args, &env)
        })
        .await
        .expect("the program ran");
        assert_success(program, &output);
        output
    }
}

/// Panics with the program's output unless it succeeded.
pub fn assert_success(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

//! Keys and certificates for tests, made by the `openssl` command (scripts/test installs it
//! when missing).

use std::path::Path;
use std::process::Command;

/// Runs `openssl args...` in `dir`; panics with its output when it fails.
pub fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("openssl not runnable ({e}): scripts/test installs it"));
    assert!(output.status.success(), "openssl {args:?}: {output:?}");
}

/// A fresh RSA key pair in `dir`: `private.pem` and `public.pem`.
pub fn rsa_key_pair(dir: &Path) {
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "private.pem",
        ],
    );
    openssl(
        dir,
        &[
            "pkey",
            "-in",
            "private.pem",
            "-pubout",
            "-out",
            "public.pem",
        ],
    );
}

//! Records the commit, compiler and time berth was built from, for `GET /version` and
//! `berth version`.

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=7", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=BERTH_GIT_COMMIT={commit}");
    // docker reports its Go version; berth the Rust compiler's, in Go's
    // shape (`rustc1.89.0`).
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rust = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .nth(1)
                .map(|v| format!("rustc{v}"))
        })
        .unwrap_or_else(|| "rustc".into());
    println!("cargo:rustc-env=BERTH_RUST_VERSION={rust}");
    // Reproducible builds set SOURCE_DATE_EPOCH; else the build's own time.
    let built = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        });
    println!("cargo:rustc-env=BERTH_BUILT={built}");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    for path in ["../../.git/HEAD", "../../.git/refs/heads"] {
        println!("cargo:rerun-if-changed={path}");
    }
}

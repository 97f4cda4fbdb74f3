//! A throwaway certificate authority made with the `openssl` tool, for the
//! tests of TLS listeners (the registry's, the daemon's) and their clients.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::registry::run;

/// A CA in a directory: its certificate signs what [`TestCa::issue`] makes.
pub struct TestCa {
    dir: PathBuf,
    /// The CA's certificate (PEM).
    pub cert: PathBuf,
    key: PathBuf,
}

impl TestCa {
    /// A new CA whose files live in `dir`.
    pub fn new(dir: &Path) -> TestCa {
        let (cert, key) = (dir.join("ca.crt"), dir.join("ca.key"));
        run(Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
            .args(["-subj", "/CN=berth-test-ca"])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert));
        TestCa {
            dir: dir.to_path_buf(),
            cert,
            key,
        }
    }

    /// A certificate for `name` signed by this CA, with the extension lines
    /// `ext` (subjectAltName, extendedKeyUsage…): its certificate and key.
    pub fn issue(&self, name: &str, ext: &str) -> (PathBuf, PathBuf) {
        let p = |suffix: &str| self.dir.join(format!("{name}.{suffix}"));
        run(Command::new("openssl")
            .args(["req", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes"])
            .arg("-subj")
            .arg(format!("/CN={name}"))
            .arg("-keyout")
            .arg(p("key"))
            .arg("-out")
            .arg(p("csr")));
        std::fs::write(p("ext"), format!("basicConstraints=CA:FALSE\n{ext}\n")).expect("ext");
        run(Command::new("openssl")
            .args(["x509", "-req", "-days", "2", "-CAcreateserial", "-in"])
            .arg(p("csr"))
            .arg("-CA")
            .arg(&self.cert)
            .arg("-CAkey")
            .arg(&self.key)
            .arg("-extfile")
            .arg(p("ext"))
            .arg("-out")
            .arg(p("crt")));
        (p("crt"), p("key"))
    }
}

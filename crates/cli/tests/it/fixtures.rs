//! Test images made here, byte by byte: layer tars (including hostile entries
//! the `tar` crate's safe setters refuse to write), docker-archives and the
//! busybox rootfs of Debian's busybox-static.

use std::io::Write;
use std::path::Path;

use berth_oci::Digest;
use serde_json::json;

/// A tar stream built entry by entry.
#[derive(Default, Clone)]
pub struct Tar {
    buf: Vec<u8>,
}

/// One entry's header fields.
pub struct Entry<'a> {
    pub path: &'a [u8],
    pub kind: u8,
    pub data: &'a [u8],
    pub link: &'a [u8],
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// Device major and minor, for character and block devices.
    pub dev: (u32, u32),
}

impl<'a> Entry<'a> {
    pub fn new(path: &'a str, kind: u8) -> Entry<'a> {
        Entry {
            path: path.as_bytes(),
            kind,
            data: b"",
            link: b"",
            mode: if kind == b'5' { 0o755 } else { 0o644 },
            uid: 0,
            gid: 0,
            dev: (0, 0),
        }
    }
}

impl Tar {
    pub fn new() -> Tar {
        Tar::default()
    }

    /// Appends an entry with a raw GNU header: any path, any link, any type.
    pub fn raw(&mut self, e: Entry<'_>) -> &mut Self {
        let mut h = tar::Header::new_gnu();
        {
            let old = h.as_old_mut();
            assert!(
                e.path.len() <= 100 && e.link.len() <= 100,
                "use pax for long names"
            );
            old.name[..e.path.len()].copy_from_slice(e.path);
            old.linkname[..e.link.len()].copy_from_slice(e.link);
        }
        h.set_size(e.data.len() as u64);
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mtime(1_700_000_000);
        h.set_entry_type(tar::EntryType::new(e.kind));
        if matches!(e.kind, b'3' | b'4') {
            h.set_device_major(e.dev.0).unwrap();
            h.set_device_minor(e.dev.1).unwrap();
        }
        h.set_cksum();
        self.buf.extend_from_slice(h.as_bytes());
        self.buf.extend_from_slice(e.data);
        let pad = (512 - e.data.len() % 512) % 512;
        self.buf.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    pub fn dir(&mut self, path: &str) -> &mut Self {
        self.raw(Entry::new(path, b'5'))
    }

    pub fn file(&mut self, path: &str, data: &[u8]) -> &mut Self {
        self.raw(Entry {
            data,
            ..Entry::new(path, b'0')
        })
    }

    pub fn file_mode(
        &mut self,
        path: &str,
        data: &[u8],
        mode: u32,
        uid: u64,
        gid: u64,
    ) -> &mut Self {
        self.raw(Entry {
            data,
            mode,
            uid,
            gid,
            ..Entry::new(path, b'0')
        })
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.raw(Entry {
            link: target.as_bytes(),
            mode: 0o777,
            ..Entry::new(path, b'2')
        })
    }

    pub fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.raw(Entry {
            link: target.as_bytes(),
            ..Entry::new(path, b'1')
        })
    }

    /// A PAX extended header applying to the next entry.
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut data = Vec::new();
        for (k, v) in records {
            let body_len = k.len() + v.len() + 3;
            let mut len = body_len + 1;
            while format!("{len}").len() + body_len != len {
                len += 1;
            }
            data.extend_from_slice(format!("{len} {k}=").as_bytes());
            data.extend_from_slice(v);
            data.push(b'\n');
        }
        self.raw(Entry {
            data: &data,
            ..Entry::new("././@PaxHeader", b'x')
        })
    }

    /// The finished tar, with its two zero blocks.
    pub fn bytes(&self) -> Vec<u8> {
        let mut b = self.buf.clone();
        b.extend(std::iter::repeat_n(0u8, 1024));
        b
    }

    /// The stream without the end-of-archive blocks and with the last `cut` bytes gone.
    pub fn truncated(&self, cut: usize) -> Vec<u8> {
        self.buf[..self.buf.len() - cut].to_vec()
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

/// One image of an archive: tags, layer tars (uncompressed), a config `config` part.
pub struct ArchiveImage {
    pub tags: Vec<String>,
    pub layers: Vec<Vec<u8>>,
    pub history: Vec<serde_json::Value>,
    pub labels: serde_json::Value,
    pub created: String,
}

impl ArchiveImage {
    pub fn new(tags: &[&str], layers: Vec<Vec<u8>>) -> ArchiveImage {
        let history = (0..layers.len())
            .map(|i| json!({"created": "2024-01-01T00:00:00Z", "created_by": format!("/bin/sh -c step {i}")}))
            .collect();
        ArchiveImage {
            tags: tags.iter().map(|s| s.to_string()).collect(),
            layers,
            history,
            labels: json!({}),
            created: "2024-01-01T00:00:00Z".into(),
        }
    }

    pub fn config(&self) -> Vec<u8> {
        let diff_ids: Vec<String> = self
            .layers
            .iter()
            .map(|l| Digest::of(l).to_string())
            .collect();
        serde_json::to_vec(&json!({
            "architecture": "amd64", "os": "linux", "created": self.created,
            "config": {"Cmd": ["sh"], "Labels": self.labels},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": self.history,
        }))
        .unwrap()
    }

    pub fn id(&self) -> Digest {
        Digest::of(&self.config())
    }
}

/// A docker-archive in the classic layout (`<hex>.json`, `<hex>/layer.tar`), as
/// older Docker and `podman save` write. Shared layers appear once.
pub fn docker_archive(images: &[ArchiveImage]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut manifest = Vec::new();
    let mut written = std::collections::HashSet::new();
    let add = |b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, path, data).unwrap();
    };
    for img in images {
        let config = img.config();
        let cfg_name = format!("{}.json", Digest::of(&config).hex());
        add(&mut b, &cfg_name, &config);
        let mut layer_paths = Vec::new();
        for l in &img.layers {
            let p = format!("{}/layer.tar", Digest::of(l).hex());
            if written.insert(p.clone()) {
                add(&mut b, &p, l);
            }
            layer_paths.push(p);
        }
        manifest.push(json!({"Config": cfg_name, "RepoTags": img.tags, "Layers": layer_paths}));
    }
    add(
        &mut b,
        "manifest.json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    b.into_inner().unwrap()
}

/// The busybox rootfs: `/bin/busybox` from Debian's busybox-static, a few applets.
pub fn busybox_layer() -> Vec<u8> {
    let busybox = Path::new("/bin/busybox");
    let data = std::fs::read(busybox).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; install Debian's busybox-static",
            busybox.display()
        )
    });
    let mut t = Tar::new();
    t.dir("bin/").dir("etc/").dir("tmp/");
    t.file_mode("bin/busybox", &data, 0o755, 0, 0);
    for applet in ["sh", "ls", "cat", "echo", "true"] {
        t.symlink(&format!("bin/{applet}"), "busybox");
    }
    t.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n");
    t.bytes()
}

/// A busybox rootfs for containers: the applets the container tests call, users
/// and groups.
pub fn busybox_rootfs() -> Vec<u8> {
    let data = std::fs::read("/bin/busybox").expect("/bin/busybox: install busybox-static");
    let mut t = Tar::new();
    t.dir("bin/").dir("etc/").dir("tmp/").dir("root/");
    t.file_mode("bin/busybox", &data, 0o755, 0, 0);
    for applet in [
        "sh", "ls", "cat", "echo", "true", "false", "sleep", "cp", "rm", "id", "stty", "tty",
        "touch", "env", "pwd", "hostname", "wc", "head", "dd", "ps", "ln", "mv", "sync", "chown",
        "grep", "ip", "nc", "wget", "httpd", "nslookup", "ping", "cut", "tr", "unshare", "mount",
        "mkdir",
    ] {
        t.symlink(&format!("bin/{applet}"), "busybox");
    }
    t.file(
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/sh\n",
    );
    t.file("etc/group", b"root:x:0:\nwww:x:33:\nadm:x:4:www\n");
    t.bytes()
}

/// `size` bytes no compressor can shrink (xorshift64), the same every time.
pub fn noise(size: usize) -> Vec<u8> {
    let mut data = vec![0u8; size];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        for (i, byte) in chunk.iter_mut().enumerate() {
            *byte = (x >> (i * 8)) as u8;
        }
    }
    data
}

//! Compression detection by content (magic bytes), as `docker load` does.

use std::io::{self, BufRead, BufReader, Read, Write};

use crate::Error;

/// A stream's compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Not compressed.
    None,
    /// gzip (possibly several members).
    Gzip,
    /// Zstandard.
    Zstd,
    /// xz.
    Xz,
}

impl Compression {
    /// Detects the compression from the first bytes of a stream.
    pub fn detect(head: &[u8]) -> Result<Compression, Error> {
        Ok(if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Compression::Xz
        } else if head.starts_with(b"BZh") {
            return Err(Error::UnsupportedCompression("bzip2"));
        } else {
            Compression::None
        })
    }
}

/// Wraps `input` in the decompressor its first bytes call for.
pub fn decompress<'a, R: Read + 'a>(input: R) -> Result<(Compression, Box<dyn Read + 'a>), Error> {
    let mut buffered = BufReader::with_capacity(1 << 20, input);
    let head = buffered.fill_buf().map_err(Error::Corrupt)?;
    let compression = Compression::detect(head)?;
    let reader: Box<dyn Read + 'a> = match compression {
        Compression::None => Box::new(buffered),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::with_buffer(buffered).map_err(Error::Corrupt)?)
        }
        Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(buffered)),
    };
    Ok((compression, Box::new(EofChecked(reader))))
}

/// Turns decoder errors into `InvalidData` so that callers see corrupt input as
/// corrupt, whatever error kind the decoder chose.
struct EofChecked<R>(R);

impl<R: Read> Read for EofChecked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| match e.kind() {
            io::ErrorKind::FileTooLarge
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::Interrupted => e,
            _ => io::Error::new(io::ErrorKind::InvalidData, e),
        })
    }
}

/// A writer that compresses what it is given: gzip at level 1 (zlib-rs: several
/// times faster than level 6 for ~10% more bytes) or zstd level 3 on every CPU.
pub enum Compressor<W: Write> {
    /// Passed through as is.
    Plain(W),
    /// gzip.
    Gzip(flate2::write::GzEncoder<W>),
    /// Zstandard.
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Compressor<W> {
    /// Compresses into `out` with `compression` (xz is not offered for writing).
    pub fn new(out: W, compression: Compression) -> io::Result<Compressor<W>> {
        Ok(match compression {
            Compression::None => Compressor::Plain(out),
            Compression::Gzip => Compressor::Gzip(flate2::write::GzEncoder::new(
                out,
                flate2::Compression::fast(),
            )),
            Compression::Zstd => {
                let mut z = zstd::stream::write::Encoder::new(out, 3)?;
                let threads = std::thread::available_parallelism()
                    .map(|n| n.get() as u32)
                    .unwrap_or(1);
                // Without the zstdmt feature this fails, and one thread is fine.
                let _ = z.multithread(threads);
                Compressor::Zstd(z)
            }
            Compression::Xz => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "berth does not write xz",
                ));
            }
        })
    }

    /// Writes the compressed stream's end and returns the writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Compressor::Plain(w) => Ok(w),
            Compressor::Gzip(g) => g.finish(),
            Compressor::Zstd(z) => z.finish(),
        }
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressor::Plain(w) => w.write(buf),
            Compressor::Gzip(g) => g.write(buf),
            Compressor::Zstd(z) => z.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressor::Plain(w) => w.flush(),
            Compressor::Gzip(g) => g.flush(),
            Compressor::Zstd(z) => z.flush(),
        }
    }
}

//! Compression detection by content (magic bytes), as `docker load` does.

use std::io::{self, BufRead, BufReader, Read};

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

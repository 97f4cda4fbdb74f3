//! A cap on the uncompressed bytes that the layers of one image may unpack,
//! shared by the threads that apply them in parallel.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Error;

/// Uncompressed bytes one image may still unpack. Layers applied with the same
/// budget (see [`crate::ApplyOptions::image_budget`]) draw from it together;
/// the read that takes the total past the limit fails, and so the layer being
/// applied fails with [`crate::Error::ImageTooLarge`].
#[derive(Debug)]
pub struct SizeBudget {
    limit: u64,
    used: AtomicU64,
}

impl SizeBudget {
    /// A budget of `limit` bytes, none used.
    pub fn new(limit: u64) -> SizeBudget {
        SizeBudget {
            limit,
            used: AtomicU64::new(0),
        }
    }

    /// Bytes charged so far.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// The error of a budget whose charges have passed the limit; None while
    /// they have not.
    pub fn exceeded(&self) -> Option<Error> {
        let used = self.used();
        (used > self.limit).then_some(Error::ImageTooLarge {
            limit: self.limit,
            used,
        })
    }

    /// Charges `n` bytes (layers the image already has, say); fails once the
    /// total is past the limit.
    pub fn charge(&self, n: u64) -> Result<(), Error> {
        self.used.fetch_add(n, Ordering::Relaxed);
        self.exceeded().map_or(Ok(()), Err)
    }

    /// Wraps a stream so that what is read from it is charged.
    pub(crate) fn reader<R: Read>(&self, inner: R) -> Charged<'_, R> {
        Charged {
            inner,
            budget: self,
        }
    }
}

/// A stream whose bytes are charged to a [`SizeBudget`].
pub(crate) struct Charged<'a, R> {
    inner: R,
    budget: &'a SizeBudget,
}

impl<R: Read> Read for Charged<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Err(e) = self.budget.charge(n as u64) {
            return Err(io::Error::new(io::ErrorKind::FileTooLarge, e.to_string()));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_past_the_limit_fail_and_the_budget_says_so() {
        let budget = SizeBudget::new(10);
        assert!(budget.charge(4).is_ok());
        let mut r = budget.reader(&[0u8; 6][..]);
        std::io::copy(&mut r, &mut std::io::sink()).unwrap();
        assert!(budget.exceeded().is_none());
        let mut r = budget.reader(&[0u8; 1][..]);
        let err = std::io::copy(&mut r, &mut std::io::sink()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        assert!(matches!(
            budget.exceeded(),
            Some(Error::ImageTooLarge {
                limit: 10,
                used: 11
            })
        ));
    }
}

//! SHA-256 digests as the store writes them: lowercase hex of bytes in
//! memory or of a stream read in 1 MiB chunks. One place, so the meta's
//! checksum, verification and the save path agree on the spelling.

use std::io::Read;
use std::sync::mpsc;

use sha2::{Digest, Sha256};

use super::fs::ReadFile;
use crate::graph::KnowledgeGraph;
use crate::graph::pyjson::{self, NonFinite};

/// SHA-256 of bytes in memory, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// SHA-256 of the original text of a document masked in place (see
/// [`pyjson::for_each_unmasked`]), lowercase hex.
pub fn sha256_hex_unmasked(masked: &[u8], found: &[NonFinite]) -> String {
    let mut hasher = Sha256::new();
    let _ = pyjson::for_each_unmasked(masked, found, |piece| {
        hasher.update(piece);
        Ok::<(), std::convert::Infallible>(())
    });
    hex(&hasher.finalize())
}

/// Hashes a graph file's bytes on this thread while another core parses
/// them. Python's bare `NaN` and `Infinity` are masked in place first, so
/// the parse starts at once and never waits for the hash, and put back
/// before this returns: the bytes end as they began, without a copy.
pub(crate) fn hash_and_parse(
    bytes: &mut [u8],
) -> (String, Result<KnowledgeGraph, crate::graph::GraphError>) {
    let found = pyjson::find_non_finite(bytes);
    pyjson::mask_non_finite(bytes, &found);
    let shared: &[u8] = bytes;
    let hashed = std::thread::scope(|s| {
        let parser = s.spawn(|| KnowledgeGraph::from_masked(shared, &found));
        let digest = sha256_hex_unmasked(shared, &found);
        // A panic in the parser is a bug, not a verdict on the bytes:
        // parse again here so that it surfaces on this thread.
        let parsed = parser
            .join()
            .unwrap_or_else(|_| KnowledgeGraph::from_masked(shared, &found));
        (digest, parsed)
    });
    pyjson::unmask_non_finite(bytes, &found);
    hashed
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// Streams a file through SHA-256 in 1 MiB reads: the digest and the
/// number of bytes hashed. A large file is read on a second thread while
/// this one hashes, so the copy out of the page cache (a quarter of the
/// work beside a SHA-256 with the CPU's instructions) is not on the way.
pub(crate) fn hash_reader(file: ReadFile) -> std::io::Result<(String, u64)> {
    if file.len < PIPELINE_FROM || SERIAL.with(std::cell::Cell::get) {
        return hash_serially(file.reader);
    }
    hash_pipelined(file.reader)
}

thread_local! {
    /// Set on the workers of a parallel pass (see [`serially`]).
    static SERIAL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with this thread's hashes read and hashed on this thread. For
/// the workers of a pass that already keeps every core hashing (`verify
/// --all`): a reader thread per file would only add switches between them.
pub(crate) fn serially<R>(f: impl FnOnce() -> R) -> R {
    let before = SERIAL.with(|s| s.replace(true));
    let result = f();
    SERIAL.with(|s| s.set(before));
    result
}

/// Below this size a thread costs more than the overlap gains.
const PIPELINE_FROM: u64 = 4 << 20;
const CHUNK: usize = 1 << 20;

fn hash_serially(mut reader: Box<dyn Read + Send>) -> std::io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok((hex(&hasher.finalize()), total))
}

/// Three buffers go round: the reader fills one while the hasher works
/// through another. The digest is of the bytes in the order read, as in
/// [`hash_serially`].
fn hash_pipelined(mut reader: Box<dyn Read + Send>) -> std::io::Result<(String, u64)> {
    let (filled, to_hash) = mpsc::sync_channel::<(Vec<u8>, usize)>(2);
    let (emptied, to_fill) = mpsc::channel::<Vec<u8>>();
    for _ in 0..3 {
        let _ = emptied.send(vec![0u8; CHUNK]);
    }
    std::thread::scope(|s| {
        let reading = s.spawn(move || -> std::io::Result<()> {
            while let Ok(mut buf) = to_fill.recv() {
                let n = loop {
                    match reader.read(&mut buf) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    }
                };
                if n == 0 || filled.send((buf, n)).is_err() {
                    return Ok(());
                }
            }
            Ok(())
        });
        let mut hasher = Sha256::new();
        let mut total = 0u64;
        for (buf, n) in to_hash {
            hasher.update(&buf[..n]);
            total += n as u64;
            // The reader may be done and gone: then the buffer is dropped.
            let _ = emptied.send(buf);
        }
        reading
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        Ok((hex(&hasher.finalize()), total))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out at most `step` bytes per read, and an `Interrupted` error
    /// before every third read; then, with `fail_at`, an I/O error.
    struct Awkward {
        bytes: Vec<u8>,
        at: usize,
        step: usize,
        calls: usize,
        fail_at: Option<usize>,
    }

    impl Read for Awkward {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.calls += 1;
            if self.calls.is_multiple_of(3) {
                return Err(std::io::ErrorKind::Interrupted.into());
            }
            if self.fail_at.is_some_and(|f| self.at >= f) {
                return Err(std::io::Error::other("the disk went away"));
            }
            let n = buf.len().min(self.step).min(self.bytes.len() - self.at);
            buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn file(bytes: &[u8], step: usize, fail_at: Option<usize>) -> ReadFile {
        ReadFile {
            len: bytes.len() as u64,
            reader: Box::new(Awkward {
                bytes: bytes.to_vec(),
                at: 0,
                step,
                calls: 0,
                fail_at,
            }),
        }
    }

    #[test]
    fn the_pipelined_digest_is_the_digest_of_the_bytes_in_order() {
        let sizes = [
            0,
            1,
            CHUNK - 1,
            CHUNK,
            CHUNK + 1,
            (PIPELINE_FROM as usize) + 3 * CHUNK + 7,
        ];
        for size in sizes {
            let bytes: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
            for step in [CHUNK, 4096, 777_777] {
                let (digest, len) = hash_reader(file(&bytes, step, None)).expect("hash");
                assert_eq!(len, size as u64, "size {size}, step {step}");
                assert_eq!(digest, sha256_hex(&bytes), "size {size}, step {step}");
                let (serial, _) = hash_serially(file(&bytes, step, None).reader).expect("hash");
                let (piped, _) = hash_pipelined(file(&bytes, step, None).reader).expect("hash");
                assert_eq!((&serial, &piped), (&digest, &digest), "size {size}");
            }
        }
    }

    #[test]
    fn a_read_error_in_the_pipeline_is_the_hashs_error() {
        let bytes = vec![7u8; (PIPELINE_FROM as usize) * 2];
        let err = hash_reader(file(&bytes, 65_536, Some(5 * CHUNK))).expect_err("must fail");
        assert_eq!(err.to_string(), "the disk went away");
    }

    #[test]
    fn serially_hashes_the_same_bytes_and_restores_the_setting() {
        let bytes: Vec<u8> = (0..(5u32 << 20)).map(|i| (i % 251) as u8).collect();
        let file = |b: &[u8]| ReadFile {
            reader: Box::new(std::io::Cursor::new(b.to_vec())),
            len: b.len() as u64,
        };
        let pipelined = hash_reader(file(&bytes)).expect("hash");
        let serial = serially(|| {
            assert!(SERIAL.with(std::cell::Cell::get));
            // Nested: still serial inside, and the outer setting comes back.
            serially(|| ());
            assert!(SERIAL.with(std::cell::Cell::get));
            hash_reader(file(&bytes)).expect("hash")
        });
        assert_eq!(serial, pipelined);
        assert_eq!(serial.1, bytes.len() as u64);
        assert!(!SERIAL.with(std::cell::Cell::get));
    }
}

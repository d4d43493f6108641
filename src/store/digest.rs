//! SHA-256 digests as the store writes them: lowercase hex of bytes in
//! memory or of a stream read in 1 MiB chunks. One place, so the meta's
//! checksum, verification and the save path agree on the spelling.

use std::io::Read;

use sha2::{Digest, Sha256};

/// SHA-256 of bytes in memory, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
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

/// Streams a reader through SHA-256 in 1 MiB reads: the digest and the
/// number of bytes hashed.
pub(crate) fn hash_reader(mut reader: Box<dyn Read + Send>) -> std::io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
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

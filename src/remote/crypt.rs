//! Client-side encryption in the age format (X25519 recipients), so that a
//! person can decrypt a pushed backup with the standard `age` tool:
//! `age -d -i KEYFILE data.json.age > graph.json`. The key never enters
//! the store or its config: only a recipient (public) or the path of an
//! identity file is kept.

use std::io::{Read, Write};
use std::path::Path;
use std::str::FromStr;

use super::config::Encryption;
use super::error::{RemoteError, Result};

/// Parses an `age1...` recipient.
///
/// # Errors
/// [`RemoteError::Config`] when it is not one.
pub fn parse_recipient(text: &str) -> Result<age::x25519::Recipient> {
    age::x25519::Recipient::from_str(text.trim()).map_err(|e| {
        RemoteError::Config(format!(
            "{text:?} is not an age X25519 recipient (age1...): {e}"
        ))
    })
}

/// Reads an age identity file (`AGE-SECRET-KEY-1...` lines).
fn read_identity_file(path: &Path) -> Result<age::IdentityFile<age::NoCallbacks>> {
    // An identity is a few lines; a FIFO or an endless file must not hang
    // or exhaust memory.
    let text = crate::store::fs::read_bounded(path, 64 * 1024).map_err(|e| {
        RemoteError::Crypto(format!("read age identity file {}: {e}", path.display()))
    })?;
    age::IdentityFile::from_buffer(&text[..]).map_err(|e| {
        RemoteError::Crypto(format!(
            "{} is not an age identity file: {e}",
            path.display()
        ))
    })
}

/// The keys of one remote: what to encrypt to, and (when a key file is
/// known) what decrypts.
pub struct Keys {
    recipients: Vec<Box<dyn age::Recipient + Send>>,
    identities: Vec<Box<dyn age::Identity + Send + Sync>>,
    /// Where the identities came from, for messages.
    identity_source: Option<String>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("recipients", &self.recipients.len())
            .field("identity_source", &self.identity_source)
            .finish_non_exhaustive()
    }
}

impl Keys {
    /// The keys for `encryption`; `identity_file` overrides where the
    /// decrypting identity is read from (needed with a recipient-only
    /// remote, or on a new machine).
    ///
    /// # Errors
    /// An unreadable or invalid key file or recipient.
    pub fn load(encryption: &Encryption, identity_file: Option<&Path>) -> Result<Keys> {
        let mut keys = Keys {
            recipients: Vec::new(),
            identities: Vec::new(),
            identity_source: None,
        };
        match encryption {
            Encryption::Recipient { recipient } => {
                keys.recipients.push(Box::new(parse_recipient(recipient)?));
            }
            Encryption::KeyFile { path } => {
                let file = read_identity_file(path)?;
                keys.recipients = file.to_recipients().map_err(|e| {
                    RemoteError::Crypto(format!(
                        "age identity file {}: no usable recipient: {e}",
                        path.display()
                    ))
                })?;
                if identity_file.is_none() {
                    keys.identities = file.into_identities().map_err(|e| {
                        RemoteError::Crypto(format!("age identity file {}: {e}", path.display()))
                    })?;
                    keys.identity_source = Some(path.display().to_string());
                }
            }
        }
        if let Some(path) = identity_file {
            keys.add_identity_file(path)?;
        }
        Ok(keys)
    }

    /// Keys that only decrypt (recovery onto a new machine, where there is
    /// no config: the identity file is all there is).
    ///
    /// # Errors
    /// An unreadable or invalid key file.
    pub fn decrypt_only(path: &Path) -> Result<Keys> {
        let mut keys = Keys {
            recipients: Vec::new(),
            identities: Vec::new(),
            identity_source: None,
        };
        keys.add_identity_file(path)?;
        Ok(keys)
    }

    fn add_identity_file(&mut self, path: &Path) -> Result<()> {
        let file = read_identity_file(path)?;
        self.identities = file.into_identities().map_err(|e| {
            RemoteError::Crypto(format!("age identity file {}: {e}", path.display()))
        })?;
        self.identity_source = Some(path.display().to_string());
        Ok(())
    }

    /// Whether something can decrypt.
    pub fn can_decrypt(&self) -> bool {
        !self.identities.is_empty()
    }

    /// A writer that encrypts everything written to it into `out`.
    /// [`age::stream::StreamWriter::finish`] must be called at the end.
    ///
    /// # Errors
    /// [`RemoteError::Crypto`] when there is no recipient.
    pub fn encryptor<W: Write>(&self, out: W) -> Result<age::stream::StreamWriter<W>> {
        if self.recipients.is_empty() {
            return Err(RemoteError::Crypto(
                "no age recipient to encrypt to (the remote has only a decrypting identity)"
                    .to_string(),
            ));
        }
        let encryptor = age::Encryptor::with_recipients(
            self.recipients.iter().map(|r| &**r as &dyn age::Recipient),
        )
        .map_err(|e| RemoteError::Crypto(format!("age encryption: {e}")))?;
        encryptor
            .wrap_output(out)
            .map_err(|e| RemoteError::Crypto(format!("age encryption: {e}")))
    }

    /// Encrypts `plain` in memory.
    ///
    /// # Errors
    /// As [`Keys::encryptor`].
    pub fn encrypt(&self, plain: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(plain.len() + 1024);
        let mut writer = self.encryptor(&mut out)?;
        writer
            .write_all(plain)
            .and_then(|()| writer.finish().map(|_| ()))
            .map_err(|e| RemoteError::Crypto(format!("age encryption: {e}")))?;
        Ok(out)
    }

    /// Decrypts and authenticates `cipher`, refusing more than `max_len`
    /// bytes of plaintext.
    ///
    /// # Errors
    /// [`RemoteError::Crypto`] for a wrong key (no identity matches) or
    /// ciphertext that fails authentication.
    pub fn decrypt(&self, cipher: &[u8], max_len: u64) -> Result<Vec<u8>> {
        if self.identities.is_empty() {
            return Err(RemoteError::Crypto(
                "the backup is encrypted and no age identity is available to decrypt it (give the identity file)".to_string(),
            ));
        }
        let decryptor = age::Decryptor::new_buffered(cipher)
            .map_err(|e| RemoteError::Crypto(format!("not a readable age file: {e}")))?;
        let source = self.identity_source.as_deref().unwrap_or("the given key");
        let mut reader = decryptor
            .decrypt(self.identities.iter().map(|i| &**i as &dyn age::Identity))
            .map_err(|e| match e {
                age::DecryptError::NoMatchingKeys => RemoteError::WrongKey(format!(
                    "the backup was not encrypted to the identity in {source}"
                )),
                e => RemoteError::Crypto(format!("age decryption with {source}: {e}")),
            })?;
        let mut plain = Vec::new();
        (&mut reader)
            .take(max_len + 1)
            .read_to_end(&mut plain)
            .map_err(|e| {
                RemoteError::Crypto(format!(
                    "age decryption: the ciphertext fails authentication: {e}"
                ))
            })?;
        if plain.len() as u64 > max_len {
            return Err(RemoteError::Crypto(format!(
                "decrypted backup is over the {max_len} byte limit"
            )));
        }
        Ok(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    fn key_file(dir: &Path, name: &str) -> (std::path::PathBuf, String) {
        let id = age::x25519::Identity::generate();
        let path = dir.join(name);
        std::fs::write(&path, format!("{}\n", id.to_string().expose_secret())).expect("write key");
        (path, id.to_public().to_string())
    }

    #[test]
    fn round_trip_and_wrong_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, _) = key_file(dir.path(), "a.key");
        let (other, _) = key_file(dir.path(), "b.key");
        let keys = Keys::load(&Encryption::KeyFile { path }, None).expect("keys");
        let cipher = keys.encrypt(b"{\"nodes\": {}}").expect("encrypt");
        assert_ne!(&cipher[..], b"{\"nodes\": {}}");
        assert_eq!(
            keys.decrypt(&cipher, 1 << 20).expect("decrypt"),
            b"{\"nodes\": {}}"
        );
        let wrong = Keys::decrypt_only(&other).expect("keys");
        let err = wrong.decrypt(&cipher, 1 << 20).expect_err("wrong key");
        assert!(err.to_string().contains("wrong key"), "{err}");
        let mut damaged = cipher.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        assert!(keys.decrypt(&damaged, 1 << 20).is_err());
    }

    #[test]
    fn recipient_only_encrypts_but_cannot_decrypt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, recipient) = key_file(dir.path(), "a.key");
        let keys = Keys::load(&Encryption::Recipient { recipient }, None).expect("keys");
        let cipher = keys.encrypt(b"x").expect("encrypt");
        assert!(!keys.can_decrypt());
        assert!(keys.decrypt(&cipher, 10).is_err());
        let with_id = Keys::decrypt_only(&path).expect("keys");
        assert_eq!(with_id.decrypt(&cipher, 10).expect("decrypt"), b"x");
    }
}

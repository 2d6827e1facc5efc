//! Ed25519 key files: the 32-byte secret seed as 64 hex characters, mode
//! 0600, with the public key beside it in `FILE.pub`.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use kwh_btc_iot_core::Keypair;

/// Generates a key, writes it with restrictive permissions, prints the public key.
pub fn keygen(out: &Path, force: bool) -> Result<()> {
    if out.exists() && !force {
        bail!("{} exists; pass --force to overwrite it", out.display());
    }
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).map_err(|e| anyhow::anyhow!("no system randomness: {e}"))?;
    let key = Keypair::from_seed(&seed);
    write_secret(
        out,
        &format!("{}\n", kwh_btc_iot_core::encoding::hex::encode(&seed)),
    )?;
    let public = kwh_btc_iot_core::encoding::hex::encode(&key.public_key());
    let pub_path = format!("{}.pub", out.display());
    fs::write(&pub_path, format!("{public}\n"))
        .with_context(|| format!("cannot write {pub_path}"))?;
    eprintln!(
        "wrote secret key {} (mode 0600) and public key {pub_path}",
        out.display()
    );
    println!("{public}");
    Ok(())
}

fn write_secret(path: &Path, contents: &str) -> Result<()> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        opts.mode(0o600);
        let mut f = opts
            .open(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        f.write_all(contents.as_bytes())?;
    }
    #[cfg(not(unix))]
    {
        let mut f = opts
            .open(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        f.write_all(contents.as_bytes())?;
    }
    Ok(())
}

/// Loads a key file written by `keygen` (64 hex characters of secret seed).
pub fn load(path: &Path) -> Result<Keypair> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("cannot read key file {}", path.display()))?;
    Keypair::from_hex(text.trim()).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message))
}

//! Offline helpers for receivers: `secret generate`, `sign` and `verify`.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;

use hookline_core::secret;
use hookline_core::signing::{self, Scheme, SigningKey, VerifyingKey};

#[derive(Debug, Subcommand)]
pub(super) enum SecretCommand {
    /// Generate a new secret and print it as JSON (shown once: store it now).
    Generate {
        /// Which kind of secret to make.
        #[arg(long, value_enum, default_value_t = GenerateScheme::Marionette)]
        scheme: GenerateScheme,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum GenerateScheme {
    /// 64 hex characters, with its SHA-256 hash and display prefix.
    Marionette,
    /// A Standard Webhooks `whsec_` HMAC secret.
    Standard,
    /// A Standard Webhooks ed25519 pair: `whsk_` secret key and `whpk_` public key.
    StandardEd25519,
}

/// `--scheme` of `sign` and `verify`; under `standard` the key's prefix picks `v1` or `v1a`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum SchemeArg {
    /// `X-Webhook-Signature: sha256=<hex>`, the origin's scheme.
    Marionette,
    /// Standard Webhooks: `webhook-signature: v1,…` (`whsec_`) or `v1a,…` (`whsk_`/`whpk_`).
    Standard,
}

impl From<SchemeArg> for Scheme {
    fn from(arg: SchemeArg) -> Self {
        match arg {
            SchemeArg::Marionette => Scheme::Marionette,
            SchemeArg::Standard => Scheme::Standard,
        }
    }
}

#[derive(Debug, Args)]
pub(super) struct SignArgs {
    /// Signature scheme.
    #[arg(long, value_enum, default_value_t = SchemeArg::Marionette)]
    scheme: SchemeArg,
    /// Signing secret: any string for marionette; `whsec_…` or `whsk_…` for standard.
    #[arg(long, env = "HOOKLINE_SECRET", hide_env_values = true)]
    secret: String,
    /// Unix timestamp in seconds, as sent in the timestamp header.
    #[arg(long, allow_negative_numbers = true)]
    timestamp: i64,
    /// Message id (signed under standard, where it is required).
    #[arg(long)]
    id: Option<String>,
    /// File holding the exact body bytes; standard input when absent.
    #[arg(long)]
    body_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(super) struct VerifyArgs {
    /// Signature scheme.
    #[arg(long, value_enum, default_value_t = SchemeArg::Marionette)]
    scheme: SchemeArg,
    /// Secret to verify with: any string for marionette; `whsec_…`, `whpk_…` or `whsk_…`
    /// for standard. Repeat to accept any of several (rotation).
    #[arg(long, required = true, env = "HOOKLINE_SECRET", hide_env_values = true)]
    secret: Vec<String>,
    /// A received header, as `Name: value`. Repeat for each header.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// File holding the exact body bytes received; standard input when absent.
    #[arg(long)]
    body_file: Option<PathBuf>,
    /// Current Unix time in seconds for the tolerance check (default: the system clock).
    #[arg(long, allow_negative_numbers = true)]
    now: Option<i64>,
}

#[derive(Serialize)]
#[serde(tag = "scheme", rename_all = "kebab-case")]
enum Generated {
    Marionette {
        secret: String,
        hash: String,
        prefix: String,
    },
    Standard {
        secret: String,
    },
    StandardEd25519 {
        secret: String,
        public_key: String,
    },
}

pub(super) fn secret(cmd: SecretCommand) -> anyhow::Result<ExitCode> {
    let SecretCommand::Generate { scheme } = cmd;
    let generated = match scheme {
        GenerateScheme::Marionette => {
            let secret::MarionetteSecret {
                secret,
                hash,
                prefix,
            } = secret::generate_marionette();
            Generated::Marionette {
                secret,
                hash,
                prefix,
            }
        }
        GenerateScheme::Standard => Generated::Standard {
            secret: secret::generate_standard(),
        },
        GenerateScheme::StandardEd25519 => {
            let (secret, public_key) = secret::generate_ed25519();
            Generated::StandardEd25519 { secret, public_key }
        }
    };
    println!("{}", serde_json::to_string(&generated)?);
    Ok(ExitCode::SUCCESS)
}

pub(super) fn sign(args: SignArgs) -> anyhow::Result<ExitCode> {
    let scheme = Scheme::from(args.scheme);
    let id = match (scheme, args.id) {
        (_, Some(id)) => id,
        (Scheme::Standard, None) => {
            bail!("--id is required with --scheme standard: the id is signed")
        }
        (Scheme::Marionette, None) => String::new(),
    };
    let key = SigningKey::parse(scheme, &args.secret).context("--secret")?;
    let body = read_body(args.body_file.as_ref())?;
    println!(
        "{}",
        signing::sign(scheme, &key, &id, args.timestamp, &body)?
    );
    Ok(ExitCode::SUCCESS)
}

pub(super) fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let scheme = Scheme::from(args.scheme);
    let keys = args
        .secret
        .iter()
        .map(|secret| VerifyingKey::parse(scheme, secret).context("--secret"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let headers = args
        .headers
        .iter()
        .map(|header| {
            header
                .split_once(':')
                .map(|(name, value)| (name.trim(), value.trim()))
                .with_context(|| format!("--header `{header}`: expected `Name: value`"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let body = read_body(args.body_file.as_ref())?;
    let now = args.now.unwrap_or_else(|| chrono::Utc::now().timestamp());
    match signing::verify(scheme, &keys, headers.as_slice(), &body, now) {
        Ok(()) => {
            println!("valid");
            Ok(ExitCode::SUCCESS)
        }
        Err(reason) => {
            println!("invalid: {reason}");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn read_body(file: Option<&PathBuf>) -> anyhow::Result<Vec<u8>> {
    match file {
        Some(path) => std::fs::read(path).with_context(|| format!("reading {}", path.display())),
        None => {
            let mut body = Vec::new();
            std::io::stdin()
                .read_to_end(&mut body)
                .context("reading the body from standard input")?;
            Ok(body)
        }
    }
}

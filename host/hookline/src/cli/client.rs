//! Thin clients of the daemon's HTTP API: `emit`, `webhooks …` and `deliveries …`.
//!
//! The daemon is found at `--daemon` (`HOOKLINE_URL`, default `http://127.0.0.1:8420`); the
//! token comes from `--token` or `--token-file`, else `HOOKLINE_API_TOKEN`, else
//! `hookline-data/api-token` in the working directory, where `hookline serve` writes it by
//! default. One resolution for this CLI and the console: `hookline_contract::endpoint`.
//! These flags go anywhere on the line: `hookline webhooks add --url HOOK --daemon API`.
//!
//! Output: pretty JSON for single records; `list` prints an aligned table (`--json` for
//! JSON). An API error prints `error: <code>: <message> (<field>)` on stderr and exits 1; so
//! does an unreachable daemon. A bad flag, URL or token file exits 2 before any request.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};

use super::AtRuntime as _;
use clap::{Args, Subcommand, ValueEnum};
use reqwest::header::AUTHORIZATION;
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use hookline_api::{ErrorBody, EventAccepted, RotateSecretRequest, WebhookList};
use hookline_contract::endpoint::{DEFAULT_URL, Endpoint, EndpointArgs, Source, TOKEN_HINT};
use hookline_core::event::{ResourceInfo, category};
use hookline_core::ids::new_id;
use hookline_core::model::{DeliveryDetail, DeliverySummary, Millis, Page};
use hookline_core::signing::Scheme;
use hookline_engine::{
    CreateToken, CreatedToken, TokenList, TokenScope, TokenView, WebhookPatch, WebhookSpec,
    WebhookView, WebhookWithSecret,
};

/// Where the daemon is and how to authenticate, anywhere on the line (`global`): the flags
/// of [`hookline_contract::endpoint`], resolved there with the console's precedence.
/// `--daemon` and not `--url`, which `webhooks add` and `update` take for the webhook.
#[derive(Debug, Args)]
pub(super) struct Connection {
    /// The daemon's API URL [env: HOOKLINE_URL] [default: http://127.0.0.1:8420].
    #[arg(long, value_name = "URL", global = true)]
    daemon: Option<String>,
    /// The API bearer token [env: HOOKLINE_API_TOKEN] (default: the contents of
    /// ./hookline-data/api-token, when present).
    #[arg(long, value_name = "TOKEN", global = true)]
    token: Option<String>,
    /// A file holding the API bearer token (instead of --token).
    #[arg(long, value_name = "FILE", global = true)]
    token_file: Option<PathBuf>,
}

impl Connection {
    /// Resolves the flags against the environment; an error is a usage error (exit 2).
    fn resolve(&self) -> anyhow::Result<Endpoint> {
        let args = EndpointArgs {
            daemon: self.daemon.clone(),
            token: self.token.clone(),
            token_file: self.token_file.clone(),
        };
        Ok(Endpoint::from_args(&args)?)
    }
}

#[derive(Debug, Args)]
pub(super) struct EmitArgs {
    #[command(flatten)]
    conn: Connection,
    /// Event type, e.g. `task.completed`.
    #[arg(value_name = "TYPE")]
    event_type: String,
    /// Event data: JSON text, or `@FILE` to read it from a file.
    #[arg(long, value_name = "JSON")]
    data: Option<String>,
    /// The resource's id (default: a generated `res_…`).
    #[arg(long)]
    resource_id: Option<String>,
    /// The resource's type (default: the event's category, e.g. `task` for `task.completed`).
    #[arg(long)]
    resource_type: Option<String>,
    /// Idempotency key: the same key again returns the first result and sends nothing.
    #[arg(long)]
    id: Option<String>,
}

#[derive(Debug, Args)]
pub(super) struct WebhooksArgs {
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    command: WebhooksCommand,
}

#[derive(Debug, Subcommand)]
pub(super) enum WebhooksCommand {
    /// List webhooks.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Create a webhook; prints it with its secret (shown this once).
    Add(AddArgs),
    /// Show one webhook with its live health.
    Show {
        /// Webhook id.
        id: String,
    },
    /// Change a webhook; flags not given keep their value.
    Update(UpdateArgs),
    /// Delete a webhook (its pending deliveries are canceled, history is kept).
    #[command(alias = "delete")]
    Rm {
        /// Webhook id.
        id: String,
    },
    /// Pause a webhook: deliveries wait, nothing is sent, nothing is lost.
    Pause {
        /// Webhook id.
        id: String,
    },
    /// Resume a paused (or re-enable a disabled) webhook.
    Resume {
        /// Webhook id.
        id: String,
    },
    /// Rotate a webhook's secret; the old one keeps signing during the grace window.
    RotateSecret {
        /// Webhook id.
        id: String,
        /// The new secret (default: generated).
        #[arg(long, env = "HOOKLINE_SECRET", hide_env_values = true)]
        secret: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum SchemeArg {
    /// `X-Webhook-Signature: sha256=<hex>`, the origin's scheme.
    Marionette,
    /// Standard Webhooks (`whsec_` HMAC or `whsk_` ed25519 secrets).
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
pub(super) struct AddArgs {
    /// Destination URL (http or https).
    #[arg(long)]
    url: String,
    /// Subscription pattern (`task.created`, `task.*`, `*`); repeat or separate with commas.
    #[arg(
        long = "events",
        required = true,
        value_name = "PATTERN",
        value_delimiter = ','
    )]
    events: Vec<String>,
    /// Webhook id (default: generated `wh_…`).
    #[arg(long)]
    id: Option<String>,
    /// Signature scheme.
    #[arg(long, value_enum)]
    scheme: Option<SchemeArg>,
    /// Signing secret (default: generated).
    #[arg(long, env = "HOOKLINE_SECRET", hide_env_values = true)]
    secret: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, Args)]
pub(super) struct UpdateArgs {
    /// Webhook id.
    id: String,
    /// New destination URL.
    #[arg(long)]
    url: Option<String>,
    /// New subscription patterns (replace all); repeat or separate with commas.
    #[arg(long = "events", value_name = "PATTERN", value_delimiter = ',')]
    events: Vec<String>,
    #[command(flatten)]
    common: CommonArgs,
    /// Enable (re-activates a disabled webhook).
    #[arg(long, conflicts_with = "disable")]
    enable: bool,
    /// Disable (pending deliveries are canceled).
    #[arg(long)]
    disable: bool,
}

/// Flags shared by `add` and `update`.
#[derive(Debug, Args)]
pub(super) struct CommonArgs {
    /// Extra request header, `Name: value`; repeat for each (on update: replaces all).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// Request timeout, seconds.
    #[arg(long)]
    timeout_seconds: Option<u64>,
    /// Attempts in all, first included.
    #[arg(long)]
    max_attempts: Option<u32>,
    /// WebAssembly plugin transforming the payload (on update, `""` removes it).
    #[arg(long, value_name = "PATH")]
    plugin: Option<String>,
    /// The plugin's config: a JSON object.
    #[arg(long, value_name = "JSON")]
    plugin_config: Option<String>,
    /// Free-form description.
    #[arg(long)]
    description: Option<String>,
}

#[derive(Debug, Args)]
pub(super) struct TokensArgs {
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    command: TokensCommand,
}

#[derive(Debug, Subcommand)]
pub(super) enum TokensCommand {
    /// Create a token; prints its secret (on standard output, alone), shown this once only.
    Create {
        /// What it is for (e.g. "ci-ingest", "console").
        #[arg(long)]
        name: String,
        /// What it may do: ingest (post events), read (every GET), admin (everything).
        #[arg(long, value_enum)]
        scope: ScopeArg,
        /// Print the created token as JSON (with its secret).
        #[arg(long)]
        json: bool,
    },
    /// List the live tokens (never their secrets).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token: refused from its next request on. The last admin token cannot be
    /// revoked.
    Revoke {
        /// Token id (`tok_…`, from `tokens list`).
        id: String,
    },
}

/// `--scope`'s values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum ScopeArg {
    /// POST /v1/events and /v1/events/batch only.
    Ingest,
    /// Every GET: webhooks, deliveries, stats, the stream, metrics.
    Read,
    /// Everything.
    Admin,
}

impl From<ScopeArg> for TokenScope {
    fn from(arg: ScopeArg) -> Self {
        match arg {
            ScopeArg::Ingest => TokenScope::Ingest,
            ScopeArg::Read => TokenScope::Read,
            ScopeArg::Admin => TokenScope::Admin,
        }
    }
}

#[derive(Debug, Args)]
pub(super) struct DeliveriesArgs {
    #[command(flatten)]
    conn: Connection,
    #[command(subcommand)]
    command: DeliveriesCommand,
}

#[derive(Debug, Subcommand)]
pub(super) enum DeliveriesCommand {
    /// List deliveries, newest first.
    List(ListDeliveriesArgs),
    /// Show one delivery with its payload and every attempt.
    Show {
        /// Delivery id.
        id: String,
    },
    /// Retry a failed, exhausted or canceled delivery now, with a fresh attempt budget.
    Retry {
        /// Delivery id.
        id: String,
    },
    /// Send a delivery's event again to the same webhook, as a new delivery.
    Replay {
        /// Delivery id.
        id: String,
    },
}

#[derive(Debug, Args)]
pub(super) struct ListDeliveriesArgs {
    /// Only this webhook.
    #[arg(long)]
    webhook: Option<String>,
    /// Only these statuses (pending, in_flight, delivered, failed, exhausted, canceled,
    /// skipped), comma-separated.
    #[arg(long, value_name = "S[,S]")]
    status: Option<String>,
    /// Only this event type.
    #[arg(long)]
    event_type: Option<String>,
    /// Page size (1 to 1000; default 50).
    #[arg(long)]
    limit: Option<u32>,
    /// Continue after this cursor (printed after a full page).
    #[arg(long)]
    cursor: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub(super) fn emit(args: EmitArgs) -> anyhow::Result<ExitCode> {
    let data = args
        .data
        .as_deref()
        .map(read_json_arg)
        .transpose()
        .context("--data")?;
    let resource = ResourceInfo::new(
        args.resource_id.unwrap_or_else(|| new_id("res")),
        args.resource_type
            .unwrap_or_else(|| category(&args.event_type).to_owned()),
    );
    let body = serde_json::json!({
        "type": args.event_type,
        "id": args.id,
        "resource": resource,
        "data": data,
    });
    let client = Client::new(args.conn.resolve()?)?;
    run(async move {
        let response = client
            .send(Method::POST, &["v1", "events"], &[], Some(&body))
            .await?;
        let replayed = response
            .headers()
            .get("idempotent-replayed")
            .is_some_and(|v| v == "true");
        let accepted: EventAccepted = decode(response).await?;
        if replayed {
            eprintln!("note: this idempotency key was seen before; nothing new was sent");
        }
        print_json(&accepted)
    })
}

pub(super) fn webhooks(args: WebhooksArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(args.conn.resolve()?)?;
    // Build request bodies before starting: a bad flag is a usage error (exit 2).
    let request = match args.command {
        WebhooksCommand::Add(add) => WebhookRequest::Add(add_spec(add)?),
        WebhooksCommand::Update(update) => {
            let id = update.id.clone();
            WebhookRequest::Update(id, update_patch(update)?)
        }
        WebhooksCommand::List { json } => WebhookRequest::List { json },
        WebhooksCommand::Show { id } => WebhookRequest::Show(id),
        WebhooksCommand::Rm { id } => WebhookRequest::Rm(id),
        WebhooksCommand::Pause { id } => WebhookRequest::Action(id, "pause"),
        WebhooksCommand::Resume { id } => WebhookRequest::Action(id, "resume"),
        WebhooksCommand::RotateSecret { id, secret } => WebhookRequest::Rotate(id, secret),
    };
    run(async move {
        match request {
            WebhookRequest::List { json } => {
                let list: WebhookList = client
                    .call(Method::GET, &["v1", "webhooks"], &[], None::<&()>)
                    .await?;
                match json {
                    true => print_json(&list),
                    false => print_out(&webhooks_table(&list.items)),
                }
            }
            WebhookRequest::Add(spec) => {
                let created: WebhookWithSecret = client
                    .call(Method::POST, &["v1", "webhooks"], &[], Some(&spec))
                    .await?;
                print_json(&created)
            }
            WebhookRequest::Show(id) => {
                let view: WebhookView = client
                    .call(Method::GET, &["v1", "webhooks", &id], &[], None::<&()>)
                    .await?;
                print_json(&view)
            }
            WebhookRequest::Update(id, patch) => {
                let view: WebhookView = client
                    .call(Method::PATCH, &["v1", "webhooks", &id], &[], Some(&patch))
                    .await?;
                print_json(&view)
            }
            WebhookRequest::Rm(id) => {
                client
                    .call_empty(Method::DELETE, &["v1", "webhooks", &id])
                    .await?;
                print_out(&format!("deleted webhook `{id}`\n"))
            }
            WebhookRequest::Action(id, action) => {
                let view: WebhookView = client
                    .call(
                        Method::POST,
                        &["v1", "webhooks", &id, action],
                        &[],
                        None::<&()>,
                    )
                    .await?;
                print_json(&view)
            }
            WebhookRequest::Rotate(id, secret) => {
                let body = RotateSecretRequest { secret };
                let rotated: WebhookWithSecret = client
                    .call(
                        Method::POST,
                        &["v1", "webhooks", &id, "rotate-secret"],
                        &[],
                        Some(&body),
                    )
                    .await?;
                print_json(&rotated)
            }
        }
    })
}

enum WebhookRequest {
    List { json: bool },
    Add(WebhookSpec),
    Show(String),
    Update(String, WebhookPatch),
    Rm(String),
    Action(String, &'static str),
    Rotate(String, Option<String>),
}

pub(super) fn deliveries(args: DeliveriesArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(args.conn.resolve()?)?;
    run(async move {
        match args.command {
            DeliveriesCommand::List(list) => {
                let mut query = Vec::new();
                let params = [
                    ("webhook", list.webhook),
                    ("status", list.status),
                    ("event_type", list.event_type),
                    ("limit", list.limit.map(|n| n.to_string())),
                    ("cursor", list.cursor),
                ];
                for (name, value) in params {
                    if let Some(value) = value {
                        query.push((name, value));
                    }
                }
                let page: Page<DeliverySummary> = client
                    .call(Method::GET, &["v1", "deliveries"], &query, None::<&()>)
                    .await?;
                if list.json {
                    return print_json(&page);
                }
                print_out(&deliveries_table(&page.items))?;
                if let Some(cursor) = &page.next_cursor {
                    eprintln!("more: --cursor {cursor}");
                }
                Ok(())
            }
            DeliveriesCommand::Show { id } => {
                let detail: DeliveryDetail = client
                    .call(Method::GET, &["v1", "deliveries", &id], &[], None::<&()>)
                    .await?;
                print_json(&detail)
            }
            DeliveriesCommand::Retry { id } => {
                let summary: DeliverySummary = client
                    .call(
                        Method::POST,
                        &["v1", "deliveries", &id, "retry"],
                        &[],
                        None::<&()>,
                    )
                    .await?;
                print_json(&summary)
            }
            DeliveriesCommand::Replay { id } => {
                let summary: DeliverySummary = client
                    .call(
                        Method::POST,
                        &["v1", "deliveries", &id, "replay"],
                        &[],
                        None::<&()>,
                    )
                    .await?;
                print_json(&summary)
            }
        }
    })
}

pub(super) fn tokens(args: TokensArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new(args.conn.resolve()?)?;
    run(async move {
        match args.command {
            TokensCommand::Create { name, scope, json } => {
                let body = CreateToken {
                    name,
                    scope: scope.into(),
                };
                let created: CreatedToken = client
                    .call(Method::POST, &["v1", "tokens"], &[], Some(&body))
                    .await?;
                if json {
                    return print_json(&created);
                }
                print_out(&format!("{}\n", created.secret))?;
                let t = &created.token;
                eprintln!(
                    "created token {} `{}` with the {} scope; its secret (above) is shown this \
                     once only: store it now",
                    t.id, t.name, t.scope
                );
                Ok(())
            }
            TokensCommand::List { json } => {
                let list: TokenList = client
                    .call(Method::GET, &["v1", "tokens"], &[], None::<&()>)
                    .await?;
                match json {
                    true => print_json(&list),
                    false => print_out(&tokens_table(&list.items)),
                }
            }
            TokensCommand::Revoke { id } => {
                let revoked: TokenView = client
                    .call(Method::DELETE, &["v1", "tokens", &id], &[], None::<&()>)
                    .await?;
                print_out(&format!(
                    "revoked token {} `{}` ({})\n",
                    revoked.id, revoked.name, revoked.scope
                ))
            }
        }
    })
}

fn tokens_table(items: &[TokenView]) -> String {
    let rows = items
        .iter()
        .map(|t| {
            vec![
                t.id.clone(),
                t.scope.to_string(),
                time(t.created_at),
                t.last_used_at
                    .map(time)
                    .unwrap_or_else(|| "never".to_owned()),
                t.name.clone(),
            ]
        })
        .collect();
    table(&["ID", "SCOPE", "CREATED", "LAST USED", "NAME"], rows)
}

fn add_spec(add: AddArgs) -> anyhow::Result<WebhookSpec> {
    Ok(WebhookSpec {
        id: add.id,
        url: add.url,
        events: add.events,
        scheme: add.scheme.map(Scheme::from),
        secret: add.secret,
        headers: parse_headers(&add.common.headers)?,
        timeout_seconds: add.common.timeout_seconds,
        max_attempts: add.common.max_attempts,
        plugin: add.common.plugin,
        plugin_config: add
            .common
            .plugin_config
            .as_deref()
            .map(read_json_arg)
            .transpose()
            .context("--plugin-config")?,
        description: add.common.description,
        ..WebhookSpec::default()
    })
}

fn update_patch(update: UpdateArgs) -> anyhow::Result<WebhookPatch> {
    let common = update.common;
    let patch = WebhookPatch {
        url: update.url,
        events: (!update.events.is_empty()).then_some(update.events),
        headers: (!common.headers.is_empty())
            .then(|| parse_headers(&common.headers))
            .transpose()?,
        timeout_seconds: common.timeout_seconds,
        max_attempts: common.max_attempts,
        plugin: common.plugin,
        plugin_config: common
            .plugin_config
            .as_deref()
            .map(read_json_arg)
            .transpose()
            .context("--plugin-config")?,
        description: common.description,
        enabled: match (update.enable, update.disable) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        ..WebhookPatch::default()
    };
    if patch == WebhookPatch::default() {
        bail!("nothing to update: give at least one flag (see `hookline webhooks update --help`)");
    }
    Ok(patch)
}

fn parse_headers(headers: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    headers
        .iter()
        .map(|header| {
            header
                .split_once(':')
                .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
                .filter(|(name, _)| !name.is_empty())
                .with_context(|| format!("--header `{header}`: expected `Name: value`"))
        })
        .collect()
}

/// JSON text, or `@FILE` holding it.
fn read_json_arg(arg: &str) -> anyhow::Result<serde_json::Value> {
    let text = match arg.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
        None => arg.to_owned(),
    };
    serde_json::from_str(&text).context("not valid JSON")
}

/// Why a call failed; each prints one `error:` line.
#[derive(Debug)]
enum CallError {
    /// No answer from the daemon.
    Unreachable {
        url: String,
        source: Source,
        cause: String,
    },
    /// The API answered with an error.
    Api {
        status: StatusCode,
        body: ErrorBody,
        token_given: bool,
    },
    /// An answer that is not the API's (a proxy, another server on the port).
    Http { status: StatusCode, text: String },
    /// The answer could not be read.
    Decode(String),
    /// Printing failed.
    Output(String),
}

impl CallError {
    fn report(&self) {
        match self {
            CallError::Unreachable { url, source, cause } => {
                eprintln!("error: the daemon at {url} is unreachable: {cause}");
                let from = match source {
                    Source::Default => "the default address".to_owned(),
                    other => format!("from {other}"),
                };
                eprintln!(
                    "hint: is `hookline serve` running? That address is {from}; set --daemon \
                     or HOOKLINE_URL"
                );
            }
            CallError::Api {
                status,
                body,
                token_given,
            } => {
                let e = &body.error;
                match &e.field {
                    Some(field) => eprintln!("error: {}: {} ({field})", e.code, e.message),
                    None => eprintln!("error: {}: {}", e.code, e.message),
                }
                if *status == StatusCode::UNAUTHORIZED && !token_given {
                    eprintln!("hint: {TOKEN_HINT}");
                }
            }
            CallError::Http { status, text } => {
                let text = text.trim();
                let excerpt: String = text.chars().take(300).collect();
                eprintln!("error: HTTP {status}: {excerpt}");
            }
            CallError::Decode(m) => eprintln!("error: unexpected answer from the daemon: {m}"),
            CallError::Output(m) => eprintln!("error: {m}"),
        }
    }
}

struct Client {
    http: reqwest::Client,
    base: Url,
    base_source: Source,
    token: Option<String>,
}

impl Client {
    fn new(endpoint: Endpoint) -> anyhow::Result<Client> {
        let Endpoint {
            url,
            url_source,
            token,
            ..
        } = endpoint;
        let base = Url::parse(&url).with_context(|| format!("{url_source} `{url}`"))?;
        if base.cannot_be_a_base() {
            bail!("{url_source} `{url}`: expected an http or https URL, e.g. {DEFAULT_URL}");
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build()
            .context("building the HTTP client")?;
        Ok(Client {
            http,
            base,
            base_source: url_source,
            token,
        })
    }

    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in query {
                pairs.append_pair(name, value);
            }
        }
        url
    }

    async fn send<B: Serialize + ?Sized>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<reqwest::Response, CallError> {
        let mut request = self.http.request(method, self.url(segments, query));
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| CallError::Unreachable {
            url: self.base.to_string(),
            source: self.base_source.clone(),
            cause: error_chain(&e),
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().await.unwrap_or_default();
        Err(match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => CallError::Api {
                status,
                body,
                token_given: self.token.is_some(),
            },
            Err(_) => CallError::Http { status, text },
        })
    }

    async fn call<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<T, CallError> {
        decode(self.send(method, segments, query, body).await?).await
    }

    async fn call_empty(&self, method: Method, segments: &[&str]) -> Result<(), CallError> {
        self.send(method, segments, &[], None::<&()>)
            .await
            .map(drop)
    }
}

/// Reads a successful answer's JSON.
async fn decode<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, CallError> {
    let bytes = response
        .bytes()
        .await
        .map_err(|e| CallError::Decode(error_chain(&e)))?;
    serde_json::from_slice(&bytes).map_err(|e| CallError::Decode(e.to_string()))
}

/// An error and its causes, `outer: inner: root`.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// Runs one client call on a small current-thread runtime; failures print and exit 1.
fn run(call: impl std::future::Future<Output = Result<(), CallError>>) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
        .at_runtime()?;
    match runtime.block_on(call) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            e.report();
            Ok(ExitCode::FAILURE)
        }
    }
}

fn print_json<T: Serialize>(value: &T) -> Result<(), CallError> {
    let mut text =
        serde_json::to_string_pretty(value).map_err(|e| CallError::Output(e.to_string()))?;
    text.push('\n');
    print_out(&text)
}

/// Writes to stdout; a reader that went away (`| head`) is not an error.
fn print_out(text: &str) -> Result<(), CallError> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CallError::Output(format!(
            "writing to standard output: {e}"
        ))),
        _ => Ok(()),
    }
}

fn time(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| ms.to_string())
}

fn webhooks_table(items: &[WebhookView]) -> String {
    let rows = items
        .iter()
        .map(|w| {
            vec![
                w.id.clone(),
                w.state.to_string(),
                w.health.breaker.to_string(),
                w.health.succeeded.to_string(),
                w.health.failed.to_string(),
                w.scheme.as_str().to_owned(),
                w.events.join(","),
                w.url.clone(),
            ]
        })
        .collect();
    table(
        &[
            "ID", "STATE", "BREAKER", "OK", "FAILED", "SCHEME", "EVENTS", "URL",
        ],
        rows,
    )
}

fn deliveries_table(items: &[DeliverySummary]) -> String {
    let rows = items
        .iter()
        .map(|d| {
            vec![
                d.id.clone(),
                d.status.to_string(),
                d.attempts.to_string(),
                d.last_status_code
                    .map_or_else(|| "-".to_owned(), |c| c.to_string()),
                d.webhook_id.clone(),
                d.event_type.clone(),
                time(d.created_at),
                d.last_error_kind
                    .map_or_else(|| "-".to_owned(), |k| k.to_string()),
            ]
        })
        .collect();
    table(
        &[
            "ID", "STATUS", "ATTEMPTS", "CODE", "WEBHOOK", "EVENT", "CREATED", "ERROR",
        ],
        rows,
    )
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns() {
        let out = table(
            &["ID", "STATE", "URL"],
            vec![
                vec!["billing".into(), "active".into(), "https://a".into()],
                vec!["x".into(), "paused".into(), "https://bb".into()],
            ],
        );
        assert_eq!(
            out,
            "ID       STATE   URL\nbilling  active  https://a\nx        paused  https://bb\n"
        );
    }

    #[test]
    fn headers_parse_and_refuse_garbage() {
        let h = parse_headers(&["X-Team: billing".into(), "X-A:b:c".into()]).unwrap();
        assert_eq!(h["X-Team"], "billing");
        assert_eq!(h["X-A"], "b:c");
        assert!(parse_headers(&["no colon".into()]).is_err());
        assert!(parse_headers(&[": empty name".into()]).is_err());
    }

    #[test]
    fn urls_keep_a_base_path_and_encode_segments() {
        let client = Client::new(Endpoint {
            url: "http://127.0.0.1:8420/prefix/".into(),
            url_source: Source::Flag("--daemon"),
            token: Some("t".into()),
            token_source: Some(Source::Flag("--token")),
        })
        .unwrap();
        let url = client.url(
            &["v1", "webhooks", "a/b"],
            &[("status", "failed,exhausted".into())],
        );
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8420/prefix/v1/webhooks/a%2Fb?status=failed%2Cexhausted"
        );
    }

    #[test]
    fn an_empty_update_is_a_usage_error() {
        let update = UpdateArgs {
            id: "billing".into(),
            url: None,
            events: vec![],
            common: CommonArgs {
                headers: vec![],
                timeout_seconds: None,
                max_attempts: None,
                plugin: None,
                plugin_config: None,
                description: None,
            },
            enable: false,
            disable: false,
        };
        assert!(update_patch(update).is_err());
    }
}

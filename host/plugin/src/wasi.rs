//! A deny-by-default WASI 0.2 shim: the imports a plugin's language runtime carries (Rust's
//! standard library, QuickJS, StarlingMonkey, CPython, wasi-libc), defined from the plugin's
//! own import list. Nothing that reaches outside the call is granted; what language runtimes
//! ask at start-up (the time, random bytes) gets a deterministic answer (see the module docs
//! of [`super`] for why this is not `wasmtime-wasi`).
//!
//! | Import | Behaviour |
//! |---|---|
//! | `wasi:cli/environment`: `get-environment`, `get-arguments` | empty lists |
//! | `wasi:cli/environment`: `initial-cwd` | none |
//! | `wasi:cli/stdout`, `wasi:cli/stderr` | a stream whose writes are captured (the tail is kept) |
//! | `wasi:io/streams` `output-stream`: `check-write`, `write`, `flush`, … | accepted, captured |
//! | `wasi:io/streams` `output-stream.subscribe`, `wasi:io/poll` | always ready |
//! | `wasi:cli/terminal-*`: `get-terminal-*` | none (not a terminal) |
//! | `wasi:filesystem/preopens`: `get-directories` | empty list |
//! | `wasi:clocks/wall-clock`: `now` | the attempt's time, frozen for the call; `resolution` 1 ms |
//! | `wasi:clocks/monotonic-clock`: `now` | the same instant (in ns), frozen; `resolution` 1 ms; `subscribe-*` ready at once |
//! | `wasi:random/random`, `wasi:random/insecure`: bytes and `u64`s | a stream derived from the delivery ([`DeliveryRandom`]): deterministic, **not secret** |
//! | `wasi:random/insecure-seed`: `insecure-seed` | the first 16 bytes of that stream |
//! | anything else (files, sockets, HTTP, `stdin` reads, `exit`) | traps, naming the function |
//!
//! Frozen clocks and derived randomness keep a plugin a function of its delivery: the same
//! delivery and attempt time give the same output (`hookline plugin run` and `--replay`
//! reproduce it), and nothing can be learned from timing the host. A plugin that sleeps
//! returns at once (time never advances); one that waits for the clock to move spins until
//! its fuel or deadline runs out.

use sha2::{Digest, Sha256};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker, LinkerInstance, Resource, ResourceType, Val};
use wasmtime::{Engine, StoreContextMut};

use super::host::HostState;

/// The host type behind `wasi:io/streams` `output-stream` (stdout and stderr).
struct OutputStream;
/// The host type behind `wasi:io/poll` `pollable`: always ready.
struct Pollable;
/// The host type behind every other WASI resource: nothing can be done with one.
struct Denied;

/// Representations of the two output streams.
const STDOUT: u32 = 1;
const STDERR: u32 = 2;
/// The largest `get-random-bytes` request answered; a larger one traps (language runtimes
/// ask for a few dozen bytes to seed their generators).
const MAX_RANDOM_BYTES: u64 = 1 << 20;
/// The clocks' resolution: the attempt's time is known to the millisecond.
const CLOCK_RESOLUTION_NS: u64 = 1_000_000;
/// What `check-write` allows per write; writes are captured, so any size is fine.
const WRITE_BUDGET: u64 = 64 * 1024;

/// Why a plugin's imports cannot be satisfied.
pub(super) type Refusal = String;

/// Defines every `wasi:*` import of `component` in `linker`. Imports outside `wasi:*` other
/// than the world's own (`log` and `hookline:plugin/types`) are refused.
pub(super) fn link(
    linker: &mut Linker<HostState>,
    engine: &Engine,
    component: &Component,
) -> Result<(), Refusal> {
    let ty = component.component_type();
    for (name, item) in ty.imports(engine) {
        match item.ty {
            ComponentItem::ComponentInstance(instance) if name.starts_with("wasi:") => {
                let interface = name.split('@').next().unwrap_or(name).to_owned();
                let mut inst = linker
                    .instance(name)
                    .map_err(|e| format!("cannot link `{name}`: {e}"))?;
                for (export, export_item) in instance.exports(engine) {
                    define(&mut inst, &interface, export, &export_item.ty)
                        .map_err(|e| format!("cannot link `{name}#{export}`: {e}"))?;
                }
            }
            ComponentItem::ComponentInstance(_) if name.starts_with("hookline:plugin/types@") => {
                // Types only; nothing to define.
            }
            ComponentItem::ComponentFunc(_) if name == "log" => {}
            ComponentItem::Type(_) => {}
            _ => {
                return Err(format!(
                    "it imports `{name}`, which the host does not provide (a plugin may import \
                     only `log`, `hookline:plugin/types` and WASI 0.2 interfaces)"
                ));
            }
        }
    }
    Ok(())
}

fn define(
    inst: &mut LinkerInstance<'_, HostState>,
    interface: &str,
    name: &str,
    item: &ComponentItem,
) -> wasmtime::Result<()> {
    match item {
        ComponentItem::Resource(_) => {
            // The resource's name decides its host type, so an alias of `output-stream` in
            // `wasi:cli/stderr` gets the same type as the original in `wasi:io/streams`.
            let ty = match name {
                "output-stream" => ResourceType::host::<OutputStream>(),
                "pollable" => ResourceType::host::<Pollable>(),
                _ => ResourceType::host::<Denied>(),
            };
            inst.resource(name, ty, |_, _| Ok(()))
        }
        ComponentItem::ComponentFunc(_) => {
            let qualified = format!("{interface}#{name}");
            let behaviour = behaviour(interface, name);
            inst.func_new(name, move |store, _ty, params, results| {
                behaviour.run(store, &qualified, params, results)
            })
        }
        // Plain types need no definition.
        _ => Ok(()),
    }
}

/// What a shimmed function does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    EmptyList,
    NoneOption,
    Stream(u32),
    CheckWrite,
    Write,
    Ok,
    Subscribe,
    Ready,
    PollAll,
    Unit,
    Seed,
    WallNow,
    WallResolution,
    MonotonicNow,
    MonotonicResolution,
    RandomBytes,
    RandomU64,
    Deny,
}

fn behaviour(interface: &str, name: &str) -> Behaviour {
    use Behaviour::*;
    match (interface, name) {
        ("wasi:cli/environment", "get-environment" | "get-arguments") => EmptyList,
        ("wasi:cli/environment", "initial-cwd") => NoneOption,
        ("wasi:cli/stdout", "get-stdout") => Stream(STDOUT),
        ("wasi:cli/stderr", "get-stderr") => Stream(STDERR),
        (
            "wasi:cli/terminal-stdin" | "wasi:cli/terminal-stdout" | "wasi:cli/terminal-stderr",
            _,
        ) if name.starts_with("get-terminal-") => NoneOption,
        ("wasi:io/streams", "[method]output-stream.check-write") => CheckWrite,
        (
            "wasi:io/streams",
            "[method]output-stream.write" | "[method]output-stream.blocking-write-and-flush",
        ) => Write,
        (
            "wasi:io/streams",
            "[method]output-stream.flush"
            | "[method]output-stream.blocking-flush"
            | "[method]output-stream.write-zeroes"
            | "[method]output-stream.blocking-write-zeroes-and-flush",
        ) => Ok,
        ("wasi:io/streams", "[method]output-stream.subscribe") => Subscribe,
        ("wasi:io/poll", "[method]pollable.ready") => Ready,
        ("wasi:io/poll", "[method]pollable.block") => Unit,
        ("wasi:io/poll", "poll") => PollAll,
        ("wasi:filesystem/preopens", "get-directories") => EmptyList,
        ("wasi:random/insecure-seed", "insecure-seed") => Seed,
        ("wasi:clocks/wall-clock", "now") => WallNow,
        ("wasi:clocks/wall-clock", "resolution") => WallResolution,
        ("wasi:clocks/monotonic-clock", "now") => MonotonicNow,
        ("wasi:clocks/monotonic-clock", "resolution") => MonotonicResolution,
        // Time is frozen, so any instant or duration is already reached.
        ("wasi:clocks/monotonic-clock", "subscribe-instant" | "subscribe-duration") => Subscribe,
        ("wasi:random/random", "get-random-bytes")
        | ("wasi:random/insecure", "get-insecure-random-bytes") => RandomBytes,
        ("wasi:random/random", "get-random-u64")
        | ("wasi:random/insecure", "get-insecure-random-u64") => RandomU64,
        _ => Deny,
    }
}

impl Behaviour {
    fn run(
        self,
        mut store: StoreContextMut<'_, HostState>,
        qualified: &str,
        params: &[Val],
        results: &mut [Val],
    ) -> wasmtime::Result<()> {
        // Handles passed in (the `self` of methods, the pollables of `poll`) are borrows the
        // host must release before returning.
        for param in params {
            release(&mut store, param)?;
        }
        let result = match self {
            Behaviour::EmptyList => Val::List(Vec::new()),
            Behaviour::NoneOption => Val::Option(None),
            Behaviour::Stream(rep) => Val::Resource(
                Resource::<OutputStream>::new_own(rep).try_into_resource_any(&mut store)?,
            ),
            Behaviour::CheckWrite => Val::Result(Ok(Some(Box::new(Val::U64(WRITE_BUDGET))))),
            Behaviour::Write => {
                if let Some(Val::List(bytes)) = params.get(1) {
                    let bytes: Vec<u8> = bytes
                        .iter()
                        .map(|b| match b {
                            Val::U8(b) => *b,
                            _ => b'?',
                        })
                        .collect();
                    store.data_mut().capture(&bytes);
                }
                Val::Result(Ok(None))
            }
            Behaviour::Ok => Val::Result(Ok(None)),
            Behaviour::Subscribe => {
                Val::Resource(Resource::<Pollable>::new_own(0).try_into_resource_any(&mut store)?)
            }
            Behaviour::Ready => Val::Bool(true),
            Behaviour::PollAll => {
                let n = match params.first() {
                    Some(Val::List(pollables)) => pollables.len(),
                    _ => 0,
                };
                Val::List((0..n).map(|i| Val::U32(i as u32)).collect())
            }
            Behaviour::Unit => return Ok(()),
            Behaviour::Seed => {
                let random = &mut store.data_mut().answers.random;
                Val::Tuple(vec![
                    Val::U64(random.next_u64()),
                    Val::U64(random.next_u64()),
                ])
            }
            Behaviour::WallNow => {
                let ns = store.data().answers.now_ns;
                Val::Record(vec![
                    ("seconds".into(), Val::U64(ns / 1_000_000_000)),
                    ("nanoseconds".into(), Val::U32((ns % 1_000_000_000) as u32)),
                ])
            }
            Behaviour::WallResolution => Val::Record(vec![
                ("seconds".into(), Val::U64(0)),
                ("nanoseconds".into(), Val::U32(CLOCK_RESOLUTION_NS as u32)),
            ]),
            Behaviour::MonotonicNow => Val::U64(store.data().answers.now_ns),
            Behaviour::MonotonicResolution => Val::U64(CLOCK_RESOLUTION_NS),
            Behaviour::RandomBytes => {
                let len = match params.first() {
                    Some(Val::U64(len)) => *len,
                    _ => 0,
                };
                if len > MAX_RANDOM_BYTES {
                    wasmtime::bail!(
                        "plugin called `{qualified}` for {len} bytes, more than the \
                         {MAX_RANDOM_BYTES} answered at once"
                    );
                }
                let mut bytes = vec![0; len as usize];
                store.data_mut().answers.random.fill(&mut bytes);
                Val::List(bytes.into_iter().map(Val::U8).collect())
            }
            Behaviour::RandomU64 => Val::U64(store.data_mut().answers.random.next_u64()),
            Behaviour::Deny => wasmtime::bail!(
                "plugin called `{qualified}`, which plugins are not granted (no files, network, \
                 sockets, input or exit)"
            ),
        };
        if let Some(slot) = results.first_mut() {
            *slot = result;
        }
        Ok(())
    }
}

/// What the shim answers for one call: the attempt's time and the delivery's random stream.
pub(super) struct WasiAnswers {
    /// The attempt's time, Unix nanoseconds: both clocks read it.
    now_ns: u64,
    random: DeliveryRandom,
}

impl WasiAnswers {
    /// The answers for a call on `input`: its attempt's time (or the host's clock now, for a
    /// test run), and random bytes seeded by its delivery, event and webhook.
    pub(super) fn for_call(input: &hookline_core::transform::TransformInput) -> WasiAnswers {
        let now_ms = input.attempted_at_ms.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        });
        WasiAnswers {
            now_ns: u64::try_from(now_ms).unwrap_or(0).saturating_mul(1_000_000),
            random: DeliveryRandom::new(&input.delivery_id, &input.event.id, &input.webhook_id),
        }
    }
}

/// The bytes `wasi:random` returns to one call: SHA-256 in counter mode over a seed hashed
/// from the delivery id, event id and webhook id. The same delivery gets the same bytes on
/// every attempt, and different deliveries get unrelated ones (language runtimes seed hash
/// tables and `Math.random` from it). **Not secret**: anyone who knows the ids can compute
/// them, so a plugin must not make keys or tokens from them.
pub(super) struct DeliveryRandom {
    seed: [u8; 32],
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl DeliveryRandom {
    pub(super) fn new(delivery_id: &str, event_id: &str, webhook_id: &str) -> DeliveryRandom {
        let mut h = Sha256::new();
        h.update(b"hookline:plugin wasi:random v1\0");
        for part in [delivery_id, event_id, webhook_id] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        DeliveryRandom {
            seed: h.finalize().into(),
            counter: 0,
            block: [0; 32],
            used: 32,
        }
    }

    pub(super) fn fill(&mut self, out: &mut [u8]) {
        for byte in out {
            if self.used == self.block.len() {
                let mut h = Sha256::new();
                h.update(self.seed);
                h.update(self.counter.to_le_bytes());
                self.block = h.finalize().into();
                self.counter += 1;
                self.used = 0;
            }
            *byte = self.block[self.used];
            self.used += 1;
        }
    }

    pub(super) fn next_u64(&mut self) -> u64 {
        let mut bytes = [0; 8];
        self.fill(&mut bytes);
        u64::from_le_bytes(bytes)
    }
}

/// Drops every resource handle inside `value`.
fn release(store: &mut StoreContextMut<'_, HostState>, value: &Val) -> wasmtime::Result<()> {
    match value {
        Val::Resource(handle) => handle.resource_drop(&mut *store),
        Val::List(items) | Val::Tuple(items) => {
            for item in items {
                release(store, item)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_harmless_functions_are_granted() {
        use Behaviour::*;
        let granted = [
            ("wasi:cli/environment", "get-environment", EmptyList),
            ("wasi:cli/environment", "initial-cwd", NoneOption),
            ("wasi:cli/stderr", "get-stderr", Stream(STDERR)),
            (
                "wasi:cli/terminal-stdout",
                "get-terminal-stdout",
                NoneOption,
            ),
            ("wasi:io/streams", "[method]output-stream.write", Write),
            ("wasi:filesystem/preopens", "get-directories", EmptyList),
            ("wasi:random/insecure-seed", "insecure-seed", Seed),
            (
                "wasi:io/streams",
                "[method]output-stream.subscribe",
                Subscribe,
            ),
            ("wasi:io/poll", "[method]pollable.block", Unit),
            ("wasi:clocks/wall-clock", "now", WallNow),
            ("wasi:clocks/monotonic-clock", "now", MonotonicNow),
            (
                "wasi:clocks/monotonic-clock",
                "subscribe-duration",
                Subscribe,
            ),
            ("wasi:random/random", "get-random-bytes", RandomBytes),
            ("wasi:random/random", "get-random-u64", RandomU64),
            (
                "wasi:random/insecure",
                "get-insecure-random-bytes",
                RandomBytes,
            ),
        ];
        for (interface, name, expected) in granted {
            assert_eq!(behaviour(interface, name), expected, "{interface}#{name}");
        }
        let denied = [
            ("wasi:filesystem/types", "[method]descriptor.open-at"),
            (
                "wasi:filesystem/types",
                "[method]descriptor.read-via-stream",
            ),
            ("wasi:sockets/ip-name-lookup", "resolve-addresses"),
            ("wasi:http/outgoing-handler", "handle"),
            ("wasi:sockets/tcp-create-socket", "create-tcp-socket"),
            ("wasi:cli/exit", "exit"),
            ("wasi:io/streams", "[method]input-stream.read"),
            ("wasi:cli/stdin", "get-stdin"),
        ];
        for (interface, name) in denied {
            assert_eq!(behaviour(interface, name), Deny, "{interface}#{name}");
        }
    }

    #[test]
    fn random_bytes_are_a_function_of_the_delivery() {
        let bytes = |delivery: &str, event: &str, webhook: &str, n: usize| {
            let mut out = vec![0; n];
            DeliveryRandom::new(delivery, event, webhook).fill(&mut out);
            out
        };
        let a = bytes("dlv_1", "evt_1", "hook", 100);
        assert_eq!(a, bytes("dlv_1", "evt_1", "hook", 100));
        // A prefix of a longer draw: the stream does not depend on how it is read.
        let mut split = DeliveryRandom::new("dlv_1", "evt_1", "hook");
        let (mut x, mut y) = ([0; 7], [0; 93]);
        split.fill(&mut x);
        split.fill(&mut y);
        assert_eq!([&x[..], &y[..]].concat(), a);
        assert_ne!(a, bytes("dlv_2", "evt_1", "hook", 100));
        assert_ne!(a, bytes("dlv_1", "evt_2", "hook", 100));
        assert_ne!(a, bytes("dlv_1", "evt_1", "hook2", 100));
        // Ids are length-prefixed: moving a character from one to the next changes the seed.
        assert_ne!(bytes("ab", "c", "", 32), bytes("a", "bc", "", 32));
    }
}

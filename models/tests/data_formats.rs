//! The data readers on small files written here in each real on-disk format (IDX raw and gzipped,
//! CIFAR binary records, image folders on disk and in a `.tar.gz`, aclImdb folders, reviews.json),
//! and the typed error each kind of damage must produce. No network, no shared data.

use flate2::write::GzEncoder;
use flate2::Compression;
use kiln_models::data::*;
use std::fs;
use std::io::{Cursor, Write};
use std::path::Path;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn write_idx_dir(dir: &Path, gz: bool, n: usize) -> (IdxImages, Vec<u8>) {
    let images = IdxImages { n, height: 4, width: 3, pixels: (0..n * 12).map(|i| (i * 7 % 256) as u8).collect() };
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    for split in [Split::Train, Split::Test] {
        let files = [
            (idx_file_name(split, true), encode_idx_images(&images)),
            (idx_file_name(split, false), encode_idx_labels(&labels)),
        ];
        for (name, bytes) in files {
            let (name, bytes) = if gz { (format!("{name}.gz"), gzip(&bytes)) } else { (name.to_string(), bytes) };
            fs::write(dir.join(name), bytes).unwrap();
        }
    }
    (images, labels)
}

#[test]
fn idx_raw_and_gzip_read_the_same() {
    for gz in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let (images, labels) = write_idx_dir(tmp.path(), gz, 5);
        let data = read_mnist_dir(tmp.path(), Split::Test, &MNIST_CLASSES).unwrap();
        assert_eq!((data.n, data.channels, data.height, data.width), (5, 1, 4, 3));
        assert_eq!(data.images, images.pixels);
        assert_eq!(data.labels, labels);
        assert_eq!(data.classes.len(), 10);
    }
}

#[test]
fn idx_damage_gives_typed_errors() {
    let tmp = tempfile::tempdir().unwrap();
    write_idx_dir(tmp.path(), false, 5);
    let images = tmp.path().join("train-images-idx3-ubyte");
    let labels = tmp.path().join("train-labels-idx1-ubyte");
    // truncated: one pixel short of what the header says
    let bytes = fs::read(&images).unwrap();
    fs::write(&images, &bytes[..bytes.len() - 1]).unwrap();
    let err = read_idx_images(&images).unwrap_err();
    assert!(matches!(err, DataError::Length { expected: 76, got: 75, .. }), "{err}");
    assert!(err.to_string().contains("train-images-idx3-ubyte"), "error names the file: {err}");
    // truncated inside the header
    fs::write(&images, &bytes[..10]).unwrap();
    assert!(matches!(read_idx_images(&images), Err(DataError::Length { expected: 16, got: 10, .. })));
    // bad magic: a labels file where images are expected, and garbage
    assert!(matches!(read_idx_images(&labels), Err(DataError::BadMagic { expected: 2051, got: 2049, .. })));
    fs::write(&images, [0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).unwrap();
    assert!(matches!(read_idx_images(&images), Err(DataError::BadMagic { got: 0xdeadbeef, .. })));
    // a gzip stream cut short
    let gz = gzip(&bytes);
    fs::write(&images, &gz[..gz.len() / 2]).unwrap();
    assert!(matches!(read_idx_images(&images), Err(DataError::Gzip { .. })));
    // labels and images disagree in count
    fs::write(&images, &bytes).unwrap();
    fs::write(&labels, encode_idx_labels(&[1, 2, 3])).unwrap();
    assert!(matches!(
        read_mnist_dir(tmp.path(), Split::Train, &MNIST_CLASSES),
        Err(DataError::Count { expected: 5, got: 3, .. })
    ));
    // a label with no class
    fs::write(&labels, encode_idx_labels(&[1, 2, 3, 4, 10])).unwrap();
    let err = read_mnist_dir(tmp.path(), Split::Train, &MNIST_CLASSES).unwrap_err();
    assert!(matches!(err, DataError::Label { index: 4, label: 10, classes: 10, .. }), "{err}");
    // a missing file
    fs::remove_file(&labels).unwrap();
    assert!(matches!(read_mnist_dir(tmp.path(), Split::Train, &MNIST_CLASSES), Err(DataError::Missing { .. })));
}

fn cifar_records(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push((i % 10) as u8);
        out.extend((0..3072).map(|p| ((p + i * 13) % 251) as u8));
    }
    out
}

#[test]
fn cifar_binary_records_and_bad_lengths() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("test_batch.bin");
    fs::write(&path, cifar_records(3)).unwrap();
    let data = read_cifar_files(&[&path], CIFAR10_CLASSES.iter().map(|c| c.to_string()).collect()).unwrap();
    assert_eq!((data.n, data.channels, data.height, data.width), (3, 3, 32, 32));
    assert_eq!(data.labels, [0, 1, 2]);
    // record 1's red plane starts at (0 + 13) % 251, its blue plane at (2048 + 13) % 251
    assert_eq!(data.image(1)[0], 13);
    assert_eq!(data.image(1)[2048], ((2048 + 13) % 251) as u8);
    assert_eq!(encode_cifar_records(&data).unwrap(), cifar_records(3));
    // one byte short: not a whole number of records
    let mut bytes = cifar_records(3);
    bytes.pop();
    fs::write(&path, &bytes).unwrap();
    let err = read_cifar_files(&[&path], vec!["a".into(); 10]).unwrap_err();
    assert!(matches!(err, DataError::RecordLength { got: 9218, record: 3073, .. }), "{err}");
    // the original layout wants 10,000 records per batch file
    fs::write(&path, cifar_records(3)).unwrap();
    for name in cifar_batch_names(Split::Train) {
        fs::write(tmp.path().join(name), cifar_records(3)).unwrap();
    }
    let err = read_cifar_binary_dir(tmp.path(), Split::Test).unwrap_err();
    assert!(matches!(err, DataError::Length { expected: 30_730_000, got: 9219, .. }), "{err}");
    // a label past the classes
    let mut bytes = cifar_records(2);
    bytes[3073] = 12;
    fs::write(&path, &bytes).unwrap();
    let err = read_cifar_files(&[&path], vec!["a".into(); 10]).unwrap_err();
    assert!(matches!(err, DataError::Label { index: 1, label: 12, .. }), "{err}");
}

/// A 2x3 RGB image whose pixel (x, y) is (base + x, base + 10 y, base + 100).
fn tiny_image(base: u8) -> image::RgbImage {
    image::RgbImage::from_fn(2, 3, |x, y| image::Rgb([base + x as u8, base + 10 * y as u8, base + 100]))
}

fn encoded(img: &image::RgbImage, format: image::ImageFormat) -> Vec<u8> {
    let mut buf = Cursor::new(Vec::new());
    img.write_to(&mut buf, format).unwrap();
    buf.into_inner()
}

/// (path, bytes) of a tiny image-folder dataset: PNGs (exact) and one JPEG.
fn folder_files() -> Vec<(String, Vec<u8>)> {
    let png = image::ImageFormat::Png;
    vec![
        ("cifar10/train/dog/0002.png".into(), encoded(&tiny_image(40), png)),
        ("cifar10/train/cat/0001.png".into(), encoded(&tiny_image(20), png)),
        ("cifar10/train/cat/0000.png".into(), encoded(&tiny_image(10), png)),
        ("cifar10/test/dog/0000.jpg".into(), encoded(&tiny_image(60), image::ImageFormat::Jpeg)),
        ("cifar10/test/cat/notes.txt".into(), b"not an image".to_vec()),
    ]
}

fn check_folder_splits(splits: &std::collections::BTreeMap<String, ImageDataset>) {
    assert_eq!(splits.keys().collect::<Vec<_>>(), ["test", "train"]);
    let train = &splits["train"];
    assert_eq!(train.classes, ["cat", "dog"], "not CIFAR's ten names, so sorted");
    assert_eq!((train.n, train.channels, train.height, train.width), (3, 3, 3, 2));
    assert_eq!(train.labels, [0, 0, 1], "sorted by path: cat/0000, cat/0001, dog/0002");
    // CHW: R plane is base + x, G plane base + 10 y, B plane base + 100 (PNG is lossless)
    let expect = |b: u8| -> Vec<u8> {
        let r = (0..3).flat_map(|_| [b, b + 1]);
        let g = (0..3).flat_map(|y| [b + 10 * y, b + 10 * y]);
        r.chain(g).chain(std::iter::repeat_n(b + 100, 6)).collect()
    };
    assert_eq!(train.image(0), expect(10).as_slice());
    assert_eq!(train.image(1), expect(20).as_slice());
    assert_eq!(train.image(2), expect(40).as_slice());
    let test = &splits["test"];
    assert_eq!((test.n, test.labels[0]), (1, 1));
    let err: i32 = test.image(0).iter().zip(expect(60)).map(|(&a, b)| (a as i32 - b as i32).abs()).max().unwrap();
    assert!(err <= 12, "JPEG decodes close to the original, max error {err}");
}

#[test]
fn image_folder_from_disk_and_from_tar_gz() {
    let tmp = tempfile::tempdir().unwrap();
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    for (path, bytes) in folder_files() {
        let full = tmp.path().join("disk").join(&path);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(&full, &bytes).unwrap();
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        tar.append_data(&mut header, &path, &bytes[..]).unwrap();
    }
    let archive = tmp.path().join("tiny.tar.gz");
    fs::write(&archive, tar.into_inner().unwrap().finish().unwrap()).unwrap();
    check_folder_splits(&read_image_archive(&archive, false).unwrap());
    check_folder_splits(&read_image_folder(&tmp.path().join("disk/cifar10")).unwrap());
    // a corrupt image names its archive member
    let mut tar = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    let mut header = tar::Header::new_gnu();
    header.set_size(4);
    header.set_mode(0o644);
    tar.append_data(&mut header, "x/train/cat/bad.png", &b"\x89PNG"[..]).unwrap();
    fs::write(&archive, tar.into_inner().unwrap().finish().unwrap()).unwrap();
    let err = read_image_archive(&archive, false).unwrap_err();
    assert!(matches!(&err, DataError::Image { path, .. } if path.ends_with("x/train/cat/bad.png")), "{err}");
    // not a gzip stream at all
    fs::write(&archive, b"plain text").unwrap();
    assert!(matches!(read_image_archive(&archive, false), Err(DataError::Archive { .. })));
}

#[test]
fn image_sizes_must_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("train/cat");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("a.png"), encoded(&tiny_image(1), image::ImageFormat::Png)).unwrap();
    fs::write(dir.join("b.png"), encoded(&image::RgbImage::new(3, 3), image::ImageFormat::Png)).unwrap();
    let err = read_image_folder(tmp.path()).unwrap_err();
    assert!(matches!(err, DataError::ImageSize { expected: (2, 3), got: (3, 3), .. }), "{err}");
}

#[test]
fn aclimdb_folders() {
    let tmp = tempfile::tempdir().unwrap();
    for (split, class, files) in [
        ("train", "pos", vec![("10_9.txt", "ten"), ("2_8.txt", "two<br />lines")]),
        ("train", "neg", vec![("1_1.txt", "bad")]),
        ("test", "pos", vec![("0_7.txt", "ok")]),
        ("test", "neg", vec![]),
    ] {
        let dir = tmp.path().join("aclImdb").join(split).join(class);
        fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            fs::write(dir.join(name), text).unwrap();
        }
    }
    let train = read_aclimdb(&tmp.path().join("aclImdb"), Split::Train).unwrap();
    assert_eq!(train.texts, ["bad", "two<br />lines", "ten"], "neg first, then ids in numeric order");
    assert_eq!(train.labels, [0, 1, 1]);
    assert_eq!(read_aclimdb(&tmp.path().join("aclImdb"), Split::Test).unwrap().labels, [1]);
    assert!(matches!(read_aclimdb(tmp.path(), Split::Train), Err(DataError::Io { .. })));
}

#[test]
fn reviews_json_is_split_by_position() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("reviews.json");
    let reviews: Vec<serde_json::Value> =
        (0..50_000).map(|i| serde_json::json!({"t": format!("r{i}"), "s": u8::from(i >= 25_000)})).collect();
    fs::write(&path, serde_json::to_vec(&reviews).unwrap()).unwrap();
    let test = read_reviews_json(&path, Split::Test).unwrap();
    let train = read_reviews_json(&path, Split::Train).unwrap();
    assert_eq!((train.len(), test.len()), (25_000, 25_000));
    assert_eq!([&test.texts[0], &test.texts[12_500]], ["r0", "r25000"]);
    assert_eq!([&train.texts[0], &train.texts[12_499], &train.texts[12_500]], ["r12500", "r24999", "r37500"]);
    assert_eq!(train.labels.iter().filter(|&&l| l == 1).count(), 12_500);
    assert_eq!((train.labels[12_499], train.labels[12_500]), (0, 1));
    // wrong length, a label contradicting the layout, and broken JSON
    fs::write(&path, serde_json::to_vec(&reviews[..10]).unwrap()).unwrap();
    assert!(matches!(read_reviews_json(&path, Split::Train), Err(DataError::Count { expected: 50_000, got: 10, .. })));
    let mut flipped = reviews.clone();
    flipped[13_000]["s"] = 1.into();
    fs::write(&path, serde_json::to_vec(&flipped).unwrap()).unwrap();
    assert!(matches!(read_reviews_json(&path, Split::Train), Err(DataError::BadHeader { .. })));
    fs::write(&path, b"[{\"t\": ").unwrap();
    assert!(matches!(read_reviews_json(&path, Split::Test), Err(DataError::Json { .. })));
}

#[test]
fn sha256_mismatch_is_a_checksum_error() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("f");
    fs::write(&path, b"abc").unwrap();
    verify_sha256(&path, "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD").unwrap();
    let err = verify_sha256(&path, &"0".repeat(64)).unwrap_err();
    assert!(matches!(&err, DataError::Checksum { got, .. } if got.starts_with("ba7816bf")), "{err}");
}

#[test]
fn vocab_saves_atomically_and_rejects_bad_files() {
    let tmp = tempfile::tempdir().unwrap();
    let train = TextDataset {
        texts: vec!["A great film.<br />Great!".into(), "a bad film, isn't it".into()],
        labels: vec![1, 0],
    };
    let vocab = Vocab::build(train.texts.iter().map(String::as_str), 3);
    // counts: a 2, film 2, great 2, bad 1, isn't 1, it 1 -> the top three, ties by word
    assert_eq!((vocab.id("a"), vocab.id("film"), vocab.id("great"), vocab.id("bad")), (2, 3, 4, OOV_ID));
    let path = tmp.path().join("vocab.json");
    vocab.save(&path).unwrap();
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1, "no temp file left behind");
    assert_eq!(Vocab::load(&path).unwrap(), vocab);
    let enc = vocab.encode_dataset(&train, &EncodeOptions { seq_len: 4, ..Default::default() });
    assert_eq!(enc.ids, [2, 4, 3, 4, 2, 1, 3, 1]);
    assert_eq!(enc.lengths, [4, 4]);
    fs::write(&path, br#"{"format":"kiln-vocab","version":1,"pad":"<pad>","oov":"<unk>","words":["a","a"]}"#).unwrap();
    assert!(matches!(Vocab::load(&path), Err(DataError::Vocab { .. })));
    fs::write(&path, br#"{"format":"other","version":1,"pad":"<pad>","oov":"<unk>","words":[]}"#).unwrap();
    assert!(matches!(Vocab::load(&path), Err(DataError::Vocab { .. })));
    fs::write(&path, b"[").unwrap();
    assert!(matches!(Vocab::load(&path), Err(DataError::Json { .. })));
}

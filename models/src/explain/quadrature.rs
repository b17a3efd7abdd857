//! Where integrated gradients evaluates the gradient on the path from the baseline (alpha = 0) to
//! the input (alpha = 1), and with what weight: Captum's rules, the Riemann sums (left, right,
//! middle, trapezoid) and Gauss-Legendre (its default), as `(alphas, weights)` on [0, 1] whose
//! weights sum to 1. Pure arithmetic; no tensors.

use kiln_tensor::{Error, Result};

/// An integration rule for `n` steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    RiemannLeft,
    RiemannRight,
    RiemannMiddle,
    RiemannTrapezoid,
    /// Exact for polynomials of degree up to 2n - 1 in alpha.
    GaussLegendre,
}

const ALL: [Rule; 5] =
    [Rule::GaussLegendre, Rule::RiemannLeft, Rule::RiemannRight, Rule::RiemannMiddle, Rule::RiemannTrapezoid];

impl Rule {
    /// Captum's spelling (`gausslegendre`, `riemann_left`, ...), with `-` accepted for `_`.
    pub fn name(self) -> &'static str {
        match self {
            Rule::RiemannLeft => "riemann_left",
            Rule::RiemannRight => "riemann_right",
            Rule::RiemannMiddle => "riemann_middle",
            Rule::RiemannTrapezoid => "riemann_trapezoid",
            Rule::GaussLegendre => "gausslegendre",
        }
    }

    pub fn parse(s: &str) -> Result<Rule> {
        let s = s.replace('-', "_");
        ALL.into_iter().find(|r| r.name() == s).ok_or_else(|| {
            let names: Vec<&str> = ALL.iter().map(|r| r.name()).collect();
            Error::invalid("integrated gradients", format!("unknown rule `{s}` (expected {})", names.join(", ")))
        })
    }

    /// The `n` points on [0, 1] and their weights.
    pub fn nodes(self, n: usize) -> Result<(Vec<f64>, Vec<f64>)> {
        let min = if self == Rule::RiemannTrapezoid { 2 } else { 1 };
        if n < min {
            return Err(Error::invalid(
                "integrated gradients",
                format!("{n} steps: {} needs at least {min}", self.name()),
            ));
        }
        let nf = n as f64;
        let even = |offset: f64| -> (Vec<f64>, Vec<f64>) {
            ((0..n).map(|k| (k as f64 + offset) / nf).collect(), vec![1.0 / nf; n])
        };
        Ok(match self {
            Rule::RiemannLeft => even(0.0),
            Rule::RiemannRight => even(1.0),
            Rule::RiemannMiddle => even(0.5),
            Rule::RiemannTrapezoid => {
                let h = 1.0 / (nf - 1.0);
                let alphas = (0..n).map(|k| k as f64 * h).collect();
                let weights = (0..n).map(|k| if k == 0 || k == n - 1 { h / 2.0 } else { h }).collect();
                (alphas, weights)
            }
            Rule::GaussLegendre => gauss_legendre(n),
        })
    }
}

/// Gauss-Legendre nodes and weights mapped from [-1, 1] to [0, 1], in increasing order: Newton's
/// method on the Legendre polynomial from the Chebyshev-like first guess (converges for any n).
fn gauss_legendre(n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        for _ in 0..100 {
            let (p, d) = legendre(n, x);
            let dx = p / d;
            x -= dx;
            if dx.abs() < 1e-15 {
                break;
            }
        }
        let (_, d) = legendre(n, x);
        nodes.push(((x + 1.0) / 2.0, 1.0 / ((1.0 - x * x) * d * d)));
    }
    nodes.sort_by(|a, b| a.0.total_cmp(&b.0));
    nodes.into_iter().unzip()
}

/// P_n(x) and P_n'(x) by the three-term recurrence.
fn legendre(n: usize, x: f64) -> (f64, f64) {
    let (mut p0, mut p1) = (1.0, x);
    for k in 1..n {
        let k = k as f64;
        (p0, p1) = (p1, ((2.0 * k + 1.0) * x * p1 - k * p0) / (k + 1.0));
    }
    let p = if n == 0 { 1.0 } else { p1 };
    (p, n as f64 * (x * p - p0) / (x * x - 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Integral of alpha^d over [0, 1] by a rule.
    fn integrate(rule: Rule, n: usize, d: i32) -> f64 {
        let (a, w) = rule.nodes(n).unwrap();
        a.iter().zip(&w).map(|(a, w)| w * a.powi(d)).sum()
    }

    #[test]
    fn weights_sum_to_one_and_nodes_lie_in_the_unit_interval() {
        for rule in ALL {
            for n in [2, 3, 7, 50, 300] {
                let (a, w) = rule.nodes(n).unwrap();
                assert_eq!((a.len(), w.len()), (n, n));
                assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{rule:?} {n}");
                assert!(a.iter().all(|a| (0.0..=1.0).contains(a)) && a.windows(2).all(|p| p[0] < p[1]), "{rule:?} {n}");
            }
        }
    }

    #[test]
    fn gauss_legendre_is_exact_to_degree_2n_minus_1_and_riemann_rules_converge() {
        for n in [1, 2, 5, 20, 50] {
            for d in 0..(2 * n as i32) {
                let got = integrate(Rule::GaussLegendre, n, d);
                assert!((got - 1.0 / (d as f64 + 1.0)).abs() < 1e-12, "n {n} degree {d}: {got}");
            }
        }
        // Known values: two-point Gauss-Legendre nodes are 1/2 -+ 1/(2 sqrt 3).
        let (a, _) = Rule::GaussLegendre.nodes(2).unwrap();
        assert!((a[0] - (0.5 - 0.5 / 3f64.sqrt())).abs() < 1e-15);
        // Left and right sums bracket the integral of alpha^2 (1/3) and approach it as 1/n.
        assert!(integrate(Rule::RiemannLeft, 100, 2) < 1.0 / 3.0 && integrate(Rule::RiemannRight, 100, 2) > 1.0 / 3.0);
        assert!((integrate(Rule::RiemannMiddle, 100, 2) - 1.0 / 3.0).abs() < 1e-4);
        assert!((integrate(Rule::RiemannTrapezoid, 101, 2) - 1.0 / 3.0).abs() < 1e-4);
    }

    #[test]
    fn bad_rules_and_step_counts_are_clear_errors() {
        assert!(Rule::GaussLegendre.nodes(0).unwrap_err().to_string().contains("0 steps"));
        assert!(Rule::RiemannTrapezoid.nodes(1).unwrap_err().to_string().contains("at least 2"));
        assert_eq!(Rule::parse("riemann-left").unwrap(), Rule::RiemannLeft);
        assert!(Rule::parse("simpson").unwrap_err().to_string().contains("gausslegendre"));
    }
}

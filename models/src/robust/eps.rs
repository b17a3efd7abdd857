//! Attack radii as people write them: `8/255`, `0.03`, or lists `2/255,4/255,8/255`. Only parsing
//! lives here.

use kiln_tensor::{Error, Result};

/// One radius: a decimal number or a fraction `a/b`, in [0, 1].
pub fn parse_eps(s: &str) -> Result<f32> {
    let bad = |why: &str| Error::invalid("eps", format!("`{s}` {why} (write e.g. 8/255 or 0.03)"));
    let t = s.trim();
    let value = match t.split_once('/') {
        Some((a, b)) => {
            let (a, b): (f64, f64) = (
                a.trim().parse().map_err(|_| bad("does not parse"))?,
                b.trim().parse().map_err(|_| bad("does not parse"))?,
            );
            if b == 0.0 {
                return Err(bad("divides by zero"));
            }
            a / b
        }
        None => t.parse::<f64>().map_err(|_| bad("does not parse"))?,
    };
    if !(value.is_finite() && (0.0..=1.0).contains(&value)) {
        return Err(bad("is not in [0, 1]: pixels are in [0, 1]"));
    }
    Ok(value as f32)
}

/// A comma-separated list of radii, in the order given (at least one).
pub fn parse_eps_list(s: &str) -> Result<Vec<f32>> {
    let list: Vec<f32> = s.split(',').filter(|p| !p.trim().is_empty()).map(parse_eps).collect::<Result<_>>()?;
    if list.is_empty() {
        return Err(Error::invalid("eps", format!("`{s}` names no radius")));
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_decimals_and_lists() {
        assert_eq!(parse_eps("8/255").unwrap(), (8.0f64 / 255.0) as f32);
        assert_eq!(parse_eps(" 0.3 ").unwrap(), 0.3);
        assert_eq!(parse_eps("0").unwrap(), 0.0);
        assert_eq!(parse_eps_list("2/255,4/255, 8/255").unwrap().len(), 3);
        for bad in ["", "-0.1", "1.5", "8/0", "eight", "1/2/3", "nan", "inf"] {
            assert!(parse_eps(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(parse_eps_list(",").is_err());
    }
}

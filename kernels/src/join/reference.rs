//! Concatenation as a copy: for each index of the dims before the axis, each input contributes
//! its next run of `dims[axis..]` elements in logical order. Works for any element type; nothing
//! here checks shapes (mod.rs does).

use kiln_tensor::Layout;

/// Concatenates `parts` (same rank, same dims except `axis`) along `axis` into a row-major buffer.
pub fn cat<T: Copy>(parts: &[(&[T], &Layout)], axis: usize) -> Vec<T> {
    let Some((_, first)) = parts.first() else { return Vec::new() };
    let outer: usize = first.dims()[..axis].iter().product();
    let total: usize = parts.iter().map(|(_, l)| l.elem_count()).sum();
    let mut out = Vec::with_capacity(total);
    let mut cursors: Vec<_> = parts.iter().map(|(_, l)| l.strided_index()).collect();
    for o in 0..outer {
        for ((data, layout), cursor) in parts.iter().zip(&mut cursors) {
            let run: usize = layout.dims()[axis..].iter().product();
            // Contiguous inputs (the common case) copy whole runs; others walk their strides.
            match layout.contiguous_range() {
                Some(range) => out.extend_from_slice(&data[range][o * run..(o + 1) * run]),
                None => out.extend(cursor.by_ref().take(run).map(|i| data[i])),
            }
        }
    }
    out
}

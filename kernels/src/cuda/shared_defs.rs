//! What the Rust launch code and the `.cu` files must agree on, defined once, here, in Rust: the
//! op codes the kernels switch on and the most dims a strided kernel takes. [`header`] writes them
//! as C (`enum UnaryCode { U_COPY = 0, ... };`, `#define KILN_MAX_DIMS 6`): `source.rs` puts that
//! text in front of every NVRTC compile and `build.rs` force-includes it in the host-shim build,
//! so no `.cu` file spells a code or a limit by hand. The launch code passes `UnaryCode::Tanh.code()`,
//! never a number.
//!
//! `build.rs` includes this very file (`#[path]`), so it must not use anything from the crate.

/// Most dims a strided kernel handles after `Strided::new` merged what it could.
pub const MAX_DIMS: usize = 6;

macro_rules! op_codes {
    ($( $(#[$doc:meta])* enum $name:ident { $($variant:ident = $c:literal),* $(,)? } )*) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq)]
            #[repr(u32)]
            pub enum $name { $($variant),* }

            impl $name {
                /// Every code, in value order.
                pub const ALL: &'static [$name] = &[$($name::$variant),*];
                /// The C enumerator of each code, in the same order.
                pub const C_NAMES: &'static [&'static str] = &[$($c),*];

                /// The value the kernels receive in their parameter struct.
                pub fn code(self) -> u32 {
                    self as u32
                }
            }
        )*

        /// The C header of every shared definition, generated from the items above.
        pub fn header() -> String {
            let mut s = String::from("// Generated from kernels/src/cuda/shared_defs.rs; edit that file, not this text.\n");
            s += &format!("#define KILN_MAX_DIMS {MAX_DIMS}\n");
            $(
                s += &format!("enum {} {{", stringify!($name));
                for (value, c) in $name::C_NAMES.iter().enumerate() {
                    s += &format!(" {c} = {value},");
                }
                s += " };\n";
            )*
            s
        }
    };
}

op_codes! {
    /// The maps of `ew_unary_*` in elementwise.cu; `Copy` is the strided copy.
    enum UnaryCode {
        Copy = "U_COPY", Neg = "U_NEG", Exp = "U_EXP", Log = "U_LOG", Sqrt = "U_SQRT", Abs = "U_ABS",
        Relu = "U_RELU", Leaky = "U_LEAKY", Sigmoid = "U_SIGMOID", Tanh = "U_TANH", Affine = "U_AFFINE",
        Pow = "U_POW",
    }
    /// The ops of `ew_binary_*` and `ew_binary_backward_*` in elementwise.cu.
    enum BinaryCode { Add = "B_ADD", Sub = "B_SUB", Mul = "B_MUL", Div = "B_DIV", Pow = "B_POW", Max = "B_MAX", Min = "B_MIN" }
    /// The comparisons of `ew_compare_f32` in elementwise.cu.
    enum CompareCode { Eq = "C_EQ", Ne = "C_NE", Lt = "C_LT", Le = "C_LE", Gt = "C_GT", Ge = "C_GE" }
    /// The reductions of reduce.cu's row and axis kernels.
    enum ReduceCode { Sum = "R_SUM", Max = "R_MAX", Min = "R_MIN", Mean = "R_MEAN" }
}

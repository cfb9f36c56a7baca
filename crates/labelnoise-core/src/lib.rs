//! # labelnoise-core
//!
//! The science of labelnoise: SGD with label noise drives an over-parameterized network,
//! once it fits the data, down the *implicit regularizer*
//! reg(θ) = (1/n) Σ_i ||∇_θ h(x_i, θ)||² (Blanc, Gupta, Valiant, Valiant, eq. 1).
//!
//! Modules, in the order data flows:
//! - [`network`], [`activation`]: multilayer perceptrons and the flat θ of
//!   docs/conventions.md#theta;
//! - [`data`], [`builtin`], [`model_io`]: data sets and model files (docs/formats.md);
//! - [`load`]: a data set from a built-in name or a file path;
//! - [`derivatives`]: exact ∇_θ h and Hessian-vector products;
//! - [`regularizer`]: reg, ∇reg and the Jacobian J;
//! - [`stability`]: the spectrum γ of (1/n)JᵀJ, the projection g_N of ∇reg onto ker J and
//!   the Theorem 2 verdict;
//! - [`curve`]: linear pieces and curve lengths of 1-D functions;
//! - [`piecewise`]: the exact linear pieces of a 1-D ReLU network of any depth, by
//!   walking its activation regions;
//! - [`shape`]: the Theorem 1 shape report (kinks, convexity changes, curve length) of
//!   1-D ReLU networks: one hidden layer in closed form, deeper ones from [`piecewise`];
//! - [`units`]: the Theorem 3 unit classes of tanh/logistic networks on one point;
//! - [`analysis`]: all of the above for one network and data set;
//! - [`files`]: atomic writes and output directories;
//! - [`householder`]: the thin Householder QR of tall Jacobians (few data points);
//! - [`train`]: SGD with label noise (paper eq. 3), fused and general kernels, metrics;
//! - [`settle`]: descent on reg along the zero-loss manifold to a non-repellent point.
//!
//! The paper's experiments (the runs behind `labelnoise reproduce`) live in the
//! `labelnoise-experiments` crate, built on this one.
//!
//! The library never prints and never exits; every failure on user data is an
//! [`Error`] that names the file and field.

pub mod activation;
pub mod analysis;
pub mod builtin;
pub mod curve;
pub mod data;
pub mod derivatives;
pub mod error;
pub mod files;
pub mod householder;
pub mod kernels;
pub mod load;
pub mod memory;
pub mod model_io;
pub mod network;
pub mod piecewise;
pub mod regularizer;
pub mod settle;
pub mod shape;
pub mod stability;
pub mod train;
pub mod units;

pub use activation::Activation;
pub use data::Dataset;
pub use error::{Error, Result};
pub use network::{Architecture, Layer, Network, Skip};

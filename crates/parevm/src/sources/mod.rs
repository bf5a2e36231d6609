//! Sources: turn outside data into a [`crate::Block`] plus a pre-state, with errors that name
//! the file and the field.

pub mod adversarial;
pub mod example;
pub mod fixtures;
pub mod json;
pub mod prestate;
#[cfg(feature = "rpc")]
pub mod remote;
pub mod rpc;
pub mod tx;
pub mod workload;

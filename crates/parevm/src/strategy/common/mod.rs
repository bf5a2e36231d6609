//! What every parallel strategy shares: the worker pools and the read-recording view.

pub(crate) mod pool;
pub(crate) mod recording;

//! Everything that shows state to people and machines. Outputs read state; none calls a probe.

pub mod console;
mod device_metrics;
pub mod http;
pub mod landing;
pub mod metrics;
pub mod process;

//! Extensions: components outside the pipelines, enabled by `service.extensions`.

pub mod auth;
pub mod basicauth;
pub mod bearertokenauth;
pub mod file_storage;
pub mod headers_setter;
pub mod health_check;
pub mod secret;
pub mod zpages;

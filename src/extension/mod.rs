//! Extensions: components outside the pipelines, enabled by `service.extensions`.

pub mod health_check;

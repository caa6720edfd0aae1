//! The HTTP routes, one module per area.

pub mod auth;
pub mod commands;
pub mod openapi;

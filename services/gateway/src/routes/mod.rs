//! The HTTP routes, one module per area.

pub mod auth;
pub mod cart;
pub mod commands;
pub mod inventory;
pub mod openapi;
pub mod orders;
pub mod products;

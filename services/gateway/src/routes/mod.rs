//! The HTTP routes, one module per area, and the one table ([`table`]) that lists them
//! all, from which the router and the OpenAPI document are both built.

pub mod auth;
pub mod cart;
pub mod commands;
pub mod inventory;
pub mod openapi;
pub mod operation;
pub mod orders;
pub mod products;
pub mod signature;
pub mod table;

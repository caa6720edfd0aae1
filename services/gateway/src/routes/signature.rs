//! What a handler's signature tells the document: the body it parses, whether it reads a
//! token, and what it answers on success. The route table takes these from the handler
//! itself, so a route's request and answer types are written once, where the code uses
//! them, and the document cannot name other ones.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::Sse;
use axum::response::Response;
use axum::Json;
use schemars::{JsonSchema, Schema, SchemaGenerator};

use crate::dispatch::{Accepted, Correlation};
use crate::error::ApiError;
use crate::extract::{Body, Id};
use crate::tokens::{MaybeUser, User};
use crate::AppState;

/// Puts a type's schema into the components and answers a reference to it.
pub type SchemaOf = fn(&mut SchemaGenerator) -> Schema;

/// The [`SchemaOf`] `T`.
pub fn schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// Who may call an operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a token.
    #[default]
    Anyone,
    /// Anyone; with a token, what the user may see.
    TokenOptional,
    /// Only with a bearer token.
    TokenRequired,
}

/// A handler's success: its status and the type of its JSON body.
#[derive(Clone, Copy)]
pub struct Success {
    /// 200 for an answer, 202 for an accepted command.
    pub status: u16,
    /// The body's type.
    pub schema: SchemaOf,
}

/// What a handler's signature says.
#[derive(Default)]
pub struct Signature {
    /// From its token extractor, if any.
    pub access: Access,
    /// The JSON body it parses, if any.
    pub body: Option<SchemaOf>,
    /// Its JSON success, unless it answers something else (a stream, a document).
    pub success: Option<Success>,
}

/// An extractor, as the document sees it: most add nothing.
pub trait Input {
    /// Adds what it takes to `signature`.
    fn describe(_signature: &mut Signature) {}
}

impl Input for State<AppState> {}
impl Input for ConnectInfo<SocketAddr> {}
impl Input for Correlation {}
impl Input for HeaderMap {}
impl Input for Query<HashMap<String, String>> {}
/// A path parameter: the document derives those from the path.
impl Input for Id {}

impl Input for User {
    fn describe(signature: &mut Signature) {
        signature.access = Access::TokenRequired;
    }
}

impl Input for MaybeUser {
    fn describe(signature: &mut Signature) {
        signature.access = Access::TokenOptional;
    }
}

impl<T: JsonSchema> Input for Body<T> {
    fn describe(signature: &mut Signature) {
        signature.body = Some(schema_of::<T>);
    }
}

/// A handler's answer, as the document sees it.
pub trait Output {
    /// Its success, if it is JSON of a type.
    fn success() -> Option<Success>;
}

/// A `status` with a JSON `T`.
fn json<T: JsonSchema>(status: u16) -> Option<Success> {
    let schema = schema_of::<T>;
    Some(Success { status, schema })
}

impl<T: JsonSchema> Output for Result<Json<T>, ApiError> {
    fn success() -> Option<Success> {
        json::<T>(200)
    }
}

impl<B: JsonSchema> Output for Result<Accepted<B>, ApiError> {
    fn success() -> Option<Success> {
        json::<B>(202)
    }
}

/// A stream: the table describes its events in words.
impl<S> Output for Result<Sse<S>, ApiError> {
    fn success() -> Option<Success> {
        None
    }
}

/// A response built by hand: the table describes it in words.
impl Output for Response {
    fn success() -> Option<Success> {
        None
    }
}

/// A handler whose signature describes it: implemented for every `async fn` whose
/// extractors are [`Input`]s and whose answer is an [`Output`]. `T` is the same as in
/// axum's `Handler<T, S>`: a marker, then the extractors.
pub trait Described<T> {
    /// What its signature says.
    fn signature() -> Signature;
}

impl<F, Fut, Res> Described<((),)> for F
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Res>,
    Res: Output,
{
    fn signature() -> Signature {
        Signature {
            success: Res::success(),
            ..Signature::default()
        }
    }
}

macro_rules! described {
    ($($input:ident),+) => {
        impl<F, Fut, Res, M, $($input,)+> Described<(M, $($input,)+)> for F
        where
            F: FnOnce($($input,)+) -> Fut,
            Fut: Future<Output = Res>,
            Res: Output,
            $($input: Input,)+
        {
            fn signature() -> Signature {
                let mut signature = Signature {
                    success: Res::success(),
                    ..Signature::default()
                };
                $($input::describe(&mut signature);)+
                signature
            }
        }
    };
}

described!(T1);
described!(T1, T2);
described!(T1, T2, T3);
described!(T1, T2, T3, T4);
described!(T1, T2, T3, T4, T5);
described!(T1, T2, T3, T4, T5, T6);

//! OpenAPI schemas for the types whose JSON form is hand-written (ids as
//! UUID strings, keys as unpadded base64url), behind the `openapi` feature.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaFormat, Type};

/// A UUID string.
pub(crate) fn uuid_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::Custom("uuid".into())))
        .into()
}

/// A 32-byte key as 43 characters of unpadded base64url.
pub(crate) fn key_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$"))
        .min_length(Some(43))
        .max_length(Some(43))
        .into()
}

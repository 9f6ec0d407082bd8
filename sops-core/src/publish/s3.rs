//! S3: `PutObject` of the file as `s3://BUCKET/PREFIXNAME`, with the AWS
//! SDK's standard configuration chain (credentials, region, profile,
//! `AWS_ENDPOINT_URL[_S3]`), as sops' `config.LoadDefaultConfig` does.

use std::path::PathBuf;

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;

use super::{PublishError, Publisher, UPLOAD_TIMEOUT};
use crate::keys::KeyContext;
use crate::keys::aws_kms::base_config;
use crate::keys::cloud::block_on;
use crate::tree::Branch;

/// An S3 bucket and key prefix.
pub struct S3 {
    bucket: String,
    prefix: String,
    connect_timeout: std::time::Duration,
    shared_files: Option<(PathBuf, PathBuf)>,
}

impl S3 {
    pub fn new(bucket: &str, prefix: &str, ctx: &KeyContext) -> Self {
        Self {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            connect_timeout: ctx.kms_connect_timeout(),
            shared_files: ctx
                .aws_shared_files()
                .map(|(c, k)| (c.to_path_buf(), k.to_path_buf())),
        }
    }

    fn target(&self, name: &str) -> String {
        format!("s3://{}/{}{name}", self.bucket, self.prefix)
    }
}

impl Publisher for S3 {
    fn upload(&self, bytes: &[u8], name: &str) -> Result<(), PublishError> {
        let target = self.target(name);
        let failed = |message: String| PublishError::Upload {
            target: target.clone(),
            message,
        };
        let key = format!("{}{name}", self.prefix);
        let body = ByteStream::from(bytes.to_vec());
        let outcome = block_on(async {
            let base = base_config(
                None,
                "",
                (self.connect_timeout, UPLOAD_TIMEOUT),
                self.shared_files.as_ref(),
            )
            .await;
            aws_sdk_s3::Client::new(&base)
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .body(body)
                .send()
                .await
        })
        .map_err(failed)?;
        outcome.map(|_| ()).map_err(|e| failed(sdk_error(&e)))
    }

    fn upload_decrypted(&self, _docs: &[Branch], _name: &str) -> Result<(), PublishError> {
        Err(PublishError::Unsupported(
            "S3 does not support uploading the unencrypted file contents.",
        ))
    }
}

/// S3's own code and message when it answered, else the SDK's chain
/// (unreachable endpoint, no credentials, no region).
fn sdk_error<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if let SdkError::ServiceError(_) = err
        && let Some(code) = err.code()
    {
        return match err.message() {
            Some(message) => format!("{code}: {message}"),
            None => code.to_owned(),
        };
    }
    crate::keys::cloud::one_line(&DisplayErrorContext(err).to_string())
}

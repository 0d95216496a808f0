//! How an AWS SDK error reads in a finding, a log line or an error message: the service's error
//! code and message (`AccessDenied: User … is not authorized to perform: ec2:DescribeVpcs`), or
//! the transport failure with its causes. A leaf: used by `collect` (failures become data) and by
//! `publish` (failed channels), it depends on nothing in the crate.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// "Code: message" for a service error, else the error and its causes.
pub fn describe<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err {
        SdkError::ServiceError(se) => {
            let e = se.err();
            format!("{}: {}", e.code().unwrap_or("ServiceError"), e.message().unwrap_or(""))
        }
        other => DisplayErrorContext(other).to_string(),
    }
}

/// A failed call as a finding or an error quotes it: the IAM action it needs
/// (`service:Api`, also how the deployment tests find every action the code calls) and the error.
pub struct CallFailure {
    pub permission: String,
    pub error: String,
}

pub fn call_failed<E, R>(service: &str, api: &str, err: &SdkError<E, R>) -> CallFailure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    CallFailure {
        permission: format!("{service}:{api}"),
        error: describe(err),
    }
}

/// The call was refused for lack of permission (IAM or an SCP).
pub fn is_denied<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    matches!(err, SdkError::ServiceError(se) if matches!(se.err().code(), Some("AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation")))
}

//! SNS: one Publish of the message `render::sns` builds.

use aws_sdk_sns::types::MessageAttributeValue;

use crate::error::PublishError;
use crate::render::sns::SnsMessage;

pub async fn publish(client: &aws_sdk_sns::Client, topic: &str, m: &SnsMessage) -> Result<String, PublishError> {
    let mut call = client
        .publish()
        .topic_arn(topic)
        .message_structure("json")
        .message(&m.message)
        .subject(&m.subject);
    for (k, v) in &m.attributes {
        let value = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(v)
            .build()
            .map_err(|e| PublishError::Sns {
                topic: topic.into(),
                message: e.to_string(),
            })?;
        call = call.message_attributes(k, value);
    }
    let out = call.send().await.map_err(|e| PublishError::Sns {
        topic: topic.into(),
        message: crate::aws_error::call_failed("sns", "Publish", &e).error,
    })?;
    Ok(out.message_id().unwrap_or_default().to_string())
}

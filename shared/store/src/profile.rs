//! The business's settings stored as JSON on its profile item (`caps`, `sms_policy`): the
//! profile read consistently, and one setting changed by an optimistic read-modify-write.

use serde::Serialize;

use crate::attrs::{self, Item, s};
use crate::cancelled::conditional;
use crate::{BusinessId, Store, StoreError, keys};

/// One JSON setting of the profile: its attribute, how it is read from the profile item, and
/// which value is stored as no attribute at all.
pub(crate) struct ProfileSetting<T> {
    pub attribute: &'static str,
    pub read: fn(&Item) -> Result<T, StoreError>,
    pub absent: fn(&T) -> bool,
}

impl Store {
    /// A business's profile item, read consistently; `None` when the business does not exist.
    pub(crate) async fn profile(&self, business: &BusinessId) -> Result<Option<Item>, StoreError> {
        self.get_consistent(keys::business(business), keys::PROFILE.into(), None)
            .await
    }

    /// Changes `setting` with `change`, on the setting as stored: the write is conditioned on
    /// the attribute being as it was read, so a concurrent change is read again and `change`
    /// applied to it. The new setting, `None` when the business does not exist, or `change`'s
    /// error (nothing written).
    pub(crate) async fn change_profile_setting<T: Serialize, E>(
        &self,
        business: &BusinessId,
        setting: &ProfileSetting<T>,
        change: impl Fn(&mut T) -> Result<(), E>,
    ) -> Result<Option<Result<T, E>>, StoreError> {
        let attribute = setting.attribute;
        loop {
            let Some(item) = self.profile(business).await? else {
                return Ok(None);
            };
            let stored = attrs::opt_s(&item, attribute)?.map(str::to_owned);
            let mut value = (setting.read)(&item)?;
            if let Err(e) = change(&mut value) {
                return Ok(Some(Err(e)));
            }
            let mut request = self.update_business_item(business, keys::PROFILE);
            request = if (setting.absent)(&value) {
                request.update_expression(format!("REMOVE {attribute}"))
            } else {
                let json = serde_json::to_string(&value)
                    .map_err(|e| StoreError::malformed(attribute, e.to_string()))?;
                request
                    .update_expression(format!("SET {attribute} = :new"))
                    .expression_attribute_values(":new", s(json))
            };
            request = match stored {
                Some(old) => request
                    .condition_expression(format!("attribute_exists(pk) AND {attribute} = :old"))
                    .expression_attribute_values(":old", s(old)),
                None => request.condition_expression(format!(
                    "attribute_exists(pk) AND attribute_not_exists({attribute})"
                )),
            };
            if conditional(request.send().await)?.is_some() {
                return Ok(Some(Ok(value)));
            }
            // Changed (or removed) since it was read: read again.
        }
    }
}

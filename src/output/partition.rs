//! Partition keys: which directory a call goes to under `--partition-by`.

use crate::calls::{CallMeta, CallType};
use crate::config::PartitionBy;

/// A call's partition: one value per `--partition-by` level (at most 4 levels).
pub type PartKey = [u64; 4];

#[derive(Debug, Clone)]
pub struct Partitioner {
    levels: Vec<PartitionBy>,
}

impl Partitioner {
    pub fn new(levels: Vec<PartitionBy>) -> Self {
        Partitioner { levels }
    }

    pub fn is_single(&self) -> bool {
        self.levels.is_empty()
    }

    pub fn key(&self, call: &CallMeta) -> PartKey {
        let mut key = [0u64; 4];
        for (slot, level) in key.iter_mut().zip(&self.levels) {
            *slot = match level {
                PartitionBy::Type => call.kind.index() as u64,
                PartitionBy::Date => (call.timestamp / 86_400_000) as u64,
                PartitionBy::Hour => (call.timestamp / 3_600_000) as u64,
                PartitionBy::Bucket(n) => call.bucket % u64::from(*n),
            };
        }
        key
    }

    /// The directory of a partition, relative to `--out` (empty for `none`), e.g.
    /// `date=2023-08-24/type=track`.
    pub fn dir(&self, key: &PartKey) -> String {
        let mut parts = Vec::with_capacity(self.levels.len());
        for (value, level) in key.iter().zip(&self.levels) {
            parts.push(match level {
                PartitionBy::Type => format!("type={}", CallType::ALL[*value as usize].as_str()),
                PartitionBy::Date => {
                    let t = crate::time::format(*value as i64 * 86_400_000);
                    format!("date={}", std::str::from_utf8(&t[..10]).unwrap_or_default())
                }
                PartitionBy::Hour => {
                    let t = crate::time::format(*value as i64 * 3_600_000);
                    format!("hour={}", std::str::from_utf8(&t[..13]).unwrap_or_default())
                }
                PartitionBy::Bucket(n) => {
                    let width = (n - 1).to_string().len().max(3);
                    format!("bucket={value:0width$}")
                }
            });
        }
        parts.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names() {
        let p = Partitioner::new(vec![
            PartitionBy::Date,
            PartitionBy::Hour,
            PartitionBy::Type,
            PartitionBy::Bucket(1000),
        ]);
        let call = CallMeta {
            kind: CallType::Track,
            timestamp: 1_692_886_522_000,
            end: 0,
            bucket: 12_345,
            stamped_now: false,
        };
        assert_eq!(
            p.dir(&p.key(&call)),
            "date=2023-08-24/hour=2023-08-24T14/type=track/bucket=345"
        );
        let wide = Partitioner::new(vec![PartitionBy::Bucket(10_001)]);
        assert_eq!(wide.dir(&wide.key(&call)), "bucket=02344");
        assert_eq!(Partitioner::new(vec![]).dir(&[0; 4]), "");
    }
}

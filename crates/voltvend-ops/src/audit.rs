//! The audit trail: one record per operation, written in the operation's own transaction, each carrying the
//! SHA-256 of the record before it. Editing, deleting or reordering records breaks the chain, and the chain's
//! head (the last sequence number and hash) is kept apart so that cutting records off the end shows too.
//!
//! What the chain proves is limited by who holds the head: someone who can rewrite the whole table *and* the
//! head can forge a consistent chain. Recording the head elsewhere (the server logs it at start and stop;
//! `voltvend audit verify --expect-head` checks against a copy) closes that gap up to the copy's age.

use jiff::Timestamp;
use sha2::{Digest, Sha256};
use voltvend_domain::{OperationId, OperatorId};

use crate::records::AuditRecord;
use crate::workspace::AuditHead;

/// The fields of an audit record that a command decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub action: String,
    pub subject: String,
    pub before: String,
    pub after: String,
}

impl AuditEntry {
    pub fn new(action: &str, subject: impl ToString, before: impl ToString, after: impl ToString) -> Self {
        Self {
            action: action.to_string(),
            subject: subject.to_string(),
            before: before.to_string(),
            after: after.to_string(),
        }
    }
}

/// The hash of a record: SHA-256 over the previous hash and every field, each length-prefixed.
pub fn hash_record(
    prev_hash: &[u8; 32],
    seq: i64,
    at: Timestamp,
    operation_id: OperationId,
    operator_id: Option<OperatorId>,
    source: &str,
    entry: &AuditEntry,
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"voltvend-audit-v1");
    h.update(prev_hash);
    h.update(seq.to_be_bytes());
    h.update(at.as_microsecond().to_be_bytes());
    h.update(operation_id.as_uuid().as_bytes());
    match operator_id {
        Some(o) => {
            h.update([1]);
            h.update(o.as_uuid().as_bytes());
        }
        None => h.update([0]),
    }
    for field in [source, entry.action.as_str(), entry.subject.as_str(), entry.before.as_str(), entry.after.as_str()] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    h.finalize().into()
}

/// The record that follows `head`.
pub fn next_record(
    head: AuditHead,
    at: Timestamp,
    operation_id: OperationId,
    operator_id: Option<OperatorId>,
    source: &str,
    entry: AuditEntry,
) -> AuditRecord {
    let seq = head.seq + 1;
    let hash = hash_record(&head.hash, seq, at, operation_id, operator_id, source, &entry);
    AuditRecord {
        seq,
        at,
        operation_id,
        operator_id,
        source: source.to_string(),
        action: entry.action,
        subject: entry.subject,
        before: entry.before,
        after: entry.after,
        prev_hash: head.hash,
        hash,
    }
}

/// Checks records given in storage order (by sequence number) continuing from `from` (the head before the
/// first of them: zero for the whole trail). Returns one line per problem and the head reached.
pub fn verify<'a>(from: AuditHead, records: impl IntoIterator<Item = &'a AuditRecord>) -> (Vec<String>, AuditHead) {
    let mut problems = Vec::new();
    let mut head = from;
    for r in records {
        if r.seq != head.seq + 1 {
            problems.push(format!("audit record {} follows {}: records are missing or reordered", r.seq, head.seq));
        }
        if r.prev_hash != head.hash {
            problems.push(format!("audit record {} does not continue the chain (previous hash differs)", r.seq));
        }
        let entry = AuditEntry {
            action: r.action.clone(),
            subject: r.subject.clone(),
            before: r.before.clone(),
            after: r.after.clone(),
        };
        let expect = hash_record(&r.prev_hash, r.seq, r.at, r.operation_id, r.operator_id, &r.source, &entry);
        if expect != r.hash {
            problems.push(format!("audit record {} was altered (its hash does not match its contents)", r.seq));
        }
        head = AuditHead { seq: r.seq, hash: r.hash };
    }
    (problems, head)
}

/// Hex of a hash, for logs and the CLI.
pub fn hex(hash: &[u8; 32]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses [`hex`] back.
pub fn parse_hex(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0_u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn chain(n: usize) -> Vec<AuditRecord> {
        let mut head = AuditHead::default();
        let mut out = Vec::new();
        for i in 0..n {
            let at = Timestamp::from_second(1_800_000_000 + i as i64).unwrap();
            let r = next_record(
                head,
                at,
                OperationId::from_uuid(Uuid::from_u128(i as u128)),
                None,
                "test",
                AuditEntry::new("sale", format!("account:{i}"), "balance=0", format!("balance={i}")),
            );
            head = AuditHead { seq: r.seq, hash: r.hash };
            out.push(r);
        }
        out
    }

    #[test]
    fn edits_deletions_and_reorderings_break_the_chain() {
        let records = chain(5);
        let (problems, head) = verify(AuditHead::default(), &records);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(head.seq, 5);

        let mut edited = records.clone();
        edited[2].after = "balance=999".into();
        assert!(verify(AuditHead::default(), &edited).0.iter().any(|p| p.contains("3 was altered")));

        let mut deleted = records.clone();
        deleted.remove(1);
        assert!(!verify(AuditHead::default(), &deleted).0.is_empty());

        let mut reordered = records.clone();
        reordered.swap(1, 3);
        assert!(!verify(AuditHead::default(), &reordered).0.is_empty());

        // Swapping the contents but keeping the sequence numbers in place is caught by the hashes.
        let mut swapped = records.clone();
        let (a, b) = (swapped[1].after.clone(), swapped[3].after.clone());
        swapped[1].after = b;
        swapped[3].after = a;
        assert!(!verify(AuditHead::default(), &swapped).0.is_empty());

        assert_eq!(parse_hex(&hex(&head.hash)), Some(head.hash));
        assert_eq!(parse_hex("zz"), None);
    }
}

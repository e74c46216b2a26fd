-- The back office: a record's history is the audit trail of its subject (customer:…, account:…, meter:…).
CREATE INDEX audit_subject ON audit_log(subject, seq);

-- 集团财务, due to / due from (issue 18, part 5; docs/adr/0007-inter-property-accounts.md): every set of books gains
-- an inter-property ledger account. A transfer that reaches more than one property's ledger accounts (a sale at the
-- group's counter to a property's tenant) posts each property's net to its inter-property account, so that every
-- property's books balance on their own. The account's id is its books' id: books opened before this migration get
-- theirs here without computing an id, and the application finds it from the books alone.
INSERT INTO ledger_accounts (id, kind, owner, premises_id, currency, overdraft_limit_minor, created_at_us)
SELECT b.id, 'inter_property', '', b.premises_id, b.currency, NULL, b.created_at_us
FROM books b
WHERE NOT EXISTS (SELECT 1 FROM ledger_accounts la WHERE la.id = b.id);

-- The reconciliation by property finds each vend transfer's sale by its transfer.
CREATE INDEX sales_transfer ON sales(transfer_id);

-- Opt-out and unreachable marks on the chat as well as the customer, so a
-- chat that said stop stays stopped when a later event links it to another
-- customer reference. Existing marks are copied from the chat's customer.
ALTER TABLE channel_identities ADD COLUMN opted_out_at datetime;
ALTER TABLE channel_identities ADD COLUMN unreachable_at datetime;
UPDATE channel_identities SET
    opted_out_at = (SELECT opted_out_at FROM customers WHERE customers.id = channel_identities.customer_id),
    unreachable_at = (SELECT unreachable_at FROM customers WHERE customers.id = channel_identities.customer_id);

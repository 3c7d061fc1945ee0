-- An agents' notice reads the customer's earlier scores (their responses)
-- and their other live cases on every detractor's comment: by customer,
-- not a scan of every response and handoff.
CREATE INDEX responses_customer_idx ON responses (customer_id);
CREATE INDEX handoffs_customer_idx ON handoffs (customer_id, status);

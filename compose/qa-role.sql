-- The QA database's writer: the JDBC sink connects as qa_sink. Run once per QA server by compose/qa-init.sh,
-- before compose/qa-init.sql builds each QA database. The password comes from the kit's generated secrets
-- (compose/make-secrets.sh) through the environment, never from this file.
\getenv qa_sink_password QA_SINK_PASSWORD

CREATE ROLE qa_sink WITH LOGIN PASSWORD :'qa_sink_password';

-- Referential integrity with a sink. The sink writes each topic's rows in its own batches and transactions,
-- in no order across topics: an order can arrive before its customer, a customer's delete before its
-- addresses'. Foreign keys checked row by row would fail such writes, and DEFERRABLE constraints only help
-- within one transaction. So the sink's sessions run as replication sessions, as PostgreSQL's own logical
-- replication workers do: session_replication_role = replica skips the foreign key triggers for the rows
-- it applies. The constraints stay declared and are enforced for every other session (QA applications,
-- testers), and the replicated data satisfies them once the sink has caught up, because the policy gives
-- customers.id and every customer_id the same tokenize domain (the kit's end-to-end test checks for orphans).
-- Set on the role by a superuser, it applies at each login without granting qa_sink anything more.
ALTER ROLE qa_sink SET session_replication_role = replica;

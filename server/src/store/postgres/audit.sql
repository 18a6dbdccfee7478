-- Version 5 (issue #18): the audit trail of admin actions (the console's API and the
-- command line), newest kept (the writer deletes what falls beyond its bound).
CREATE TABLE tollgate_audit (
    id bigserial PRIMARY KEY,
    at_ms bigint NOT NULL,
    actor text NOT NULL,
    via text NOT NULL,
    action text NOT NULL,
    target text NOT NULL,
    outcome text NOT NULL
);
